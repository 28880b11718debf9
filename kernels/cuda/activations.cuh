// CUDA kernels for the pointwise activations: SiLU, GELU and SwiGLU, forward and backward.
// Every pointer is a contiguous device buffer of n elements of `dtype` (f32 or bf16); arithmetic is fp32.
//   silu(x) = x σ(x)                     silu'(x) = σ(x) (1 + x (1 − σ(x)))
//   gelu(x) = 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))) (GPT-2's tanh form, as the CPU op), or x Φ(x) (erf form)
//   swiglu(g, u) = silu(g) u             dg = dh u silu'(g), du = dh silu(g)
// Backward kernels write (not accumulate) their gradients; dx may alias dy.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

// x, y: [n]
void silu_forward(const void* x, void* y, DType dtype, int64_t n);
// x, dy, dx: [n]
void silu_backward(const void* x, const void* dy, void* dx, DType dtype, int64_t n);

void gelu_forward(const void* x, void* y, DType dtype, int64_t n, bool tanh_approximation = true);
void gelu_backward(const void* x, const void* dy, void* dx, DType dtype, int64_t n, bool tanh_approximation = true);

// gate, up, h: [n]
void swiglu_forward(const void* gate, const void* up, void* h, DType dtype, int64_t n);
// gate, up, dh, dgate, dup: [n]; dgate or dup may be null (not needed)
void swiglu_backward(const void* gate, const void* up, const void* dh, void* dgate, void* dup, DType dtype, int64_t n);

}  // namespace lat::kernels::cuda
