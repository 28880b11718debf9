// Embedding lookup and its scatter-add backward.
#pragma once

#include "core/tensor.h"

namespace lat::kernels {

// Throws lat::Error naming the first id outside [0, vocab) and its position.
void check_ids(const char* op, const Tensor& ids, int64_t vocab);

// weight: [V, D], ids: i32 [...] (contiguous) -> out: [..., D] (out[n] = weight[ids[n]]). Checks the ids.
void embedding_forward(const Tensor& weight, const Tensor& ids, Tensor& out);
// dout: [..., D], ids: i32 [...] -> dweight: [V, D] += Σ_{n: ids[n] = v} dout[n]  (ids already checked).
void embedding_backward(const Tensor& dout, const Tensor& ids, Tensor& dweight);

}  // namespace lat::kernels
