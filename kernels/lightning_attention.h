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

// A feature map the core applies to q and k itself (SPEC §2): the CUDA fast path maps each tile as it lands in
// shared memory, so φ(q) and φ(k) never reach memory; the other paths map into temporaries first. Gradients are
// with respect to the raw q and k. Identity, Elu1, Silu: pointwise, m = d. cosine(M, offset): cosFormer,
// φ(x) = [relu(x) sin a_t ; relu(x) cos a_t], a_t = π·(offset + t)/(2M), m = 2d: the state is [B, H, 2d, e] with
// the sin half's rows first; the CUDA fast path runs it as two d × d cores (one per half) whose outputs add.
struct CoreFeatureMap {
  enum class Kind { Identity, Elu1, Silu, Cosine };
  Kind kind = Kind::Identity;
  int64_t max_context = 0;  // cosine: M (positions offset .. offset + N − 1 must be < M)
  int64_t offset = 0;       // cosine: absolute position of row 0

  static const CoreFeatureMap Identity, Elu1, Silu;
  static constexpr CoreFeatureMap cosine(int64_t max_context, int64_t offset) {
    return {Kind::Cosine, max_context, offset};
  }
  // m, the size of φ(x) for x of size d.
  constexpr int64_t features(int64_t d) const { return kind == Kind::Cosine ? 2 * d : d; }
  friend constexpr bool operator==(const CoreFeatureMap&, const CoreFeatureMap&) = default;
};
inline constexpr CoreFeatureMap CoreFeatureMap::Identity{CoreFeatureMap::Kind::Identity};
inline constexpr CoreFeatureMap CoreFeatureMap::Elu1{CoreFeatureMap::Kind::Elu1};
inline constexpr CoreFeatureMap CoreFeatureMap::Silu{CoreFeatureMap::Kind::Silu};

// q: [B, H, N, d], k: [B, H, N, d], v: [B, H, N, e], log_decay: [H] (≥ 0; q's dtype, or f32 for bf16 q),
// initial_state: [B, H, m, e] or undefined (zeros) -> out: [B, H, N, e], final_state: [B, H, m, e] (undefined:
// not computed, e.g. in training, where nothing reads it), with m = feature_map.features(d) (d but for cosine).
// One dtype (f32 or f64 on the CPU; bf16 or f32 on CUDA), any strides: a [B, N, H, D] buffer transposed to
// [B, H, N, D] is read (and `out` written) in place by the CUDA fast path. block ≥ 1 is the tile size along N.
// feature_map: the core attends with φ(q), φ(k) (see CoreFeatureMap).
// segment_states (optional): on return, what the CUDA forward computed for its sequence segments when B·H is
// small (B·H·slots·m·e floats, independent of N; undefined otherwise). Handing it to the backward saves the
// backward one pass over k and v.
// document_starts (optional): i32 [B, N] (kernels/documents.h). The state and the normaliser's key sum are zero
// at each document start, whatever the decay; cosFormer's positions count from the document's start. On CUDA
// boundaries take the generic per-token path (compiled, not yet run on a GPU; the tile kernels do not take them),
// and the cosine map with boundaries is refused there.
void lightning_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                 const Tensor& initial_state, int64_t block, Tensor& out, Tensor& final_state,
                                 Tensor* segment_states = nullptr,
                                 const CoreFeatureMap& feature_map = CoreFeatureMap::Identity,
                                 const Tensor& document_starts = Tensor());

// The block-wise reverse sweep of SPEC §4. grad_out: [B, H, N, e]; grad_final_state: [B, H, m, e] (m as above) or
// undefined (zero). Writes grad_q, grad_k, grad_v (shapes of q, k, v; any strides) and, when defined on entry,
// grad_initial_state [B, H, m, e]. segment_states: the forward's (same operands), or undefined.
void lightning_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                  const Tensor& initial_state, int64_t block, const Tensor& grad_out,
                                  const Tensor& grad_final_state, Tensor& grad_q, Tensor& grad_k, Tensor& grad_v,
                                  Tensor& grad_initial_state, const Tensor& segment_states = Tensor(),
                                  const CoreFeatureMap& feature_map = CoreFeatureMap::Identity,
                                  const Tensor& document_starts = Tensor());

// Normalised (Katharopoulos) form, SPEC §1: out = num / (den + eps) with [num | den] the core on [v | 1].
// initial_state, final_state: [B, H, m, e + 1] (S with z appended as the last column; initial may be undefined,
// final undefined is not computed); out: [B, H, N, e] and denominator: [B, H, N] (= den + eps). Forward and
// backward accumulate in f32 (the accumulation dtype) and round once at the end: dq is the sum of two nearly
// cancelling parts (o does not change when q̃ is scaled), so bf16 intermediates cost it ≈ 1e-2 relative (measured
// on the H200); pass `out` and `denominator` to the backward in that dtype. The core on [v | 1] has e + 1 columns:
// on CUDA with m = e ∈ {64, 128} one tile kernel carries the ones column as an fp32 key sum (docs/perf/la2.md v8,
// v15); other shapes run the generic path.
void lightning_attention_normalized_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                            const Tensor& log_decay, const Tensor& initial_state, int64_t block,
                                            double eps, Tensor& out, Tensor& final_state, Tensor& denominator,
                                            const Tensor& document_starts = Tensor());
// grad_out: [B, H, N, e]; grad_final_state: [B, H, m, e + 1] or undefined; eps as in the forward. Writes grad_q,
// grad_k, grad_v and, when defined on entry, grad_initial_state [B, H, m, e + 1].
void lightning_attention_normalized_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& log_decay, const Tensor& initial_state, int64_t block,
                                             double eps, const Tensor& out, const Tensor& denominator, const Tensor& grad_out,
                                             const Tensor& grad_final_state, Tensor& grad_q, Tensor& grad_k,
                                             Tensor& grad_v, Tensor& grad_initial_state,
                                             const Tensor& document_starts = Tensor());

// Its row helpers. v: [B, H, N, e] -> v_aug: [B, H, N, e + 1] = [v | 1].
void augment_values(const Tensor& v, Tensor& v_aug);
// num: [B, H, N, e], den_column: [B, H, N, 1] (each with its rows at one stride, e.g. slices of [num | den]) ->
// out: [B, H, N, e] = num / (den + eps), denominator: [B, H, N] = den + eps.
void normalize_by_denominator(const Tensor& num, const Tensor& den_column, double eps, Tensor& out,
                              Tensor& denominator);
// Upstream of the core backward on [V | 1] (SPEC §4 last bullet): grad_num = G / den, grad_den_column =
// −(G·o) / den. grad_out, out: [B, H, N, e], denominator: [B, H, N]; grad_num [B, H, N, e] and
// grad_den_column [B, H, N, 1] with their rows at one stride each.
void denominator_backward(const Tensor& grad_out, const Tensor& out, const Tensor& denominator, Tensor& grad_num,
                          Tensor& grad_den_column);

}  // namespace lat::kernels
