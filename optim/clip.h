// Global-norm gradient clipping, computed in double on the host over every parameter's gradient.
#pragma once

#include <vector>

#include "autograd/nn/module.h"

namespace lat::optim {

// sqrt(Σ over parameters with a gradient of Σ g²), in double; 0 when no parameter has a gradient.
double global_grad_norm(const std::vector<autograd::nn::NamedParameter>& params);

// Returns the pre-clip global norm. When max_norm > 0 and the norm exceeds it, every gradient is scaled by
// max_norm / norm, so the norm afterwards is max_norm (to rounding). A non-finite norm is returned
// without scaling anything: the trainer should skip that step.
double clip_grad_norm(const std::vector<autograd::nn::NamedParameter>& params, double max_norm);

}  // namespace lat::optim
