#include "kernels/cpu/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lat::kernels::cpu {

template <class T>
double softmax_cross_entropy_forward(const T* logits, const int32_t* targets, int32_t ignore_index,
                                     T* dlogits, int64_t rows, int64_t vocab) {
  int64_t counted = 0;
  for (int64_t n = 0; n < rows; ++n) counted += targets[n] != ignore_index;
  const double inv_count = counted > 0 ? 1.0 / static_cast<double>(counted) : 0.0;
  // Per-row losses, summed in row order afterwards: the result does not depend on the thread count.
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
#pragma omp parallel for schedule(static) if (rows * vocab > 16384)
  for (int64_t n = 0; n < rows; ++n) {
    const T* x = logits + n * vocab;
    T* d = dlogits + n * vocab;
    const int32_t t = targets[n];
    if (t == ignore_index) {
      std::fill(d, d + vocab, T(0));
      continue;
    }
    // Stable log-sum-exp: subtract the row max before exponentiating; accumulate in double.
    double mx = -INFINITY;
    for (int64_t v = 0; v < vocab; ++v) mx = std::max(mx, static_cast<double>(x[v]));
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(x[v]) - mx);
    const double lse = mx + std::log(sum);
    row_loss[static_cast<size_t>(n)] = lse - static_cast<double>(x[t]);
    for (int64_t v = 0; v < vocab; ++v)
      d[v] = static_cast<T>(std::exp(static_cast<double>(x[v]) - lse) * inv_count);
    d[t] = static_cast<T>((std::exp(static_cast<double>(x[t]) - lse) - 1.0) * inv_count);
  }
  double total = 0;
  for (double l : row_loss) total += l;
  return total * inv_count;
}

template <class T>
void scale_copy(const T* dlogits, T scale, T* out, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) out[i] = dlogits[i] * scale;
}

int64_t first_invalid_target(const int32_t* targets, int64_t rows, int64_t vocab, int32_t ignore_index) {
  for (int64_t n = 0; n < rows; ++n)
    if (targets[n] != ignore_index && (targets[n] < 0 || targets[n] >= vocab)) return n;
  return -1;
}

#define LAT_INSTANTIATE(T)                                                                                   \
  template double softmax_cross_entropy_forward<T>(const T*, const int32_t*, int32_t, T*, int64_t, int64_t); \
  template void scale_copy<T>(const T*, T, T*, int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
