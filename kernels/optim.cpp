#include "kernels/optim.h"

#include <cmath>

#include "kernels/elementwise.h"

#include "kernels/cpu/optim.h"
#include "kernels/dispatch.h"
#include "kernels/step_guard_rule.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/adamw.cuh"
#endif

namespace lat::kernels {

void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWStep& step) {
  check_same_shape("adamw_step", param, grad);
  check_same_shape("adamw_step", param, m);
  check_same_shape("adamw_step", param, v);
  check_same_placement("adamw_step", param, grad);
  check_same_placement("adamw_step", param, m);
  check_same_placement("adamw_step", param, v);
  LAT_CHECK(param.is_contiguous() && grad.is_contiguous() && m.is_contiguous() && v.is_contiguous(),
            "adamw_step: operands must be contiguous");
  if (param.device().is_cuda()) {
    LAT_CHECK(param.dtype() == DType::F32, "adamw_step: CUDA kernel keeps f32 parameters, got ", param.str());
    LAT_IF_CUDA("adamw_step", param,
                cuda::adamw_step_one(param.data<float>(), grad.raw_data(), grad.dtype(), m.data<float>(),
                                     v.data<float>(), param.numel(),
                                     {step.lr, step.beta1, step.beta2, step.eps, step.bias_correction1,
                                      step.bias_correction2, nullptr},
                                     step.weight_decay));
    return;
  }
  dispatch_cpu_floating("adamw_step", param.dtype(), [&]<class T>() {
    cpu::adamw_step<T>(param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(), param.numel(), step);
  });
}

double sum_of_squares(const Tensor& x) {
  LAT_CHECK(x.is_contiguous(), "sum_of_squares: input must be contiguous");
  if (x.device().is_cuda()) {
    LAT_IF_CUDA("sum_of_squares", x, return cuda::sum_of_squares(x.raw_data(), x.dtype(), x.numel()));
  }
  double result = 0.0;
  dispatch_cpu_floating("sum_of_squares", x.dtype(), [&]<class T>() { result = cpu::sum_of_squares<T>(x.data<T>(), x.numel()); });
  return result;
}

namespace {

void check_scalar(const char* op, const char* what, const Tensor& t, Device device) {
  LAT_CHECK(t.defined() && t.numel() == 1 && t.is_contiguous(), op, ": ", what, " must be one element, got ",
            t.defined() ? t.str() : std::string("undefined"));
  LAT_CHECK(t.device() == device, op, ": ", what, " is on ", t.device().str(), ", the operands on ", device.str());
  const DType want = optimizer_scalar_dtype(device);
  LAT_CHECK(t.dtype() == want, op, ": ", what, " must be ", dtype_name(want), " on ", device.str(), ", got ",
            dtype_name(t.dtype()));
}

}  // namespace

void sum_of_squares(const std::vector<Tensor>& xs, Tensor& out) {
  const char* op = "sum_of_squares";
  const Device device = out.defined() ? out.device() : Device::cpu();
  check_scalar(op, "out", out, device);
  for (const Tensor& x : xs) {
    LAT_CHECK(x.is_contiguous() && x.device() == device, op, ": every input must be contiguous on ", device.str(),
              ", got ", x.str());
  }
  if (device.is_cuda()) {
#ifdef LAT_HAVE_CUDA
    std::vector<cuda::NormTensor> t;
    t.reserve(xs.size());
    for (const Tensor& x : xs) t.push_back({x.raw_data(), x.dtype(), x.numel()});
    cuda::global_sum_squares(t.data(), static_cast<int64_t>(t.size()), out.data<float>());
#else
    no_cuda_kernel(op, out);
#endif
    return;
  }
  double total = 0.0;
  for (const Tensor& x : xs) total += sum_of_squares(x);
  *out.data<double>() = total;
}

void clip_factor(const Tensor& sum_squares, double max_norm, Tensor& norm, Tensor& factor) {
  const char* op = "clip_factor";
  const Device device = sum_squares.device();
  check_scalar(op, "sum_squares", sum_squares, device);
  check_scalar(op, "norm", norm, device);
  check_scalar(op, "factor", factor, device);
  if (device.is_cuda()) {
    LAT_IF_CUDA(op, factor,
                cuda::clip_scale_from_sum_squares(sum_squares.data<float>(), static_cast<float>(max_norm),
                                                  factor.data<float>(), norm.data<float>()));
    return;
  }
  const double n = std::sqrt(*sum_squares.data<double>());
  *norm.data<double>() = n;
  *factor.data<double>() = max_norm > 0.0 && std::isfinite(n) && n > max_norm ? max_norm / n : 1.0;
}

const char* skip_reason_text(SkipReason reason) {
  switch (reason) {
    case SkipReason::None: return "applied";
    case SkipReason::InvalidTargets: return "out-of-vocabulary target";
    case SkipReason::NonFiniteLoss: return "non-finite loss";
    case SkipReason::NonFiniteGradient: return "non-finite gradient";
    case SkipReason::LossSpike: return "loss spike";
    case SkipReason::NormSpike: return "gradient-norm spike";
  }
  return "unknown";
}

void guard_step(const Tensor& sum_squares, const Tensor& loss, const Tensor& invalid_targets,
                const StepGuardParams& params, Tensor& state, Tensor& norm, Tensor& factor, Tensor& verdict) {
  const char* op = "guard_step";
  const Device device = sum_squares.device();
  check_scalar(op, "sum_squares", sum_squares, device);
  check_scalar(op, "norm", norm, device);
  check_scalar(op, "factor", factor, device);
  check_scalar(op, "verdict", verdict, device);
  LAT_CHECK(state.defined() && state.numel() == kGuardStateSize && state.dtype() == DType::F64 &&
                state.is_contiguous() && state.device() == device,
            op, ": state must be ", kGuardStateSize, " contiguous f64 values on ", device.str(), ", got ",
            state.defined() ? state.str() : std::string("undefined"));
  for (const Tensor* t : {&loss, &invalid_targets}) {
    if (!t->defined()) continue;
    LAT_CHECK(t->numel() == 1 && t->device() == device && is_floating(t->dtype()), op,
              ": loss and invalid_targets must be one floating element on ", device.str(), ", got ", t->str());
  }
  if (device.is_cuda()) {
#ifdef LAT_HAVE_CUDA
    for (const Tensor* t : {&loss, &invalid_targets})
      LAT_CHECK(!t->defined() || t->dtype() == DType::F32, op, ": CUDA reads f32 scalars, got ", t->str());
    cuda::GuardHyper h{params.max_norm, params.loss_z, params.norm_z, params.ema_beta,
                       static_cast<double>(params.warmup_steps)};
    cuda::guard_step(sum_squares.data<float>(), loss.defined() ? loss.data<float>() : nullptr,
                     invalid_targets.defined() ? invalid_targets.data<float>() : nullptr, h, state.data<double>(),
                     norm.data<float>(), factor.data<float>(), verdict.data<float>());
#else
    no_cuda_kernel(op, sum_squares);
#endif
    return;
  }
  double loss_value = 0, invalid = 0, n = 0, f = 0;
  if (loss.defined()) loss_value = loss.item();
  if (invalid_targets.defined()) invalid = invalid_targets.item();
  const int code = guard_rule::decide(*sum_squares.data<double>(), loss.defined() ? &loss_value : nullptr,
                                      invalid_targets.defined() ? &invalid : nullptr, params.max_norm, params.loss_z,
                                      params.norm_z, params.ema_beta, static_cast<double>(params.warmup_steps),
                                      state.data<double>(), &n, &f);
  *norm.data<double>() = n;
  *factor.data<double>() = f;
  *verdict.data<double>() = code;
}

void adamw_step(const std::vector<AdamWParam>& params, const AdamWStep& step, const Tensor& grad_scale) {
  const char* op = "adamw_step";
  if (params.empty()) return;
  const Device device = params.front().param.device();
  if (grad_scale.defined()) check_scalar(op, "grad_scale", grad_scale, device);
  for (const AdamWParam& p : params) {
    check_same_shape(op, p.param, p.grad);
    check_same_shape(op, p.param, p.m);
    check_same_shape(op, p.param, p.v);
    check_same_device(op, p.param, p.grad);
    check_same_placement(op, p.param, p.m);
    check_same_placement(op, p.param, p.v);
    LAT_CHECK(p.param.device() == device, op, ": parameters on different devices (", device.str(), " and ",
              p.param.device().str(), ")");
    LAT_CHECK(p.param.is_contiguous() && p.grad.is_contiguous() && p.m.is_contiguous() && p.v.is_contiguous(), op,
              ": operands must be contiguous");
  }
  if (device.is_cuda()) {
#ifdef LAT_HAVE_CUDA
    std::vector<cuda::AdamWTensor> t;
    t.reserve(params.size());
    for (const AdamWParam& p : params) {
      LAT_CHECK(p.param.dtype() == DType::F32, op, ": CUDA kernel keeps f32 parameters, got ", p.param.str());
      cuda::AdamWTensor d;
      d.param = p.param.data<float>();
      d.grad = p.grad.raw_data(), d.grad_dtype = p.grad.dtype();
      d.m = p.m.data<float>(), d.v = p.v.data<float>();
      d.n = p.param.numel(), d.weight_decay = p.weight_decay;
      t.push_back(d);
    }
    cuda::adamw_step(t.data(), static_cast<int64_t>(t.size()),
                     {step.lr, step.beta1, step.beta2, step.eps, step.bias_correction1, step.bias_correction2,
                      grad_scale.defined() ? grad_scale.data<float>() : nullptr});
#else
    no_cuda_kernel(op, params.front().param);
#endif
    return;
  }
  const double scale = grad_scale.defined() ? *grad_scale.data<double>() : 1.0;
  if (scale == 0.0) return;  // a skipped step (guard_step): nothing moves
  for (const AdamWParam& p : params) {
    Tensor param = p.param, m = p.m, v = p.v, g = p.grad;
    LAT_CHECK(g.dtype() == param.dtype(), op, ": gradient ", g.str(), " and parameter ", param.str(), " differ in dtype");
    if (scale != 1.0) {
      g = g.clone();
      scale_(g, scale);
    }
    AdamWStep s = step;
    s.weight_decay = p.weight_decay;
    adamw_step(param, g, m, v, s);
  }
}

}  // namespace lat::kernels
