// Pointwise activations of the MLP (GELU) and the fused SwiGLU gate, forward and backward. All operands
// contiguous, of equal shape, dtype and device. SiLU alone is kernels::silu_forward/silu_backward in
// kernels/feature_maps.h (shared with the attention feature map).
#pragma once

#include "core/tensor.h"

namespace lat::kernels {

// out = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))   (GPT-2's tanh approximation)
void gelu_forward(const Tensor& x, Tensor& out);
void gelu_backward(const Tensor& dout, const Tensor& x, Tensor& dx);
// out = silu(gate) · up
void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& out);
// dgate = dout · up · silu'(gate), dup = dout · silu(gate); either may be null (not needed).
void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, Tensor* dgate, Tensor* dup);

}  // namespace lat::kernels
