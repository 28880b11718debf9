// The Lightning Attention-2 sweeps on Hopper's warpgroup tensor cores (wgmma, sm_90a) for d = e = 128 with bf16
// operands and results. Internal to the CUDA kernels (kernels/cuda/lightning_attention.cu picks them over the
// mma.sync tile kernel, whose modes and conventions they follow; see lightning_attention.cu).
//
// Forward-order sweep (the forward, and the backward's dQ sweep), per 64-token tile b of a segment with S_b the
// fp32 state entering it:
//   o = diag(λ^r) q S_b + [(q kᵀ) ⊙ M] v,   M_rc = λ^{r−c} (r ≥ c),
//   S_{b+1} = λ^{nb} S_b + (diag(λ^{nb−r}) k)ᵀ v   (nb = rows of the tile, r = row in the tile).
// Reverse dK/dV sweep (operands k, q, dO, v; sweep coordinate t̃ = N − 1 − row; shift 1; D the state):
//   dv = diag(λ^{r+1}) k D_b + [(k qᵀ) ⊙ M] dO,   dk = diag(λ^{r+1}) v D_bᵀ + [(v dOᵀ) ⊙ M] q,
//   D_{b+1} = λ^{nb} D_b + (diag(λ^{nb−r−1}) q)ᵀ dO.
// Roundings as in the tile kernel: scores and decayed keys rounded to bf16 once, the state rounded to bf16 for
// the right products.
#pragma once

#include <cstdint>

#include "kernels/cuda/lightning_attention.cuh"

namespace lat::kernels::cuda {

struct La2WgmmaSweep {
  bool backward_kv = false;  // the reverse dK/dV sweep (else the forward-order sweep)
  // Operands in the tile kernel's order (forward order: q', k', v'; dK/dV: k, q, dO, v) and results (o, or dv
  // and dk), [B, H, N, 128] through strides (la2_view_supported).
  La2View in[4]{};
  La2View out[2]{};
  const float* log_decay = nullptr;
  int heads = 0;
  int64_t bh = 0, n = 0;
  int seg_blocks = 0, nseg = 0;  // segments of seg_blocks tiles (in sweep order), one CTA each (blockIdx.x)
  // The state entering each segment: 0 zeros, 1 start[bh] (d × d, row-major), 2 start[bh] transposed,
  // 3 start[bh·start_slots + seg·start_step], 4 the same transposed.
  const float* start = nullptr;
  int start_mode = 0, start_slots = 0, start_step = 0;
  float* final_state = nullptr;  // [bh][d][d], written by the last segment (nullable)
  // The feature map of the operands flagged in `mapped`, applied to each tile in shared memory as it lands
  // (positional maps weigh a row by its position: pos_offset + row, times pos_scale = π/(2M)); with `raw` set,
  // the chain-rule result (o in the forward order, dk in dK/dV) is multiplied by the map's derivative at raw.
  La2Feature feature = La2Feature::Identity;
  bool mapped[4] = {false, false, false, false};
  La2View raw{};
  int64_t pos_offset = 0;
  float pos_scale = 0.0f;
  bool accumulate = false;  // add the results to what they hold (cosFormer's second core)
};

// True when this build compiled the kernels (CUDA architectures include 90a) and the current device is sm_90.
bool la2_wgmma_available();
void la2_wgmma_sweep(const La2WgmmaSweep& s);

}  // namespace lat::kernels::cuda
