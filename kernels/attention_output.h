// Output-side pieces of the attention block: NormAttention's per-head RMSNorm (no gain) and the output gate.
// All tensors contiguous, any shape [..., e] (rows = numel / e).
#pragma once

#include "core/tensor.h"

namespace lat::kernels {

// y = x / sqrt(mean(x²) + eps) over the last dim; inv_rms: [rows] (x's shape without the last dim).
void head_rmsnorm_forward(const Tensor& x, double eps, Tensor& y, Tensor& inv_rms);
// grad_x = inv_rms · (g − y · mean(g ⊙ y)).
void head_rmsnorm_backward(const Tensor& y, const Tensor& inv_rms, const Tensor& grad_y, Tensor& grad_x);
// y = x ⊙ σ(gate).
void sigmoid_gate_forward(const Tensor& x, const Tensor& gate, Tensor& y);
// grad_x = g ⊙ σ(gate), grad_gate = g ⊙ x ⊙ σ(gate)(1 − σ(gate)).
void sigmoid_gate_backward(const Tensor& x, const Tensor& gate, const Tensor& grad_y, Tensor& grad_x,
                           Tensor& grad_gate);

}  // namespace lat::kernels
