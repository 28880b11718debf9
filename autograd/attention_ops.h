// Differentiable ops of the attention family (math: ../shared/SPEC.md; choices: docs/attention.md). Each op
// is one forward and one hand-written backward calling kernels/; none is derived through the tape.
// Shapes: heads-major [B, H, N, ·] for every per-head tensor (the linear-attention core also takes strided views
// of [B, N, H, ·] buffers in place).
// document_starts (every op's optional last argument): i32 [B, N] document boundaries of packed sequences
// (kernels/documents.h); each op then treats every document as a sequence of its own. On CUDA the core, RoPE and
// cosFormer take them (compiled, not yet run on a GPU); FAVOR+, softmax and key shift refuse them.
#pragma once

#include <cstdint>

#include "autograd/variable.h"
#include "kernels/lightning_attention.h"

namespace lat::autograd {

// Output and final state of a linear-attention core. final_state is the state entering position N (the
// initial state of the next chunk; see kernels/lightning_attention.h for the convention).
struct LinearAttentionOutput {
  Variable out;          // [B, H, N, e]
  Variable final_state;  // [B, H, m, e] (unnormalised) or [B, H, m, e + 1] (normalised: last column is z)
};

// --- core (ops_attention_core.cpp), SPEC §4 ---
// q̃, k̃: [B, H, N, m], v: [B, H, N, e], log_decay: [H] (s ≥ 0; a constant, not differentiated),
// initial_state: [B, H, m, e] or undefined (zeros). Unnormalised o_i = S_iᵀ q̃_i. Any strides: results follow
// v's (and q's, k's) layout. feature_map: q̃ = φ(q), k̃ = φ(k) applied inside the core (fused on the CUDA fast
// path; see kernels::CoreFeatureMap), gradients with respect to the raw q, k; q, k are then [B, H, N, d] and the
// states [B, H, feature_map.features(d), e] (2d for cosine). with_final_state = false: final_state is left
// undefined and not computed (training reads only `out`; at B·H = 4096, N = 1K the state is 6 % of the bytes).
LinearAttentionOutput lightning_attention(
    const Variable& q, const Variable& k, const Variable& v, const Tensor& log_decay, int64_t block = 64,
    const Variable& initial_state = Variable(),
    const kernels::CoreFeatureMap& feature_map = kernels::CoreFeatureMap::Identity, bool with_final_state = true,
    const Tensor& document_starts = Tensor());
// Normalised (Katharopoulos) form, SPEC §1: the core on [V | 1], o_i = num_i / (q̃_i·z_i + eps).
// initial_state: [B, H, m, e + 1] (S with z appended as the last column) or undefined; with_final_state as above.
LinearAttentionOutput lightning_attention_normalized(const Variable& q, const Variable& k, const Variable& v,
                                                     const Tensor& log_decay, int64_t block = 64,
                                                     const Variable& initial_state = Variable(),
                                                     double eps = 1e-6, bool with_final_state = true,
                                                     const Tensor& document_starts = Tensor());

// --- feature maps (ops_attention_features.cpp), SPEC §2; x: [B, H, N, d] ---
Variable elu1_feature_map(const Variable& x);  // -> [B, H, N, d], elu(x) + 1
Variable silu_feature_map(const Variable& x);  // -> [B, H, N, d], x·σ(x) (NormAttention only)
// cosFormer: -> [B, H, N, 2d] = [relu(x) sin a_i ; relu(x) cos a_i], a_i = π (offset + i) / (2M).
// Throws lat::Error when offset + N > max_context.
Variable cosine_feature_map(const Variable& x, int64_t max_context, int64_t offset = 0,
                            const Tensor& document_starts = Tensor());
// FAVOR+ with features w: [m, d] (from kernels::draw_random_features). Queries: stabiliser per row; keys: one
// constant per (batch, head) sequence, or `key_stabilizer` [B, H] when given (streaming), or with document starts
// one per document. The stabiliser used is returned ([B, H, N] for queries and packed keys, [B, H] for keys) and
// is a constant in backward.
struct RandomFeatureOutput {
  Variable features;  // [B, H, N, m]
  Tensor stabilizer;
};
RandomFeatureOutput random_feature_map(const Variable& x, const Tensor& w, bool is_query,
                                       const Tensor& key_stabilizer = Tensor(),
                                       const Tensor& document_starts = Tensor());

// --- position (ops_attention_position.cpp), SPEC §3 ---
// Rotates pairs (x[2c], x[2c+1]) of x: [B, H, N, d] (d even) by angle p_i·base^(−2c/d), p_i = offset + i (less
// the document's start with document starts).
Variable rope(const Variable& x, int64_t offset = 0, double base = 10000.0, const Tensor& document_starts = Tensor());

// --- softmax baseline (ops_attention_softmax.cpp), SPEC §5 ---
// q: [B, H, Nq, d], k: [B, H, Nk, d], v: [B, H, Nk, e], Nq ≤ Nk; query i sits at position Nk − Nq + i and
// sees keys j ≤ that position (Nq = Nk: plain causal; Nq = 1: a KV-cache step). -> [B, H, Nq, e]. With document
// starts (Nq = Nk) the mask is block-diagonal causal: keys of the query's own document only.
Variable softmax_attention(const Variable& q, const Variable& k, const Variable& v, double scale,
                           const Tensor& document_starts = Tensor());

// --- output forms (ops_attention_output.cpp) ---
// RMSNorm without gain over the last dim: x / sqrt(mean(x²) + eps) (NormAttention's per-head norm).
Variable head_rmsnorm(const Variable& x, double eps = 1e-6);
// x ⊙ σ(gate), equal shapes (the output gate).
Variable sigmoid_gate(const Variable& x, const Variable& gate);

}  // namespace lat::autograd
