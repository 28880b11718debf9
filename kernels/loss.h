// Fused softmax cross-entropy over large vocabularies: the forward reads the logits once (loss and per-row
// logsumexp), the backward reads them once more and writes the gradient. Probabilities are never stored.
#pragma once

#include "core/tensor.h"

namespace lat::kernels {

// logits: [N, V], targets: i32 [N] -> loss: 0-d, stats: [N + 1], both of accumulation_dtype(logits) (fp32 for
// bf16 logits):
//   loss        = (1/C) Σ_{n counted} (logsumexp(logits[n]) − logits[n, targets[n]])
//   stats[n]    = logsumexp(logits[n]) (every row),   stats[N] = 1/C (0 when C = 0)
// where a row is counted unless targets[n] == ignore_index and C is the number of counted rows. With C == 0
// (every target ignored) the loss is 0 and so is the gradient: an empty batch contributes nothing, not NaN.
// A target outside [0, V) that is not ignore_index: with `invalid_targets` (a one-element counter like `loss`, on
// the logits' device) the number of such rows is added to it on the device and each gives a NaN row loss (so a
// NaN loss) and a NaN gradient row, on every device: the trainer's step guard skips that step and reports it.
// Without a counter the CPU throws lat::Error naming the target and its row; CUDA targets are not read back
// (that would synchronise every step): the row gives NaN as above.
void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& targets, int ignore_index, Tensor& loss,
                                   Tensor& stats, Tensor* invalid_targets = nullptr);
// dlogits = dloss[0] · (softmax(logits[n]) − onehot(targets[n])) / C for counted rows, 0 for ignored rows, NaN for
// out-of-vocabulary ones, from the
// forward's stats; dloss: one element of the loss's dtype on the logits' device (read there). dlogits: like logits,
// and may be logits itself.
void softmax_cross_entropy_backward(const Tensor& logits, const Tensor& targets, int ignore_index, const Tensor& stats,
                                    const Tensor& dloss, Tensor& dlogits);

}  // namespace lat::kernels
