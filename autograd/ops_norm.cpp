// rmsnorm: one fused op (forward saves rstd per row; backward is its own kernel, see kernels/norm.h).
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/norm.h"

namespace lat::autograd {

Variable rmsnorm(const Variable& x, const Variable& gain_param, double eps) {
  LAT_CHECK(x.ndim() >= 1, "rmsnorm: x must have at least one dim, got ", x.shape().str());
  const Variable gain = cast(gain_param, x.dtype());
  if (gain.shape() != Shape{x.size(-1)})
    LAT_THROW("rmsnorm: gain has shape ", gain.shape().str(), ", expected [", x.size(-1), "] for x ",
              x.shape().str());
  Tensor xc = x.data().contiguous(), gc = gain.data().contiguous();
  std::vector<int64_t> rows = xc.shape().vec();
  rows.pop_back();
  Tensor out = Tensor::empty_like(xc), rstd = Tensor::empty(Shape(rows), xc.dtype(), xc.device());
  kernels::rmsnorm_forward(xc, gc, eps, out, rstd);
  const bool need_x = x.requires_grad(), need_gain = gain.requires_grad();
  return record("rmsnorm", {x, gain}, out, [xc, gc, rstd, need_x, need_gain](const std::vector<Tensor>& g) {
    Tensor dx = need_x ? Tensor::empty_like(xc) : Tensor();
    Tensor dgain = need_gain ? Tensor::empty_like(gc) : Tensor();
    kernels::rmsnorm_backward(g[0].contiguous(), xc, gc, rstd, need_x ? &dx : nullptr,
                              need_gain ? &dgain : nullptr);
    return std::vector<Tensor>{dx, dgain};
  });
}

}  // namespace lat::autograd
