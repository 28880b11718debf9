// Deterministic random tensors from Philox. The numbers depend only on (seed, offset) and the element's
// row-major index i (stream position offset + i), never on the device, thread count or tensor layout:
// a model initialised on the GPU equals one initialised on the CPU. CUDA-clean.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace lat {

// Subsequences keep the uniform and normal streams of one seed independent.
constexpr uint32_t kPhiloxUniformSubsequence = 0;
constexpr uint32_t kPhiloxNormalSubsequence = 1;

// Element j (stream position) of the uniform stream: (0, 1), as float.
float philox_uniform(uint64_t seed, uint64_t j);
// Element j of the standard normal stream: Box–Muller on a pair of uniforms, computed in double.
double philox_normal(uint64_t seed, uint64_t j);

// Fill a floating tensor (any device, any layout) with lo + (hi - lo) * U or mean + std * N.
void fill_uniform(Tensor& t, uint64_t seed, uint64_t offset, double lo = 0.0, double hi = 1.0);
void fill_normal(Tensor& t, uint64_t seed, uint64_t offset, double mean = 0.0, double std = 1.0);

}  // namespace lat
