// Global-norm gradient clipping, computed where the gradients live: on CUDA one multi-tensor pass writes the
// norm and the clip factor to device scalars that AdamW::step reads, so a training step never waits for the host.
#pragma once

#include <functional>
#include <vector>

#include "autograd/nn/module.h"

namespace lat::optim {

struct GradientNorm {
  Tensor norm;    // sqrt(Σ over parameters with a gradient of Σ g²) (accumulated in double; 0 when none has one)
  Tensor factor;  // max_norm / norm when max_norm > 0 and the norm is finite and above it, else 1
                  // (from optim::StepGuard: 0 when the step is to be skipped)
  Tensor verdict;  // optim::StepGuard only: the kernels::SkipReason code (0: applied); undefined otherwise
  // One-element tensors on the gradients' device (f32 on CUDA, f64 on the CPU); reading one synchronises.
  double norm_value() const { return norm.item(); }
  double factor_value() const { return factor.item(); }
};

// The gradients are not modified: pass `factor` to AdamW::step, which scales every gradient by it. A non-finite
// norm is reported with factor 1 (nothing is clipped; the trainer sees the norm when it logs). `combine`, when
// given, is applied to the one-element sum of squares before the norm is taken: ZeRO-1 passes an all-reduce, so
// that each rank's share of the gradients gives the global norm (trainers/sharded_optimizer.h).
GradientNorm global_grad_norm(const std::vector<autograd::nn::NamedParameter>& params, double max_norm = 0.0,
                              const std::function<void(Tensor& sum_of_squares)>& combine = {});

// Σ g² over the parameters that have a gradient, on their device (the first half of global_grad_norm), with
// `combine` applied when given (ZeRO-1: the all-reduce over the ranks' shards).
Tensor grad_sum_of_squares(const std::vector<autograd::nn::NamedParameter>& params,
                           const std::function<void(Tensor& sum_of_squares)>& combine = {});

}  // namespace lat::optim
