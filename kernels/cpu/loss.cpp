#include "kernels/cpu/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lat::kernels::cpu {

template <class T>
double softmax_cross_entropy_forward(const T* logits, const int32_t* targets, int32_t ignore_index, T* lse,
                                     T* inv_count, int64_t rows, int64_t vocab) {
  int64_t counted = 0;
  for (int64_t n = 0; n < rows; ++n) counted += targets[n] != ignore_index;
  const double inv = counted > 0 ? 1.0 / static_cast<double>(counted) : 0.0;
  *inv_count = static_cast<T>(inv);
  // Per-row losses, summed in row order afterwards: the result does not depend on the thread count.
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
#pragma omp parallel for schedule(static) if (rows * vocab > 16384)
  for (int64_t n = 0; n < rows; ++n) {
    const T* x = logits + n * vocab;
    const int32_t t = targets[n];
    // Stable log-sum-exp: subtract the row max before exponentiating; accumulate in double.
    double mx = -INFINITY;
    for (int64_t v = 0; v < vocab; ++v) mx = std::max(mx, static_cast<double>(x[v]));
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(x[v]) - mx);
    const double l = mx + std::log(sum);
    lse[n] = static_cast<T>(l);
    // An out-of-vocabulary target (only reached when the caller counts them: kernels/loss.h) gives NaN, as on CUDA.
    if (t != ignore_index)
      row_loss[static_cast<size_t>(n)] = t < 0 || t >= vocab ? std::nan("") : l - static_cast<double>(x[t]);
  }
  double total = 0;
  for (double l : row_loss) total += l;
  return total * inv;
}

template <class T>
void softmax_cross_entropy_backward(const T* logits, const int32_t* targets, int32_t ignore_index, const T* lse,
                                    double g, T* dlogits, int64_t rows, int64_t vocab) {
#pragma omp parallel for schedule(static) if (rows * vocab > 16384)
  for (int64_t n = 0; n < rows; ++n) {
    const T* x = logits + n * vocab;
    T* d = dlogits + n * vocab;
    const int32_t t = targets[n];
    if (t == ignore_index) {
      std::fill(d, d + vocab, T(0));
      continue;
    }
    if (t < 0 || t >= vocab) {  // out of the vocabulary: a NaN row, which the step guard sees in the norm
      std::fill(d, d + vocab, static_cast<T>(std::nan("")));
      continue;
    }
    const double l = static_cast<double>(lse[n]);
    for (int64_t v = 0; v < vocab; ++v)
      d[v] = static_cast<T>((std::exp(static_cast<double>(x[v]) - l) - (v == t ? 1.0 : 0.0)) * g);
  }
}

int64_t first_invalid_target(const int32_t* targets, int64_t rows, int64_t vocab, int32_t ignore_index) {
  for (int64_t n = 0; n < rows; ++n)
    if (targets[n] != ignore_index && (targets[n] < 0 || targets[n] >= vocab)) return n;
  return -1;
}

#define LAT_INSTANTIATE(T)                                                                                          \
  template double softmax_cross_entropy_forward<T>(const T*, const int32_t*, int32_t, T*, T*, int64_t, int64_t); \
  template void softmax_cross_entropy_backward<T>(const T*, const int32_t*, int32_t, const T*, double, T*, int64_t, \
                                                  int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
