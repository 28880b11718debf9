// One Lightning Attention-2 sweep as the host plans it (kernels/cuda/lightning_attention.cu): the description
// that the mma.sync tile kernel there and the wgmma kernels (lightning_attention_wgmma.cuh) both take, each adding
// only what is its own. Internal to the CUDA kernels.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/lightning_attention.cuh"

namespace lat::kernels::cuda {

// Row 0 of head bh (heads per batch: `heads`) of an operand or result with elements of type T.
template <class T = __nv_bfloat16>
__host__ __device__ __forceinline__ T* head_rows(const La2View& v, int64_t bh, int heads) {
  return static_cast<T*>(v.data) + (bh / heads) * v.batch_stride + (bh % heads) * v.head_stride;
}

struct La2Sweep {
  // Operands in the sweep's order (forward order: q', k', v'; dK/dV: k, q, dO, v) and results (o', or dv and dk),
  // [B, H, N, d] through strides.
  La2View in[4]{};
  La2View out[2]{};
  const float* log_decay = nullptr;  // [heads]
  int heads = 0;
  int64_t bh = 0, n = 0;
  int seg_blocks = 0, nseg = 0;  // segments of seg_blocks tiles (in sweep order), one CTA each (blockIdx.x)
  // The state entering each segment: 0 zeros, 1 start[bh] (d × d, row-major), 2 start[bh] transposed,
  // 3 start[bh·start_slots + seg·start_step], 4 the same transposed.
  const float* start = nullptr;
  int start_mode = 0, start_slots = 0, start_step = 0;
  float* final_state = nullptr;  // [bh][d][d], written by the last segment (nullable)
  // The feature map of the operands flagged in `mapped`, applied to each tile as it lands (positional maps weigh a
  // row by its position: pos_offset + row, times pos_scale = π/(2M)); raw[i] set: out[i] is multiplied by the
  // map's derivative at raw[i] (the chain rule: o' in the forward order, dk in dK/dV).
  La2Feature feature = La2Feature::Identity;
  bool mapped[4] = {false, false, false, false};
  La2View raw[2]{};
  int64_t pos_offset = 0;
  float pos_scale = 0.0f;
  bool accumulate = false;  // add the results to what they hold (cosFormer's second core)
};

}  // namespace lat::kernels::cuda
