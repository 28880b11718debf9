// CUDA kernels for kernels/lightning_attention.h (SPEC §4, Lightning Attention-2 tiling on sm_90).
//
// Fast path (bf16 q/k/v/o read and written in place through batch/head/token strides, fp32 state, m == e ∈
// {64, 128}). With d = 128, bf16 results and no normalisation, every sweep (forward, dQ, dK/dV; any pointwise or
// cosFormer map) runs on wgmma (lightning_attention_wgmma.cuh, sm_90a builds). Everything else runs one
// tensor-core tile kernel (mma.sync m16n8k16 bf16, fp32 accumulation, cp.async double-buffered 64-row tiles,
// 8 warps, two barriers per tile) in two modes, whose conventions the wgmma kernels follow:
//   forward: o'_t = Σ_{j≤t in sweep order} λ^{t−j} (q'_t·k'_j) v'_j + λ^{r+shift} q'_t S'_block, with the state S'
//   kept in registers (fp32 master) and in shared memory (double-buffered bf16 copy for the right product);
//   fused dK/dV: one reverse sweep with the state D giving dv = fwd(q'=K, k'=Q, v'=dO, S'=D) and
//   dk = fwd(q'=V, k'=dO, v'=Q, S'=Dᵀ) from the same tiles; its final state is d(initial state).
// The backward is the dQ sweep (forward mode on q'=dO, k'=V, v'=K, S'=Sᵀ) plus the fused dK/dV sweep; the dQ
// sweep's segment entering states are the forward's transposed, so a backward handed them skips one state pass.
// Small B·H: the sequence is split into segments (local states of slots of every segment but the last from the
// state-only pass of lightning_attention_state.cuh, a prefix over slots, then every segment in parallel); the
// workspace is B·H·slots·m·e floats (la2_workspace_floats),
// independent of N (slots ≤ about 2·SMs / (B·H) + B·H-independent constant).
//
// Normalised form (La2Forward::denominator, La2Backward::denominator): the same tile kernel with the augmented
// column as an fp32 key sum z next to the state; segmented like the rest, with the slots' key sums from their own
// pass. Its backward forms G/den and the row bias inside the sweeps, from G, o and den: no O(N) temporaries.
//
// Generic path (any m, e ≤ 1024, f32 or bf16): one CTA per (batch, head) runs the per-token recurrence in fp32
// with the state in shared memory (in a global workspace when it does not fit, e.g. d = 256). Exact and slow;
// used for d ≠ e (e.g. the normalised form's e + 1) and for
// shapes the fast path does not cover.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

bool la2_fast_supported(int64_t m, int64_t e);
// Floats of workspace the fast path needs for one call (0 when no segmentation is used). After a forward, the
// workspace holds the state entering every slot of the sweep: hand it to the backward as forward_states and its
// dQ sweep skips its own state pass.
int64_t la2_workspace_floats(int64_t bh, int64_t n, int64_t d);
// The same for the normalised form (the slot states and their key sums z).
int64_t la2_normalized_workspace_floats(int64_t bh, int64_t n, int64_t d);

// One bf16 operand of shape [B, H, N, d] in device memory: element strides of batch, head and token, the
// feature dimension contiguous. [B, H, N, d] and [B, N, H, d] buffers (and any other order) are read and
// written in place.
struct La2View {
  void* data;
  int64_t batch_stride, head_stride, token_stride;
};
// The fast path needs 16-byte aligned rows: data and every stride a multiple of 8 elements.
bool la2_view_supported(const La2View& v);

// Pointwise feature map applied to q and k inside the kernels (each tile mapped in shared memory as it lands; the
// backward multiplies dq, dk by the map's derivative at the raw q, k as it stores them). CosSin, CosCos: the two
// halves of cosFormer's map (SPEC §2), x ↦ relu(x)·sin a_t and relu(x)·cos a_t with a_t = π·(position_offset +
// t)/(2·max_context) of global row t; cosFormer's core is the sum of the two d × d cores
// (kernels/lightning_attention.cpp runs them, the second with `accumulate`).
enum class La2Feature : int { Identity = 0, Elu1 = 1, Silu = 2, CosSin = 3, CosCos = 4 };

// Fast path (bf16 operands, results bf16 or f32, f32 log_decay [H] and states [B·H, d, d]; states nullable).
struct La2Forward {
  La2View q, k, v, o;
  bool f32_results;  // o is f32 (else bf16)
  La2Feature feature;
  const float* log_decay;
  const float* initial_state;
  float* final_state;
  int64_t batch, heads, n, d;
  float* workspace;  // la2_workspace_floats(...) floats (null if 0)
  int64_t max_context = 0, position_offset = 0;  // CosSin / CosCos: M and the absolute position of row 0
  bool accumulate = false;  // add o to what o holds (the second of cosFormer's two cores) instead of writing it
  // The normalised form (SPEC §1) when non-null: o = num / (den + eps) with [num | den] the core on [v | 1],
  // computed in the same pass (den in fp32 from the rounded scores that P·V uses and the key sum z); denominator
  // [B·H, N] f32 receives den + eps; the states are [d, d + 1] (z in the last column); identity feature map, f32 o;
  // workspace: la2_normalized_workspace_floats(...).
  float* denominator = nullptr;
  float eps = 0.0f;
};
void la2_forward_bf16(const La2Forward& f);

struct La2Backward {
  La2View q, k, v, grad_out, grad_q, grad_k, grad_v;
  bool f32_results;  // grad_q, grad_k, grad_v are f32 (else bf16)
  La2Feature feature;
  const float* log_decay;
  const float* initial_state;
  const float* grad_final_state;
  float* grad_initial_state;
  int64_t batch, heads, n, d;
  const float* forward_states;  // the forward's workspace after the call, or null (recomputed)
  float* workspace;
  int64_t max_context = 0, position_offset = 0;  // as in La2Forward
  bool accumulate = false;  // add grad_q, grad_k, grad_v to what they hold instead of writing them
  // The normalised form when non-null: denominator [B·H, N] f32 holds the forward's den + eps, out its o (f32,
  // contiguous [B·H, N, d]) and grad_out G = ∂L/∂o; states [d, d + 1]; no forward_states. dq is projected so
  // that dq_t·q_t = −eps·c_t (c_t = −(G_t·o_t)/den_t), which the exact gradient satisfies (o is invariant to q_t's
  // scale).
  const float* denominator = nullptr;
  const float* out = nullptr;
  float eps = 0.0f;
};
void la2_backward_bf16(const La2Backward& b);

// Generic path; contiguous q/k/v/o/gradients of `dtype` (F32 or BF16), states f32 (nullable as above). The
// state lives in shared memory when it fits; otherwise (e.g. d = 256) in state_workspace,
// la2_generic_workspace_floats(...) floats (null when that is 0). document_starts: i32 [batch, n] on the device
// (kernels/documents.h) or null: the state is zero at every document start, and a document that starts at
// position 0 reads no initial state.
int64_t la2_generic_workspace_floats(int64_t bh, int64_t m, int64_t e);
void la2_forward_generic(DType dtype, const void* q, const void* k, const void* v, const float* log_decay,
                         const float* initial_state, void* o, float* final_state, int64_t batch, int64_t heads,
                         int64_t n, int64_t m, int64_t e, float* state_workspace,
                         const int32_t* document_starts = nullptr);
void la2_backward_generic(DType dtype, const void* q, const void* k, const void* v, const float* log_decay,
                          const float* initial_state, const void* grad_out, const float* grad_final_state,
                          void* grad_q, void* grad_k, void* grad_v, float* grad_initial_state, int64_t batch,
                          int64_t heads, int64_t n, int64_t m, int64_t e, float* state_workspace,
                          const int32_t* document_starts = nullptr);

}  // namespace lat::kernels::cuda
