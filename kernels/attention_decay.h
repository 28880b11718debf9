// Per-head log-decay s_h ≥ 0 (λ_h = exp(−s_h)) for linear attention, SPEC §3. The core op takes s as a
// tensor input, so other conventions can be reproduced by passing a different tensor.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace lat::kernels {

// ALiBi slopes: 2^(−8(h+1)/H) for H a power of two, else the standard ALiBi interleave (the slopes of the
// largest power of two P < H followed by every other slope of 2P), times the layer factor
// (1 − layer/(num_layers − 1) + 1e−5) (factor 1 when num_layers = 1). -> [H] on the CPU in `dtype`.
std::vector<double> alibi_slopes(int64_t heads);
Tensor alibi_log_decay(int64_t heads, int64_t layer, int64_t num_layers, DType dtype = DType::F32);

}  // namespace lat::kernels
