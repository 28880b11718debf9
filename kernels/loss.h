// Fused softmax cross-entropy: one pass over the logits computes the mean loss and its gradient.
#pragma once

#include "core/tensor.h"

namespace lat::kernels {

// logits: [N, V], targets: i32 [N] -> loss: 0-d of accumulation_dtype(logits) (fp32 for bf16 logits), dlogits: [N, V]
//   loss    = (1/C) Σ_{n counted} (logsumexp(logits[n]) − logits[n, targets[n]])
//   dlogits = (softmax(logits[n]) − onehot(targets[n])) / C for counted rows, 0 for ignored rows,
// where a row is counted unless targets[n] == ignore_index and C is the number of counted rows. With C == 0
// (every target ignored) the loss is 0 and dlogits is 0: an empty batch contributes nothing, not NaN.
// A target outside [0, V) that is not ignore_index throws lat::Error naming the target and its row when the
// targets are on the CPU; CUDA targets are not read back (that would synchronise every step): such a row gives a
// NaN loss instead.
void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& targets, int ignore_index,
                                   Tensor& loss, Tensor& dlogits);
// out = dlogits · dloss, dloss a one-element tensor of the loss's dtype (the incoming gradient); out may be dlogits.
void softmax_cross_entropy_backward(const Tensor& dlogits, const Tensor& dloss, Tensor& out);

}  // namespace lat::kernels
