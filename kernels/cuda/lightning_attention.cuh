// CUDA kernels for kernels/lightning_attention.h (SPEC §4, Lightning Attention-2 tiling on sm_90).
//
// Fast path (bf16 q/k/v/o, fp32 state, m == e ∈ {64, 128}): one tensor-core tile kernel (mma.sync m16n8k16 bf16,
// fp32 accumulation, cp.async double-buffered 64-row tiles, 8 warps, two barriers per tile) in two modes:
//   forward: o'_t = Σ_{j≤t in sweep order} λ^{t−j} (q'_t·k'_j) v'_j + λ^{r+shift} q'_t S'_block, with the state S'
//   kept in registers (fp32 master) and in shared memory (double-buffered bf16 copy for the right product);
//   fused dK/dV: one reverse sweep with the state D giving dv = fwd(q'=K, k'=Q, v'=dO, S'=D) and
//   dk = fwd(q'=V, k'=dO, v'=Q, S'=Dᵀ) from the same tiles; its final state is d(initial state).
// The backward is the dQ sweep (forward mode on q'=dO, k'=V, v'=K, S'=Sᵀ) plus the fused dK/dV sweep.
// Small B·H: the sequence is split into segments (local states of slots of every segment but the last from the
// state-only pass of lightning_attention_state.cuh, a prefix over slots, then every segment in parallel); the
// workspace is B·H·slots·m·e floats (la2_workspace_floats),
// independent of N (slots ≤ about 2·SMs / (B·H) + B·H-independent constant).
//
// Generic path (any m, e ≤ 1024, f32 or bf16): one CTA per (batch, head) runs the per-token recurrence in fp32
// with the state in shared memory. Exact and slow; used for d ≠ e (e.g. the normalised form's e + 1) and for
// shapes the fast path does not cover.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

bool la2_fast_supported(int64_t m, int64_t e);
// Floats of workspace the fast path needs for one call (0 when no segmentation is used).
int64_t la2_workspace_floats(int64_t bh, int64_t n, int64_t d);

// Fast path. q, k, v, o: bf16 [B·H, N, d]; log_decay: f32 [H] on device; initial_state: f32 [B·H, d, d] or
// null; final_state: f32 [B·H, d, d] or null. workspace: la2_workspace_floats(...) floats (null if 0).
void la2_forward_bf16(const void* q, const void* k, const void* v, const float* log_decay,
                      const float* initial_state, void* o, float* final_state, int64_t batch, int64_t heads,
                      int64_t n, int64_t d, float* workspace);
// grad_final_state / grad_initial_state nullable; all gradients bf16 except the states (f32).
void la2_backward_bf16(const void* q, const void* k, const void* v, const float* log_decay,
                       const float* initial_state, const void* grad_out, const float* grad_final_state,
                       void* grad_q, void* grad_k, void* grad_v, float* grad_initial_state, int64_t batch,
                       int64_t heads, int64_t n, int64_t d, float* workspace);

// Generic path; q/k/v/o/gradients of `dtype` (F32 or BF16), states f32 (nullable as above).
void la2_forward_generic(DType dtype, const void* q, const void* k, const void* v, const float* log_decay,
                         const float* initial_state, void* o, float* final_state, int64_t batch, int64_t heads,
                         int64_t n, int64_t m, int64_t e);
void la2_backward_generic(DType dtype, const void* q, const void* k, const void* v, const float* log_decay,
                          const float* initial_state, const void* grad_out, const float* grad_final_state,
                          void* grad_q, void* grad_k, void* grad_v, float* grad_initial_state, int64_t batch,
                          int64_t heads, int64_t n, int64_t m, int64_t e);

}  // namespace lat::kernels::cuda
