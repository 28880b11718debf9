// Elementwise ops and reductions to a scalar.
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace lat::autograd {

Variable add(const Variable& a, const Variable& b) {
  check_same_shape("add", a.data(), b.data());
  Tensor out = Tensor::empty_like(a.data());
  kernels::add(a.data().contiguous(), b.data().contiguous(), out);
  return record("add", {a, b}, out, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0], g[0]}; });
}

Variable mul(const Variable& a, const Variable& b) {
  check_same_shape("mul", a.data(), b.data());
  Tensor ac = a.data().contiguous(), bc = b.data().contiguous();
  Tensor out = Tensor::empty_like(ac);
  kernels::mul(ac, bc, out);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record("mul", {a, b}, out, [ac, bc, need_a, need_b](const std::vector<Tensor>& g) {
    Tensor go = g[0].contiguous(), da, db;
    if (need_a) {
      da = Tensor::empty_like(ac);
      kernels::mul(go, bc, da);
    }
    if (need_b) {
      db = Tensor::empty_like(bc);
      kernels::mul(go, ac, db);
    }
    return std::vector<Tensor>{da, db};
  });
}

Variable scale(const Variable& a, double factor) {
  Tensor out = a.data().clone();
  kernels::scale_(out, factor);
  return record("scale", {a}, out, [factor](const std::vector<Tensor>& g) {
    Tensor d = g[0].clone();
    kernels::scale_(d, factor);
    return std::vector<Tensor>{d};
  });
}

Variable cast(const Variable& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  const DType from = x.dtype();
  return record("cast", {x}, x.data().to(dtype), [from](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].to(from)};
  });
}

Variable sum(const Variable& x) {
  Tensor out = Tensor::empty(Shape{}, x.dtype(), x.device());
  kernels::sum(x.data().contiguous(), out);
  const Shape shape = x.shape();
  return record("sum", {x}, out, [shape](const std::vector<Tensor>& g) {
    Tensor d = Tensor::empty(shape, g[0].dtype(), g[0].device());
    kernels::broadcast_scalar(g[0], d, 1.0);
    return std::vector<Tensor>{d};
  });
}

Variable mean(const Variable& x) {
  LAT_CHECK(x.data().numel() > 0, "mean of an empty tensor ", x.data().str());
  return scale(sum(x), 1.0 / static_cast<double>(x.data().numel()));
}

}  // namespace lat::autograd
