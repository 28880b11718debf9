// Reductions to a scalar and the matching broadcast.
#pragma once

#include "core/tensor.h"

namespace lat::kernels {

// out (0-d) = sum of x's elements, accumulated in double on the CPU (fp32 pairwise on the GPU).
void sum(const Tensor& x, Tensor& out);
// out[:] = factor * s, s a one-element tensor on out's device.
void broadcast_scalar(const Tensor& s, Tensor& out, double factor);

}  // namespace lat::kernels
