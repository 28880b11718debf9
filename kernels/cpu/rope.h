// Reference CPU loop for kernels/rope.h.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

// starts: i32 [B, N] document starts (kernels/documents.h) or nullptr; heads = H (bh = B·H).
template <class T>
void rope_forward(const T* x, T* y, int64_t bh, int64_t n, int64_t d, int64_t offset, double base, bool inverse,
                  const int32_t* starts = nullptr, int64_t heads = 1);

}  // namespace lat::kernels::cpu
