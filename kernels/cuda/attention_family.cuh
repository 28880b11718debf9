// CUDA kernels of the attention family's smaller ops (SPEC §2, §3, §5): the feature maps elu1, cosFormer and
// FAVOR+ random features, RoPE, the per-head RMSNorm and sigmoid gate of the output, and the exact causal
// softmax baseline as a flash-style tiled kernel (online softmax forward saving the logsumexp, recompute in
// backward). Each matches its CPU op in kernels/cpu/ (see kernels/<family>.h for the math and shapes).
// Pointers are contiguous device buffers of `dtype` (f32 or bf16) unless typed; arithmetic and statistics
// are fp32 (angles in double, as on the CPU). Every launch is on lat::cuda::stream() and checked; none
// synchronises the host.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

// --- feature maps; x: [bh, n, d] rows
void elu1_forward(const void* x, void* y, DType dtype, int64_t count);
void elu1_backward(const void* x, const void* dy, void* dx, DType dtype, int64_t count);
// y: [bh, n, 2d]; position of row i is offset + i, less its document's start with document_starts (i32 [bh / heads,
// n] on the device, kernels/documents.h; null: none).
void cosine_feature_forward(const void* x, void* y, DType dtype, int64_t bh, int64_t n, int64_t d,
                            int64_t max_context, int64_t offset, const int32_t* document_starts = nullptr,
                            int64_t heads = 1);
void cosine_feature_backward(const void* x, const void* dy, void* dx, DType dtype, int64_t bh, int64_t n,
                             int64_t d, int64_t max_context, int64_t offset, const int32_t* document_starts = nullptr,
                             int64_t heads = 1);
// w: [m, d] (dtype); y: [bh, n, m]; stabilizer: [bh, n] (queries) or [bh] (keys), dtype; key_stabilizer:
// [bh] or null (keys take the max over their sequence then). Keys use the constant as stored (rounded to
// dtype, so a streaming chunk given it back uses the same value); queries use the fp32 row maximum (it cancels
// in the row's ratio) and store it rounded.
void random_feature_forward(const void* x, const void* w, bool is_query, const void* key_stabilizer, void* y,
                            void* stabilizer, DType dtype, int64_t bh, int64_t n, int64_t d, int64_t m);
void random_feature_backward(const void* x, const void* w, const void* y, const void* dy, void* dx, DType dtype,
                             int64_t rows, int64_t d, int64_t m);

// --- RoPE on [bh, n, d] (d even); inverse rotates by −angle (the backward). Positions as cosFormer's above.
void rope_forward(const void* x, void* y, DType dtype, int64_t bh, int64_t n, int64_t d, int64_t offset,
                  double base, bool inverse, const int32_t* document_starts = nullptr, int64_t heads = 1);

// --- output forms; x, y: [rows, e]; inv_rms: [rows] fp32.
void head_rmsnorm_forward(const void* x, float eps, void* y, float* inv_rms, DType dtype, int64_t rows, int64_t e);
void head_rmsnorm_backward(const void* y, const float* inv_rms, const void* dy, void* dx, DType dtype, int64_t rows,
                           int64_t e);
void sigmoid_gate_forward(const void* x, const void* gate, void* y, DType dtype, int64_t count);
// dx or dgate may be null.
void sigmoid_gate_backward(const void* x, const void* gate, const void* dy, void* dx, void* dgate, DType dtype,
                           int64_t count);

// --- causal softmax attention; q: [bh, nq, d], k: [bh, nk, d], v: [bh, nk, e], out: [bh, nq, e],
// lse: [bh, nq] fp32; query i sits at position nk − nq + i. d, e ≤ 128. bf16 with d = e ∈ {64, 128} runs on
// tensor cores (softmax_attention_mma.cuh), everything else on CUDA cores.
void softmax_attention_forward(const void* q, const void* k, const void* v, void* out, float* lse, DType dtype,
                               int64_t bh, int64_t nq, int64_t nk, int64_t d, int64_t e, float scale);
void softmax_attention_backward(const void* q, const void* k, const void* v, const void* out, const float* lse,
                                const void* dout, void* dq, void* dk, void* dv, DType dtype, int64_t bh, int64_t nq,
                                int64_t nk, int64_t d, int64_t e, float scale);

}  // namespace lat::kernels::cuda
