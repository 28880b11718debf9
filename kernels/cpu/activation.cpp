#include "kernels/cpu/activation.h"

#include <cmath>

namespace lat::kernels::cpu {
namespace {

constexpr int64_t kParallelMin = 16384;

template <class T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// GELU (tanh form) constants: √(2/π) and the cubic coefficient.
template <class T>
constexpr T kGeluScale = T(0.7978845608028654);
template <class T>
constexpr T kGeluCubic = T(0.044715);

}  // namespace

template <class T>
void gelu_forward(const T* x, T* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    out[i] = T(0.5) * v * (T(1) + std::tanh(kGeluScale<T> * (v + kGeluCubic<T> * v * v * v)));
  }
}

template <class T>
void gelu_backward(const T* dout, const T* x, T* dx, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    const T t = std::tanh(kGeluScale<T> * (v + kGeluCubic<T> * v * v * v));
    const T du = kGeluScale<T> * (T(1) + T(3) * kGeluCubic<T> * v * v);
    dx[i] = dout[i] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du);
  }
}

template <class T>
void swiglu_forward(const T* gate, const T* up, T* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

template <class T>
void swiglu_backward(const T* dout, const T* gate, const T* up, T* dgate, T* dup, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T g = gate[i], s = sigmoid(g);
    if (dgate) dgate[i] = dout[i] * up[i] * s * (T(1) + g * (T(1) - s));
    if (dup) dup[i] = dout[i] * g * s;
  }
}

#define LAT_INSTANTIATE(T)                                          \
  template void gelu_forward<T>(const T*, T*, int64_t);             \
  template void gelu_backward<T>(const T*, const T*, T*, int64_t);  \
  template void swiglu_forward<T>(const T*, const T*, T*, int64_t); \
  template void swiglu_backward<T>(const T*, const T*, const T*, T*, T*, int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
