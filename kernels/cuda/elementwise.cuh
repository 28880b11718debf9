// CUDA kernels for kernels/elementwise.h. Pointers are contiguous device buffers of `dtype` (f32, bf16).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

void add(const void* a, const void* b, void* out, DType dtype, int64_t n);
void axpy(double alpha, const void* x, void* y, DType dtype, int64_t n);
void mul(const void* a, const void* b, void* out, DType dtype, int64_t n);
void scale(void* y, double alpha, DType dtype, int64_t n);

}  // namespace lat::kernels::cuda
