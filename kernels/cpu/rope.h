// Reference CPU loop for kernels/rope.h.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

template <class T>
void rope_forward(const T* x, T* y, int64_t bh, int64_t n, int64_t d, int64_t offset, double base, bool inverse);

}  // namespace lat::kernels::cpu
