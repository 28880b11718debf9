// Rotary position embedding (SPEC §3) on x: [B, H, N, d], d even, contiguous. Pair (x[2c], x[2c+1]) of the
// row at position p = offset + i is rotated by p·θ_c, θ_c = base^(−2c/d) (interleaved pairs, as in RoFormer).
// Angles are formed in double, so long positions keep full accuracy.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace lat::kernels {

// y = R(p) x; with inverse = true y = R(p)ᵀ x = R(−p) x (the backward: rotation is orthogonal).
// document_starts (optional, i32 [B, N], kernels/documents.h; on CUDA compiled, not yet run on a GPU): positions
// restart at each document, p = offset + i − document_starts[b, i].
void rope_forward(const Tensor& x, int64_t offset, double base, bool inverse, Tensor& y,
                  const Tensor& document_starts = Tensor());

}  // namespace lat::kernels
