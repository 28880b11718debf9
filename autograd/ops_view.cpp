// View ops: reshape, transpose, contiguous, slice. Forward shares storage where the layout allows (reshape
// copies a non-contiguous input first, as Tensor::reshape does); backward maps the gradient back to the
// input's shape.
#include "autograd/ops.h"
#include "core/error.h"

namespace lat::autograd {

Variable reshape(const Variable& x, const std::vector<int64_t>& shape) {
  Tensor out = x.data().reshape(shape);
  const std::vector<int64_t> in_shape = x.shape().vec();
  return record("reshape", {x}, out, [in_shape](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].reshape(in_shape)};
  });
}

Variable transpose(const Variable& x, int d0, int d1) {
  Tensor out = x.data().transpose(d0, d1);
  return record("transpose", {x}, out, [d0, d1](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].transpose(d0, d1)};
  });
}

Variable contiguous(const Variable& x) {
  Tensor out = x.data().contiguous();
  return record("contiguous", {x}, out,
                [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
}

Variable slice(const Variable& x, int dim, int64_t start, int64_t end) {
  Tensor out = x.data().slice(dim, start, end);
  const Shape in_shape = x.shape();
  return record("slice", {x}, out, [in_shape, dim, start, end](const std::vector<Tensor>& g) {
    // The rows outside [start, end) did not reach the output: their gradient is zero.
    Tensor d = Tensor::zeros(in_shape, g[0].dtype(), g[0].device());
    Tensor window = d.slice(dim, start, end);
    window.copy_(g[0]);
    return std::vector<Tensor>{d};
  });
}

Variable shift_sequence(const Variable& x, const Tensor& previous) {
  LAT_CHECK(x.ndim() == 3, "shift_sequence: x must be [B, N, D], got ", x.shape().str());
  const int64_t n = x.size(1);
  Tensor out = Tensor::zeros(x.shape(), x.dtype(), x.device());
  if (previous.defined()) {
    check_shape("shift_sequence", "previous", previous, Shape{x.size(0), 1, x.size(2)});
    Tensor first = out.slice(1, 0, 1);
    first.copy_(previous);
  }
  if (n > 1) {
    Tensor rest = out.slice(1, 1, n);
    rest.copy_(x.data().slice(1, 0, n - 1));
  }
  const Shape in_shape = x.shape();
  return record("shift_sequence", {x}, out, [in_shape, n](const std::vector<Tensor>& g) {
    // y[:, t] = x[:, t - 1]: x[:, t] receives y's gradient at t + 1; the last position feeds nothing.
    Tensor d = Tensor::zeros(in_shape, g[0].dtype(), g[0].device());
    if (n > 1) {
      Tensor head = d.slice(1, 0, n - 1);
      head.copy_(g[0].slice(1, 1, n));
    }
    return std::vector<Tensor>{d};
  });
}

}  // namespace lat::autograd
