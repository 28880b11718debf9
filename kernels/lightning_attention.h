// Lightning Attention-2 style tiled causal linear attention (SPEC §4), the core of every linear-attention
// variant in lat, plus the helpers of the normalised output form (SPEC §1, augmented-V trick).
//
// Per (batch, head), with log-decay s ≥ 0 (λ = exp(−s)), positions i, j:
//   o_i = Σ_{j≤i} λ^{i−j} (q̃_i·k̃_j) v_j + λ^i q̃_iᵀ S_init
// State convention: the state "entering" position n is S(n) = Σ_{t<n} λ^{n−t} k̃_t v_tᵀ + λ^n S_init, so the
// final state of a chunk is exactly the initial state of the next chunk (streaming = one shot).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace lat::kernels {

// q: [B, H, N, m], k: [B, H, N, m], v: [B, H, N, e], log_decay: [H] (≥ 0; q's dtype, or f32 for bf16 q),
// initial_state: [B, H, m, e] or undefined (zeros) -> out: [B, H, N, e], final_state: [B, H, m, e].
// One dtype (f32 or f64 on the CPU; bf16 or f32 on CUDA), any strides: a [B, N, H, D] buffer transposed to
// [B, H, N, D] is read (and `out` written) in place by the CUDA fast path. block ≥ 1 is the tile size along N.
// segment_states (optional): on return, what the CUDA forward computed for its sequence segments when B·H is
// small (B·H·slots·m·e floats, independent of N; undefined otherwise). Handing it to the backward saves the
// backward one pass over k and v.
void lightning_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                 const Tensor& initial_state, int64_t block, Tensor& out, Tensor& final_state,
                                 Tensor* segment_states = nullptr);

// The block-wise reverse sweep of SPEC §4. grad_out: [B, H, N, e]; grad_final_state: [B, H, m, e] or
// undefined (zero). Writes grad_q, grad_k, grad_v (shapes of q, k, v; any strides) and, when defined on entry,
// grad_initial_state [B, H, m, e]. segment_states: the forward's (same operands), or undefined.
void lightning_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                  const Tensor& initial_state, int64_t block, const Tensor& grad_out,
                                  const Tensor& grad_final_state, Tensor& grad_q, Tensor& grad_k, Tensor& grad_v,
                                  Tensor& grad_initial_state, const Tensor& segment_states = Tensor());

// Normalised form helpers (SPEC §1). v: [B, H, N, e] -> v_aug: [B, H, N, e + 1] = [v | 1].
void augment_values(const Tensor& v, Tensor& v_aug);
// num_aug: [B, H, N, e + 1] (last column = q̃_i·z_i) -> out: [B, H, N, e] = num / (den + eps),
// denominator: [B, H, N] = den + eps.
void normalize_by_denominator(const Tensor& num_aug, double eps, Tensor& out, Tensor& denominator);
// Upstream of the core backward on [V | 1] (SPEC §4 last bullet): grad_aug[:, :e] = G / den,
// grad_aug[:, e] = −(G·o) / den. grad_out, out: [B, H, N, e], denominator: [B, H, N].
void denominator_backward(const Tensor& grad_out, const Tensor& out, const Tensor& denominator, Tensor& grad_aug);
// grad_v_aug: [B, H, N, e + 1] -> grad_v: [B, H, N, e] (drops the last column).
void drop_last_column(const Tensor& x_aug, Tensor& x);

}  // namespace lat::kernels
