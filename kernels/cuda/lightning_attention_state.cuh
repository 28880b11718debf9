// The state-only pass of the segmented Lightning Attention-2 sweep (kernels/cuda/lightning_attention.cu): the
// local state of every slot, the d × d product K̃ᵀV of a slot's keys (weighted by their decay to the slot's end)
// and values, for the prefix over slots that gives every segment its entering state. Internal to the CUDA
// kernels (and their test and bench).
//
// For slot s (sweep tokens [s·T, min(n, (s+1)·T)) with T = slot_tokens, slot end e_s = min(n, (s+1)·T)):
//   out[(bh·slots_total + s)·d·d + i·d + j] = Σ_t λ^{(e_s − t) − shift} k'_t[i] v'_t[j],
//   λ = exp(−log_decay[bh % heads]),
// where sweep token t reads row t (forward) or row n − 1 − t (reverse) of its operand (mapped by map.feature when
// map.key / map.val say so, a positional map at that row's position); a slot beginning at or past
// n gets zeros. Slots 0 .. nslots_computed − 1 are computed. fp32 accumulation of bf16 products; each key is
// rounded to bf16 once after its decay weight is applied (as in the tile kernel's state update).
// The decay window: with decay (s > 0) the sum stops at the tokens whose weight λ^{e_s − t} falls below 2^−40 of
// the slot's last (whole 64- or 128-token groups are skipped, W ≈ 27.7 / s tokens are read). What is left out
// weighs at most 2^−40 / (1 − λ) of one token's k'v'ᵀ, far below the fp32 sum's own rounding; with little or no
// decay the whole slot is read. LAT_LA2_DECAY_WINDOW=0 turns the window off.
//
// Operands (La2View): bf16, element (b, h, t, f) at data[b·batch_stride + h·head_stride + t·token_stride + f] with
// bh = b·heads + h and the feature f contiguous; strides in elements, multiples of 8, data 16-byte aligned
// (the contiguous [B·H, N, d] layout has strides (heads·n·d, n·d, d)).
// Requirements: sm_90 (TMA), d ∈ {64, 128}, slot_tokens a multiple of 64, n < 2^31, bh ≤ 65535.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "kernels/cuda/lightning_attention.cuh"

namespace lat::kernels::cuda {


// The feature map applied to the key and/or value operand as it is read (the sweep's mapped operands).
// CosSin / CosCos weigh each mapped row by its positional weight (sweep token → global row, plus position_offset,
// times scale = π/(2M)).
struct La2StateMap {
  La2Feature feature = La2Feature::Identity;
  bool key = false, val = false;
  int64_t position_offset = 0;
  float scale = 0.0f;
  // Non-null (identity feature only): key row r is divided by key_divisor[bh·n + r] (global row) before its decay
  // weight is applied; the normalised form's dK/dV sweep, whose keys are q / den.
  const float* key_divisor = nullptr;
};

// The decay window: with log-decay s > 0, a token more than la2_decay_window(s, bits) sweep positions before a
// slot's end weighs at most 2^−bits of the slot's last token and may be left out of the slot's sums. bits is
// la2_decay_window_bits(): 40, or 0 (no window) when the environment sets LAT_LA2_DECAY_WINDOW=0.
int la2_decay_window_bits();
__host__ __device__ inline double la2_decay_window(float s, int bits) {
  return bits > 0 && s > 0.f ? bits * 0.6931471805599453 / static_cast<double>(s) : 1e300;
}

void la2_state_pass(int d, const La2View& key, const La2View& val, const float* log_decay,
                    int heads, int64_t bh, int64_t n, int slot_tokens, int nslots_computed, int slots_total,
                    bool reverse, int shift, float* out, const La2StateMap& map = {});

// TMA tensor map of one operand for the kernels that stream tiles of `tok` tokens: dims (feature, then token /
// head / batch in ascending stride), box 64 features × tok tokens, 128-byte swizzle, rows outside [0, n) read as
// zero. perm receives the map dimension (1..3) of token, head and batch in bits 0-1, 2-3 and 4-5.
CUtensorMap la2_tensor_map(const La2View& op, int d, int64_t n, int64_t heads, int64_t batch, int tok, int& perm);

}  // namespace lat::kernels::cuda
