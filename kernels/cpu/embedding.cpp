#include "kernels/cpu/embedding.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

namespace lat::kernels::cpu {

template <class T>
void embedding_forward(const T* weight, const int32_t* ids, T* out, int64_t n_ids, int64_t dim) {
#pragma omp parallel for schedule(static) if (n_ids * dim > 32768)
  for (int64_t n = 0; n < n_ids; ++n)
    std::memcpy(out + n * dim, weight + static_cast<int64_t>(ids[n]) * dim,
                sizeof(T) * static_cast<size_t>(dim));
}

template <class T>
void embedding_backward(const T* dout, const int32_t* ids, T* dweight, int64_t n_ids, int64_t dim) {
  // Rows with repeated ids collide, so threads split the columns instead of the rows: every element of
  // dweight is summed by one thread in id order, independent of the thread count.
#pragma omp parallel if (n_ids * dim > 32768)
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = (dim + threads - 1) / threads;
    const int64_t lo = std::min(dim, t * chunk), hi = std::min(dim, lo + chunk);
    for (int64_t n = 0; n < n_ids; ++n) {
      const T* src = dout + n * dim;
      T* dst = dweight + static_cast<int64_t>(ids[n]) * dim;
#pragma omp simd
      for (int64_t d = lo; d < hi; ++d) dst[d] += src[d];
    }
  }
}

int64_t first_invalid_id(const int32_t* ids, int64_t n_ids, int64_t vocab) {
  for (int64_t n = 0; n < n_ids; ++n)
    if (ids[n] < 0 || ids[n] >= vocab) return n;
  return -1;
}

#define LAT_INSTANTIATE(T)                                                            \
  template void embedding_forward<T>(const T*, const int32_t*, T*, int64_t, int64_t); \
  template void embedding_backward<T>(const T*, const int32_t*, T*, int64_t, int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
