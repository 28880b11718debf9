// RoPE as an op (SPEC §3): the backward is the inverse rotation of the incoming gradient.
#include "autograd/attention_ops.h"
#include "kernels/rope.h"

namespace lat::autograd {

Variable rope(const Variable& x, int64_t offset, double base, const Tensor& document_starts) {
  Tensor xc = x.data().contiguous();
  Tensor y = Tensor::empty_like(xc);
  kernels::rope_forward(xc, offset, base, false, y, document_starts);
  return record("rope", {x}, y, [offset, base, document_starts](const std::vector<Tensor>& g) {
    Tensor gc = g[0].contiguous();
    Tensor dx = Tensor::empty_like(gc);
    kernels::rope_forward(gc, offset, base, true, dx, document_starts);
    return std::vector<Tensor>{dx};
  });
}

}  // namespace lat::autograd
