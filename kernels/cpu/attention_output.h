// Reference CPU loops for kernels/attention_output.h.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

template <class T> void head_rmsnorm_forward(const T* x, T eps, T* y, T* inv_rms, int64_t rows, int64_t e);
template <class T>
void head_rmsnorm_backward(const T* y, const T* inv_rms, const T* gy, T* gx, int64_t rows, int64_t e);
template <class T> void sigmoid_gate_forward(const T* x, const T* gate, T* y, int64_t n);
template <class T> void sigmoid_gate_backward(const T* x, const T* gate, const T* gy, T* gx, T* ggate, int64_t n);

}  // namespace lat::kernels::cpu
