#include "kernels/cpu/optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/reduce.h"

namespace lat::kernels::cpu {

template <class T>
void adamw_step(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep& step) {
  const T beta1 = static_cast<T>(step.beta1), beta2 = static_cast<T>(step.beta2);
  const T one_minus_beta1 = static_cast<T>(1.0 - step.beta1), one_minus_beta2 = static_cast<T>(1.0 - step.beta2);
  const T decay = static_cast<T>(1.0 - step.lr * step.weight_decay);
  const T step_size = static_cast<T>(step.lr / step.bias_correction1);
  const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(step.bias_correction2));
  const T eps = static_cast<T>(step.eps);
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i];
    const T mi = beta1 * m[i] + one_minus_beta1 * gi;
    const T vi = beta2 * v[i] + one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

template <class T>
double sum_of_squares(const T* x, int64_t n) {
  return ordered_sum(n, [x](int64_t i) { return static_cast<double>(x[i]) * static_cast<double>(x[i]); });
}

#define LAT_INSTANTIATE(T)                                                              \
  template void adamw_step<T>(T*, const T*, T*, T*, int64_t, const AdamWStep&);        \
  template double sum_of_squares<T>(const T*, int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
