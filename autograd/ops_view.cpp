// View ops: reshape, transpose, contiguous, slice. Forward shares storage where the layout allows (reshape
// copies a non-contiguous input first, as Tensor::reshape does); backward maps the gradient back to the
// input's shape.
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/documents.h"

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

namespace {

// Zeros rows [b, t] of y: [B, N, D] where a document starts (starts[b, t] = t): what crosses no boundary.
void zero_document_starts(Tensor& y, const Tensor& starts) {
  if (!starts.defined()) return;
  const int32_t* s = starts.data<int32_t>();
  const int64_t batch = y.size(0), n = y.size(1);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < n; ++t)
      if (s[b * n + t] == t) y.slice(0, b, b + 1).slice(1, t, t + 1).zero_();
}

}  // namespace

Variable shift_sequence(const Variable& x, const Tensor& previous, const Tensor& document_starts) {
  const char* op = "shift_sequence";
  LAT_CHECK(x.ndim() == 3, "shift_sequence: x must be [B, N, D], got ", x.shape().str());
  const int64_t n = x.size(1);
  if (document_starts.defined()) {
    kernels::check_document_starts(op, document_starts, x.size(0), n, document_starts);
    if (!document_starts.device().is_cpu()) kernels::no_cuda_document_boundaries(op);
  }
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
  zero_document_starts(out, document_starts);
  const Shape in_shape = x.shape();
  return record("shift_sequence", {x}, out, [in_shape, n, document_starts](const std::vector<Tensor>& g) {
    // y[:, t] = x[:, t - 1]: x[:, t] receives y's gradient at t + 1 (unless a document starts there); the last
    // position feeds nothing.
    Tensor d = Tensor::zeros(in_shape, g[0].dtype(), g[0].device());
    if (n > 1) {
      Tensor gy = g[0];
      if (document_starts.defined()) {
        gy = g[0].contiguous().clone();
        zero_document_starts(gy, document_starts);
      }
      Tensor head = d.slice(1, 0, n - 1);
      head.copy_(gy.slice(1, 1, n));
    }
    return std::vector<Tensor>{d};
  });
}

}  // namespace lat::autograd
