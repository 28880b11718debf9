// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), the update PyTorch's torch.optim.AdamW
// applies: state m, v per parameter in the parameter's dtype (fp32 for every trainable parameter; f64 is
// accepted for tests), bias correction, and weight decay applied only to parameters whose NamedParameter
// says weight_decay (so norms, biases and embeddings are excluded by the module's registration).
//
// The optimizer reads each parameter's accumulated .grad(): several backward calls before step() simply sum
// (the trainer scales the loss by 1 / grad_accum). A parameter whose grad is undefined (unused this step)
// is left untouched, decay included, and its state does not move.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "autograd/nn/module.h"
#include "core/tensor.h"

namespace lat::optim {

struct AdamWConfig {
  double lr = 3e-4;  // used by step() without an argument; the trainer usually passes lr_at(step)
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

// Throws lat::Error naming the field for lr < 0, betas outside [0, 1), eps <= 0, weight_decay < 0.
void validate(const AdamWConfig& config);

// Optimizer state for checkpoints: the step count and m ("exp_avg") and v ("exp_avg_sq") per parameter name.
struct AdamWState {
  int64_t step = 0;
  std::map<std::string, Tensor> exp_avg;     // m
  std::map<std::string, Tensor> exp_avg_sq;  // v
};

// Throws lat::Error naming the parameter unless `state` has m and v of the right shape for every one of `params`
// and for nothing else (what load_state accepts; ZeRO-1 checks a whole checkpoint's state with it before sharding).
void validate_state(const std::vector<autograd::nn::NamedParameter>& params, const AdamWState& state);

class AdamW {
 public:
  // params: typically model.parameters(); names must be unique. State is allocated (zeros) on each
  // parameter's device and dtype here.
  AdamW(std::vector<autograd::nn::NamedParameter> params, const AdamWConfig& config);

  // One update of every parameter that has a gradient, with learning rate `lr` (or config().lr), each gradient
  // multiplied by grad_scale[0] first when it is defined (the clip factor of optim/clip.h, left on the device).
  // Runs under NoGradGuard; nothing is read back to the host. The step counter (bias correction) advances by one.
  void step(double lr, const Tensor& grad_scale = Tensor());
  void step() { step(config_.lr); }
  // Drops every parameter's gradient (the next backward starts from zero).
  void zero_grad();

  int64_t step_count() const { return step_; }
  const AdamWConfig& config() const { return config_; }
  const std::vector<autograd::nn::NamedParameter>& parameters() const { return params_; }

  // The live state: tensors share storage with the optimizer (copy or move them to the host to save).
  AdamWState state() const;
  // Copies a saved state in (any dtype/device; converted). Throws lat::Error naming the parameter when a name
  // is missing or unknown or a shape differs; nothing is changed in that case.
  void load_state(const AdamWState& state);

 private:
  std::vector<autograd::nn::NamedParameter> params_;
  AdamWConfig config_;
  std::vector<Tensor> m_, v_;  // parallel to params_
  int64_t step_ = 0;
};

}  // namespace lat::optim
