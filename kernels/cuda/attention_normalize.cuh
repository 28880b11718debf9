// CUDA kernels for the normalised (denominator) form's helpers in kernels/lightning_attention.h (SPEC §1, §4
// last bullet). Contiguous rows; f32 or bf16 storage, fp32 arithmetic; `rows` = B·H·N.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

// v: [rows, e] -> v_aug: [rows, e + 1] = [v | 1]
void augment_values(const void* v, void* v_aug, DType dtype, int64_t rows, int64_t e);
// num_aug: [rows, e + 1] -> out: [rows, e] = num / (den + eps), denominator: [rows] = den + eps
void normalize_by_denominator(const void* num_aug, double eps, void* out, void* denominator, DType dtype,
                              int64_t rows, int64_t e);
// grad_aug[:, :e] = G / den, grad_aug[:, e] = −(G·o) / den; grad_out, out: [rows, e], denominator: [rows]
void denominator_backward(const void* grad_out, const void* out, const void* denominator, void* grad_aug,
                          DType dtype, int64_t rows, int64_t e);
// x_aug: [rows, e + 1] -> x: [rows, e]
void drop_last_column(const void* x_aug, void* x, DType dtype, int64_t rows, int64_t e);

}  // namespace lat::kernels::cuda
