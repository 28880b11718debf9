// The softmax baseline on tensor cores: causal flash attention for bf16 with d = e ∈ {64, 128} (mma.sync
// m16n8k16, fp32 accumulation and statistics). Same contract as softmax_attention_forward/backward in
// attention_family.cuh, which call these when softmax_attention_mma_applies() says so and keep the fp32
// CUDA-core kernels for everything else. q: [bh, nq, d], k, v: [bh, nk, d], out: [bh, nq, d], lse: [bh, nq]
// (natural log), query i at position nk − nq + i. The backward takes delta[row] = Σ dO·O (fp32) and runs two
// deterministic kernels (dK/dV per key tile, dQ per query tile) that recompute P from lse; P and dS are rounded
// to bf16 once as the matrix operands, everything else stays fp32.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

// bf16 with d = e ∈ {64, 128}, unless the environment sets LAT_SOFTMAX_MMA=0 (measurement: the CUDA-core
// kernels in the same binary).
bool softmax_attention_mma_applies(DType dtype, int64_t d, int64_t e);

void softmax_attention_mma_forward(const void* q, const void* k, const void* v, void* out, float* lse, int64_t bh,
                                   int64_t nq, int64_t nk, int64_t d, float scale);
void softmax_attention_mma_backward(const void* q, const void* k, const void* v, const float* lse, const float* delta,
                                    const void* dout, void* dq, void* dk, void* dv, int64_t bh, int64_t nq, int64_t nk,
                                    int64_t d, float scale);

}  // namespace lat::kernels::cuda
