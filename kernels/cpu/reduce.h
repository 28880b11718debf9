// Reference CPU loops for kernels/reduce.h.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

template <class T> T sum(const T* x, int64_t n);
template <class T> void fill(T* out, T value, int64_t n);

}  // namespace lat::kernels::cpu
