// Exact causal softmax attention (SPEC §5), the baseline every linear kernel is compared against. Row form
// on the CPU: one row of scores at a time (O(Nk) memory per thread), logsumexp saved for the backward,
// which recomputes the probabilities.
#pragma once

#include "core/tensor.h"

namespace lat::kernels {

// q: [B, H, Nq, d], k: [B, H, Nk, d], v: [B, H, Nk, e], Nq ≤ Nk; query i is at position Nk − Nq + i and
// attends to keys j ≤ that position. -> out: [B, H, Nq, e], logsumexp: [B, H, Nq] (of the scaled scores).
// document_starts (optional, i32 [B, N], kernels/documents.h; Nq = Nk = N; CPU only): the block-diagonal causal
// mask, query i sees keys j with max(document_starts[b, i], 0) ≤ j ≤ i.
void softmax_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, double scale, Tensor& out,
                               Tensor& logsumexp, const Tensor& document_starts = Tensor());
// dS = P ⊙ (dO Vᵀ − rowsum(dO ⊙ O)); dq = scale dS K, dk = scale dSᵀ Q, dv = Pᵀ dO.
void softmax_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                const Tensor& logsumexp, const Tensor& grad_out, double scale, Tensor& grad_q,
                                Tensor& grad_k, Tensor& grad_v, const Tensor& document_starts = Tensor());

}  // namespace lat::kernels
