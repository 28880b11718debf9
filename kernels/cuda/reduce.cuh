// CUDA kernels for kernels/reduce.h. x: [n] contiguous; out, s: one element; all of `dtype` (f32, f64, bf16).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

// *out = Σ x[i], accumulated in double in a fixed order (deterministic), rounded once to dtype.
void sum(const void* x, void* out, DType dtype, int64_t n);
// out[i] = factor · s[0] for i < n (s read on the device: no host sync).
void broadcast_scalar(const void* s, void* out, DType dtype, int64_t n, double factor);

}  // namespace lat::kernels::cuda
