#include "kernels/cpu/attention_output.h"

#include <cmath>

namespace lat::kernels::cpu {

template <class T>
void head_rmsnorm_forward(const T* x, T eps, T* y, T* inv_rms, int64_t rows, int64_t e) {
#pragma omp parallel for schedule(static) if (rows * e > 32768)
  for (int64_t i = 0; i < rows; ++i) {
    const T* xr = x + i * e;
    T ss = 0;
    for (int64_t c = 0; c < e; ++c) ss += xr[c] * xr[c];
    const T r = T(1) / std::sqrt(ss / static_cast<T>(e) + eps);
    inv_rms[i] = r;
    for (int64_t c = 0; c < e; ++c) y[i * e + c] = xr[c] * r;
  }
}

template <class T>
void head_rmsnorm_backward(const T* y, const T* inv_rms, const T* gy, T* gx, int64_t rows, int64_t e) {
#pragma omp parallel for schedule(static) if (rows * e > 32768)
  for (int64_t i = 0; i < rows; ++i) {
    const T* yr = y + i * e;
    const T* gr = gy + i * e;
    T dot = 0;
    for (int64_t c = 0; c < e; ++c) dot += gr[c] * yr[c];
    dot /= static_cast<T>(e);
    for (int64_t c = 0; c < e; ++c) gx[i * e + c] = inv_rms[i] * (gr[c] - yr[c] * dot);
  }
}

template <class T>
void sigmoid_gate_forward(const T* x, const T* gate, T* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (T(1) + std::exp(-gate[i]));
}

template <class T>
void sigmoid_gate_backward(const T* x, const T* gate, const T* gy, T* gx, T* ggate, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const T s = T(1) / (T(1) + std::exp(-gate[i]));
    if (gx) gx[i] = gy[i] * s;
    if (ggate) ggate[i] = gy[i] * x[i] * s * (T(1) - s);
  }
}

#define LAT_INSTANTIATE(T)                                                              \
  template void head_rmsnorm_forward<T>(const T*, T, T*, T*, int64_t, int64_t);          \
  template void head_rmsnorm_backward<T>(const T*, const T*, const T*, T*, int64_t, int64_t); \
  template void sigmoid_gate_forward<T>(const T*, const T*, T*, int64_t);                \
  template void sigmoid_gate_backward<T>(const T*, const T*, const T*, T*, T*, int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
