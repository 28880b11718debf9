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

#include "kernels/cuda/lightning_attention_sweep.cuh"

namespace lat::kernels::cuda {

struct La2WgmmaSweep : La2Sweep {
  bool backward_kv = false;  // the reverse dK/dV sweep (else the forward-order sweep); raw[kChain] only
};

// True when this build compiled the kernels (CUDA architectures include 90a) and the current device is sm_90.
bool la2_wgmma_available();
void la2_wgmma_sweep(const La2WgmmaSweep& s);

}  // namespace lat::kernels::cuda
