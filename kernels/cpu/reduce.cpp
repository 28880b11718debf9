#include "kernels/cpu/reduce.h"

namespace lat::kernels::cpu {

template <class T>
T sum(const T* x, int64_t n) {
  return static_cast<T>(ordered_sum(n, [x](int64_t i) { return static_cast<double>(x[i]); }));
}

template <class T>
void fill(T* out, T value, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = value;
}

template float sum<float>(const float*, int64_t);
template double sum<double>(const double*, int64_t);
template void fill<float>(float*, float, int64_t);
template void fill<double>(double*, double, int64_t);

}  // namespace lat::kernels::cpu
