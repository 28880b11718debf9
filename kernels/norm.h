// RMSNorm over the last dim with a learned gain (SPEC: pre-norm transformer blocks).
#pragma once

#include "core/tensor.h"

namespace lat::kernels {

// x: [..., D], gain: [D] -> out: [..., D] = x · rstd · gain, rstd: [...] = 1 / sqrt(mean(x²) + eps) (saved
// for backward). Statistics are accumulated in double on the CPU (fp32 on the GPU).
void rmsnorm_forward(const Tensor& x, const Tensor& gain, double eps, Tensor& out, Tensor& rstd);
// dout: [..., D] -> dx: [..., D] (when defined), dgain: [D] (when defined; overwritten).
//   dx = rstd · (gain ⊙ dout − x · rstd² · mean(gain ⊙ dout ⊙ x)),  dgain = Σ_rows dout ⊙ x · rstd
void rmsnorm_backward(const Tensor& dout, const Tensor& x, const Tensor& gain, const Tensor& rstd, Tensor* dx,
                      Tensor* dgain);

}  // namespace lat::kernels
