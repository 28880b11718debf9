#include "optim/step_guard.h"

#include "core/error.h"

namespace lat::optim {

StepGuard::StepGuard(const StepGuardConfig& config, Device device) : config_(config) {
  LAT_CHECK(config.max_norm >= 0.0, "step guard: max_norm must be >= 0, got ", config.max_norm);
  LAT_CHECK(config.loss_z >= 0.0, "step guard: loss_z must be >= 0, got ", config.loss_z);
  LAT_CHECK(config.norm_z >= 0.0, "step guard: norm_z must be >= 0, got ", config.norm_z);
  LAT_CHECK(config.ema_beta >= 0.0 && config.ema_beta < 1.0, "step guard: ema_beta must lie in [0, 1), got ",
            config.ema_beta);
  LAT_CHECK(config.warmup_steps >= 0, "step guard: warmup_steps must be >= 0, got ", config.warmup_steps);
  state_ = Tensor::zeros(Shape{kernels::kGuardStateSize}, DType::F64, device);
}

GradientNorm StepGuard::check(const std::vector<autograd::nn::NamedParameter>& params, const Tensor& loss,
                              const Tensor& invalid_targets,
                              const std::function<void(Tensor& sum_of_squares)>& combine) {
  const Tensor sum = grad_sum_of_squares(params, combine);
  GradientNorm r{Tensor::empty_like(sum), Tensor::empty_like(sum), Tensor::empty_like(sum)};
  kernels::StepGuardParams p;
  p.max_norm = config_.max_norm;
  p.loss_z = config_.loss_z;
  p.norm_z = config_.norm_z;
  p.ema_beta = config_.ema_beta;
  p.warmup_steps = config_.warmup_steps;
  kernels::guard_step(sum, loss, invalid_targets, p, state_, r.norm, r.factor, r.verdict);
  return r;
}

}  // namespace lat::optim
