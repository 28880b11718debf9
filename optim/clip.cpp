#include "optim/clip.h"

#include "kernels/optim.h"

namespace lat::optim {

Tensor grad_sum_of_squares(const std::vector<autograd::nn::NamedParameter>& params,
                           const std::function<void(Tensor& sum_of_squares)>& combine) {
  std::vector<Tensor> grads;
  Device device = params.empty() ? Device::cpu() : params.front().variable.device();
  for (const auto& p : params) {
    const Tensor& g = p.variable.grad();
    if (g.defined()) grads.push_back(g.contiguous());
  }
  if (!grads.empty()) device = grads.front().device();
  Tensor sum = Tensor::empty(Shape{}, kernels::optimizer_scalar_dtype(device), device);
  kernels::sum_of_squares(grads, sum);
  if (combine) combine(sum);
  return sum;
}

GradientNorm global_grad_norm(const std::vector<autograd::nn::NamedParameter>& params, double max_norm,
                              const std::function<void(Tensor& sum_of_squares)>& combine) {
  const Tensor sum = grad_sum_of_squares(params, combine);
  GradientNorm r{Tensor::empty_like(sum), Tensor::empty_like(sum), Tensor()};
  kernels::clip_factor(sum, max_norm, r.norm, r.factor);
  return r;
}

}  // namespace lat::optim
