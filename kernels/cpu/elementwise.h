// Reference CPU loops for kernels/elementwise.h.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

template <class T> void add(const T* a, const T* b, T* out, int64_t n);
template <class T> void axpy(T alpha, const T* x, T* y, int64_t n);
template <class T> void mul(const T* a, const T* b, T* out, int64_t n);
template <class T> void scale(T* y, T alpha, int64_t n);

}  // namespace lat::kernels::cpu
