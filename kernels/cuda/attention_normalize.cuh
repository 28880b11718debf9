// CUDA kernels for the normalised (denominator) form's helpers in kernels/lightning_attention.h (SPEC §1, §4
// last bullet). Rows with one stride each; f32 or bf16 storage, fp32 arithmetic; `rows` = B·H·N.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

// v: [rows, e] -> v_aug: [rows, e + 1] = [v | 1]
void augment_values(const void* v, void* v_aug, DType dtype, int64_t rows, int64_t e);
// Numerator row r at num + r·num_stride (e values), its denominator at den_column[r·den_stride] ->
// out: [rows, e] = num / (den + eps), denominator: [rows] = den + eps
void normalize_by_denominator(const void* num, int64_t num_stride, const void* den_column, int64_t den_stride,
                              double eps, void* out, void* denominator, DType dtype, int64_t rows, int64_t e);
// grad_num[r·num_stride + j] = G / den, grad_den_column[r·den_stride] = −(G·o) / den; grad_out, out: [rows, e],
// denominator: [rows]
void denominator_backward(const void* grad_out, const void* out, const void* denominator, void* grad_num,
                          int64_t num_stride, void* grad_den_column, int64_t den_stride, DType dtype, int64_t rows,
                          int64_t e);

}  // namespace lat::kernels::cuda
