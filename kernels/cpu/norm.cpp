#include "kernels/cpu/norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace lat::kernels::cpu {

// Sums of squares and dot products are accumulated in double (the "accumulation type" of the CPU path).
template <class T>
void rmsnorm_forward(const T* x, const T* gain, T eps, T* out, T* rstd, int64_t rows, int64_t dim) {
#pragma omp parallel for schedule(static) if (rows * dim > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t d = 0; d < dim; ++d) ss += static_cast<double>(xr[d]) * static_cast<double>(xr[d]);
    const double s = 1.0 / std::sqrt(ss / static_cast<double>(dim) + static_cast<double>(eps));
    rstd[r] = static_cast<T>(s);
    T* o = out + r * dim;
    for (int64_t d = 0; d < dim; ++d) o[d] = static_cast<T>(static_cast<double>(xr[d]) * s) * gain[d];
  }
}

template <class T>
void rmsnorm_backward(const T* dout, const T* x, const T* gain, const T* rstd, T* dx, T* dgain, int64_t rows,
                      int64_t dim) {
  const bool parallel = rows * dim > 32768;
  if (dx) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t r = 0; r < rows; ++r) {
      const T* g = dout + r * dim;
      const T* xr = x + r * dim;
      const double s = static_cast<double>(rstd[r]);
      double dot = 0;  // Σ gain ⊙ dout ⊙ x
#pragma omp simd reduction(+ : dot)
      for (int64_t d = 0; d < dim; ++d)
        dot += static_cast<double>(gain[d]) * static_cast<double>(g[d]) * static_cast<double>(xr[d]);
      const double c = s * s * s * dot / static_cast<double>(dim);
      T* o = dx + r * dim;
      for (int64_t d = 0; d < dim; ++d)
        o[d] = static_cast<T>(s * static_cast<double>(gain[d]) * static_cast<double>(g[d]) -
                              c * static_cast<double>(xr[d]));
    }
  }
  if (dgain) {
    // Threads own column ranges and sum rows in order: deterministic for any thread count.
#pragma omp parallel if (parallel)
    {
      const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t chunk = (dim + threads - 1) / threads;
      const int64_t lo = std::min(dim, t * chunk), hi = std::min(dim, lo + chunk);
      std::fill(dgain + lo, dgain + hi, T(0));
      for (int64_t r = 0; r < rows; ++r) {
        const T* g = dout + r * dim;
        const T* xr = x + r * dim;
        const T s = rstd[r];
#pragma omp simd
        for (int64_t d = lo; d < hi; ++d) dgain[d] += g[d] * xr[d] * s;
      }
    }
  }
}

#define LAT_INSTANTIATE(T)                                                           \
  template void rmsnorm_forward<T>(const T*, const T*, T, T*, T*, int64_t, int64_t); \
  template void rmsnorm_backward<T>(const T*, const T*, const T*, const T*, T*, T*, int64_t, int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
