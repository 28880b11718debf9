#include "optim/clip.h"

#include "kernels/optim.h"

namespace lat::optim {

GradientNorm global_grad_norm(const std::vector<autograd::nn::NamedParameter>& params, double max_norm,
                              const std::function<void(Tensor& sum_of_squares)>& combine) {
  std::vector<Tensor> grads;
  Device device = params.empty() ? Device::cpu() : params.front().variable.device();
  for (const auto& p : params) {
    const Tensor& g = p.variable.grad();
    if (g.defined()) grads.push_back(g.contiguous());
  }
  if (!grads.empty()) device = grads.front().device();
  const DType dtype = kernels::optimizer_scalar_dtype(device);
  Tensor sum = Tensor::empty(Shape{}, dtype, device);
  GradientNorm r{Tensor::empty(Shape{}, dtype, device), Tensor::empty(Shape{}, dtype, device)};
  kernels::sum_of_squares(grads, sum);
  if (combine) combine(sum);
  kernels::clip_factor(sum, max_norm, r.norm, r.factor);
  return r;
}

}  // namespace lat::optim
