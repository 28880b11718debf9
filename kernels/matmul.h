// Batched matrix products on contiguous tensors of one dtype and device.
#pragma once

#include "core/tensor.h"

namespace lat::kernels {

// out = op(a) · op(b)        (out += op(a) · op(b) when accumulate)
//   a:   [..., M, K], or [..., K, M] with transpose_a
//   b:   [..., K, N], or [..., N, K] with transpose_b
//   out: [..., M, N]
// Each of a, b and out either carries the batch dims [...] (identical wherever present) or is 2-D: a 2-D a or
// b is shared by every batch entry; a 2-D out receives the sum over the batch (what a weight gradient needs).
// All three must be contiguous.
void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool transpose_a, bool transpose_b,
            bool accumulate = false);

}  // namespace lat::kernels
