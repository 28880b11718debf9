#include "optim/clip.h"

#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/optim.h"

namespace lat::optim {

double global_grad_norm(const std::vector<autograd::nn::NamedParameter>& params) {
  double total = 0.0;
  for (const auto& p : params) {
    const Tensor& g = p.variable.grad();
    if (g.defined()) total += kernels::sum_of_squares(g.contiguous());
  }
  return std::sqrt(total);
}

double clip_grad_norm(const std::vector<autograd::nn::NamedParameter>& params, double max_norm) {
  const double norm = global_grad_norm(params);
  if (max_norm > 0.0 && std::isfinite(norm) && norm > max_norm) {
    const double scale = max_norm / norm;
    for (const auto& p : params) {
      autograd::Variable v = p.variable;
      Tensor& g = v.grad();
      if (!g.defined()) continue;
      if (!g.is_contiguous()) g = g.contiguous();
      kernels::scale_(g, scale);
    }
  }
  return norm;
}

}  // namespace lat::optim
