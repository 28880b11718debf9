// The forward-order Lightning Attention-2 sweep on Hopper's warpgroup tensor cores (wgmma, sm_90a), for the
// shapes that dominate training: d = e = 128, bf16 operands and result, forward order, shift 0.
// Internal to the CUDA kernels (kernels/cuda/lightning_attention.cu picks it over the mma.sync tile kernel).
//
// Per 64-token tile b of a segment, with S_b the fp32 state entering it:
//   o = diag(λ^r) q S_b + [(q kᵀ) ⊙ M] v,   M_rc = λ^{r−c} (r ≥ c),
//   S_{b+1} = λ^{nb} S_b + (diag(λ^{nb−r}) k)ᵀ v   (nb = rows of the tile, r = row in the tile),
// the same recurrence and roundings as the tile kernel's forward mode (scores and decayed keys rounded to
// bf16 once, S_b rounded to bf16 for the right product).
#pragma once

#include <cstdint>

#include "kernels/cuda/lightning_attention.cuh"

namespace lat::kernels::cuda {

struct La2WgmmaSweep {
  La2View q, k, v, o;  // [B, H, N, 128] through strides (la2_view_supported)
  const float* log_decay;
  int heads;
  int64_t bh, n;
  int seg_blocks, nseg;  // segments of seg_blocks tiles, one CTA each (blockIdx.x)
  // The state entering each segment: 0 zeros, 1 start[bh] (d × d, row-major), 2 start[bh] transposed,
  // 3 start[bh·start_slots + seg·start_step], 4 the same transposed.
  const float* start;
  int start_mode, start_slots, start_step;
  float* final_state;  // [bh][d][d], written by the last segment (nullable)
  // The feature map of the operands flagged in `mapped` (q', k', v'), applied to each tile in shared memory
  // as it lands (positional maps weigh a row by its position: pos_offset + row, times pos_scale = π/(2M));
  // with `raw` set, the result is multiplied by the map's derivative at raw (the chain rule of the dQ sweep).
  La2Feature feature = La2Feature::Identity;
  bool mapped[3] = {false, false, false};
  La2View raw{};
  int64_t pos_offset = 0;
  float pos_scale = 0.0f;
  bool accumulate = false;  // add the result to what o holds (cosFormer's second core)
};

// True when this build compiled the kernel (CUDA architectures include 90a) and the current device is sm_90.
bool la2_wgmma_available();
void la2_wgmma_sweep(const La2WgmmaSweep& s);

}  // namespace lat::kernels::cuda
