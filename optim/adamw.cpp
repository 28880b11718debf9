#include "optim/adamw.h"

#include <cmath>
#include <set>

#include "core/error.h"
#include "kernels/optim.h"

namespace lat::optim {

void validate(const AdamWConfig& c) {
  if (!(c.lr >= 0.0)) LAT_THROW("adamw: lr must be >= 0, got ", c.lr);
  if (!(c.beta1 >= 0.0 && c.beta1 < 1.0)) LAT_THROW("adamw: beta1 must lie in [0, 1), got ", c.beta1);
  if (!(c.beta2 >= 0.0 && c.beta2 < 1.0)) LAT_THROW("adamw: beta2 must lie in [0, 1), got ", c.beta2);
  if (!(c.eps > 0.0)) LAT_THROW("adamw: eps must be > 0, got ", c.eps);
  if (!(c.weight_decay >= 0.0)) LAT_THROW("adamw: weight_decay must be >= 0, got ", c.weight_decay);
}

AdamW::AdamW(std::vector<autograd::nn::NamedParameter> params, const AdamWConfig& config)
    : params_(std::move(params)), config_(config) {
  validate(config_);
  std::set<std::string> names;
  for (const auto& p : params_) {
    LAT_CHECK(names.insert(p.name).second, "adamw: parameter '", p.name, "' is listed twice");
    const Tensor& data = p.variable.data();
    LAT_CHECK(data.dtype() == DType::F32 || data.dtype() == DType::F64, "adamw: parameter '", p.name,
              "' is ", data.str(), "; AdamW keeps f32 master weights");
    m_.push_back(Tensor::zeros(data.shape(), data.dtype(), data.device()));
    v_.push_back(Tensor::zeros(data.shape(), data.dtype(), data.device()));
  }
}

void AdamW::step(double lr, const Tensor& grad_scale) {
  LAT_CHECK(lr >= 0.0 && std::isfinite(lr), "adamw: learning rate must be finite and >= 0, got ", lr);
  autograd::NoGradGuard no_grad;
  ++step_;
  kernels::AdamWStep s;
  s.lr = lr;
  s.beta1 = config_.beta1;
  s.beta2 = config_.beta2;
  s.eps = config_.eps;
  s.bias_correction1 = 1.0 - std::pow(config_.beta1, static_cast<double>(step_));
  s.bias_correction2 = 1.0 - std::pow(config_.beta2, static_cast<double>(step_));
  std::vector<kernels::AdamWParam> updates;
  updates.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    autograd::Variable& var = params_[i].variable;
    const Tensor& grad = var.grad();
    if (!grad.defined()) continue;
    const Tensor& p = var.data();
    LAT_CHECK(grad.shape() == p.shape(), "adamw: gradient of '", params_[i].name, "' is ", grad.str(),
              " but the parameter is ", p.str());
    const Tensor g = grad.dtype() == p.dtype() ? grad.contiguous() : grad.to(p.dtype()).contiguous();
    updates.push_back({p, g, m_[i], v_[i], params_[i].weight_decay ? config_.weight_decay : 0.0});
  }
  kernels::adamw_step(updates, s, grad_scale);
}

void AdamW::zero_grad() {
  for (auto& p : params_) p.variable.zero_grad();
}

AdamWState AdamW::state() const {
  AdamWState st;
  st.step = step_;
  for (size_t i = 0; i < params_.size(); ++i) {
    st.exp_avg[params_[i].name] = m_[i];
    st.exp_avg_sq[params_[i].name] = v_[i];
  }
  return st;
}

void validate_state(const std::vector<autograd::nn::NamedParameter>& params, const AdamWState& st) {
  LAT_CHECK(st.step >= 0, "adamw: saved step count ", st.step, " is negative");
  for (const auto* table : {&st.exp_avg, &st.exp_avg_sq}) {
    const char* what = table == &st.exp_avg ? "exp_avg" : "exp_avg_sq";
    if (table->size() != params.size())
      for (const auto& [name, t] : *table) {
        bool known = false;
        for (const auto& p : params) known = known || p.name == name;
        if (!known) LAT_THROW("adamw: saved ", what, " has state for '", name, "', which is not a parameter");
      }
    for (const auto& p : params) {
      auto it = table->find(p.name);
      if (it == table->end()) LAT_THROW("adamw: saved ", what, " has no state for parameter '", p.name, "'");
      if (!it->second.defined() || it->second.shape() != p.variable.data().shape())
        LAT_THROW("adamw: saved ", what, " for '", p.name, "' is ", it->second.str(), ", expected shape ",
                  p.variable.data().shape().str());
    }
  }
}

void AdamW::load_state(const AdamWState& st) {
  validate_state(params_, st);
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i].copy_(st.exp_avg.at(params_[i].name));
    v_[i].copy_(st.exp_avg_sq.at(params_[i].name));
  }
  step_ = st.step;
}

}  // namespace lat::optim
