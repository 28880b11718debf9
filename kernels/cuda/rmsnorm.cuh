// CUDA RMSNorm over the last dimension, statistics in fp32.
//   y[r, :] = x[r, :] · rstd[r] · w,   rstd[r] = 1 / sqrt(mean_j x[r, j]² + eps)
// x, y, dy, dx: [rows, dim] contiguous of `dtype` (f32 or bf16); w, dw: [dim] of `w_dtype` (f32 or bf16);
// rstd: [rows] fp32 (optional output of the forward, may be null). dx or dw may be null (not needed).
// Backward: dx = rstd (w ⊙ dy) − x rstd³ mean_j(w_j dy_j x_j);  dw = Σ_r dy[r] ⊙ x[r] rstd[r].
// The backward recomputes rstd from x (no saved statistics needed), and reduces dw deterministically
// (per-block partials in a fixed order, no atomics); with accumulate_dw it adds into dw instead of writing.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

void rmsnorm_forward(const void* x, const void* w, void* y, float* rstd, DType dtype, DType w_dtype, int64_t rows,
                     int64_t dim, float eps);
// rstd_saved: the forward's fp32 rstd [rows], or null to recompute it from x with eps.
void rmsnorm_backward(const void* x, const void* w, const void* dy, void* dx, void* dw, DType dtype, DType w_dtype,
                      int64_t rows, int64_t dim, float eps, bool accumulate_dw = false,
                      const float* rstd_saved = nullptr);

// kernels/norm.h's contract: gain, rstd (and dgain) in x's dtype; rstd is written/read through an fp32 copy
// when that dtype is bf16 (the statistics themselves are fp32). dgain is overwritten.
void rmsnorm_forward_same_dtype(const void* x, const void* gain, void* out, void* rstd, DType dtype, int64_t rows,
                                int64_t dim, float eps);
void rmsnorm_backward_same_dtype(const void* dy, const void* x, const void* gain, const void* rstd, void* dx,
                                 void* dgain, DType dtype, int64_t rows, int64_t dim);

}  // namespace lat::kernels::cuda
