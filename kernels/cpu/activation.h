// Reference CPU loops for kernels/activation.h. All arrays hold n elements.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

template <class T>
void gelu_forward(const T* x, T* out, int64_t n);
template <class T>
void gelu_backward(const T* dout, const T* x, T* dx, int64_t n);
template <class T>
void swiglu_forward(const T* gate, const T* up, T* out, int64_t n);
// dgate or dup may be null.
template <class T>
void swiglu_backward(const T* dout, const T* gate, const T* up, T* dgate, T* dup, int64_t n);

}  // namespace lat::kernels::cpu
