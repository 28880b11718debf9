// Fused softmax cross-entropy over a large vocabulary, never materialising the probabilities.
//   forward:  lse[r] = log Σ_j exp(logits[r, j]) (one pass, online max/sum),  loss[r] = lse[r] − logits[r, t_r]
//   backward: dlogits[r, j] = g_r · (exp(logits[r, j] − lse[r]) − [j = t_r]),  g_r = scale · dloss[r · dloss_stride]
// logits, dlogits: [rows, vocab] contiguous of `dtype` (f32 or bf16); targets: [rows] int32; loss, lse: [rows] fp32;
// dloss: fp32 on the device, per row (dloss_stride 1) or one shared value (dloss_stride 0); scale is a host factor
// (e.g. 1/rows for a mean). Rows whose target equals ignore_index get loss 0 and zero gradient. Targets outside
// [0, vocab) (other than ignore_index) give loss NaN and a NaN gradient row, so a bad batch shows in the loss
// and the gradient norm instead of reading out of bounds. dlogits may alias logits (the backward then overwrites the logits in place).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

void cross_entropy_forward(const void* logits, const int32_t* targets, float* loss, float* lse, DType dtype,
                           int64_t rows, int64_t vocab, int32_t ignore_index = -1);
void cross_entropy_backward(const void* logits, const int32_t* targets, const float* lse, const float* dloss,
                            int64_t dloss_stride, float scale, void* dlogits, DType dtype, int64_t rows, int64_t vocab,
                            int32_t ignore_index = -1);

// kernels/loss.h's contract (targets are not checked here: a bad one gives a NaN loss and is counted into
// *invalid_targets when that device fp32 scalar is given). Forward: *loss (fp32) = mean over counted rows
// (target != ignore_index) of lse − logit[target]; stats[0, rows) = lse (fp32), stats[rows] = 1/C (0 when C = 0). Backward: dlogits = dloss[0] · stats[rows] · (softmax − onehot) for counted rows, 0 for ignored ones
// (dlogits may alias logits). No host synchronisation.
void softmax_cross_entropy_mean(const void* logits, const int32_t* targets, int32_t ignore_index, float* loss,
                                float* stats, DType dtype, int64_t rows, int64_t vocab,
                                float* invalid_targets = nullptr);
void softmax_cross_entropy_mean_backward(const void* logits, const int32_t* targets, int32_t ignore_index,
                                         const float* stats, const float* dloss, void* dlogits, DType dtype,
                                         int64_t rows, int64_t vocab);

}  // namespace lat::kernels::cuda
