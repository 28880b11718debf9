// The NaN / loss-spike guard of a training step: decides on the device, with nothing read back to the host,
// whether this step's AdamW update is applied. A step is skipped when the loss counted out-of-vocabulary
// targets, when the loss or the global gradient norm is not finite, or (optional, as llm.c's -sl / -sg) when
// the loss or the norm lies more than a z-score threshold above its exponential moving average. A skipped
// step's clip factor is 0, which AdamW::step takes as "leave every parameter and moment as it is"
// (kernels/optim.h). The trainer reads the verdicts when it logs (trainers/trainer.cpp).
//
// Across ranks: the gradient norm is computed after the data-parallel reduction, so a NaN in any rank's
// gradient (an out-of-vocabulary target on one rank makes its gradient rows NaN too) reaches every rank and
// all skip together. The loss z-score needs the same loss everywhere: the session averages the loss over
// ranks first.
#pragma once

#include <functional>
#include <vector>

#include "autograd/nn/module.h"
#include "kernels/optim.h"
#include "optim/clip.h"

namespace lat::optim {

using kernels::SkipReason;

struct StepGuardConfig {
  double max_norm = 0.0;  // global-norm clip (optimizer.grad_clip); 0: off
  double loss_z = 0.0;    // training.skip_loss_z; 0: off
  double norm_z = 0.0;    // training.skip_norm_z; 0: off
  double ema_beta = 0.98;
  int64_t warmup_steps = 20;  // applied steps before the z rules judge
};

class StepGuard {
 public:
  // Throws lat::Error naming the field for a negative threshold or a beta outside [0, 1).
  StepGuard(const StepGuardConfig& config, Device device);

  // The global norm of the parameters' gradients, the clip factor (0: skip) and the verdict, all on the
  // device. loss: this step's (rank-averaged) loss, or undefined; invalid_targets: the loss's
  // out-of-vocabulary count, or undefined. Applied steps update the EMAs.
  // `combine`, when given, is applied to the sum of squares first (ZeRO-1: params are this rank's shard, and
  // the all-reduce makes the norm global; optim/clip.h).
  GradientNorm check(const std::vector<autograd::nn::NamedParameter>& params, const Tensor& loss,
                     const Tensor& invalid_targets,
                     const std::function<void(Tensor& sum_of_squares)>& combine = {});

  // The EMA state (kernels::kGuardStateSize f64 on the device): for tests.
  const Tensor& state() const { return state_; }
  const StepGuardConfig& config() const { return config_; }

 private:
  StepGuardConfig config_;
  Tensor state_;
};

}  // namespace lat::optim
