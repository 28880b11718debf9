// softmax_cross_entropy: the forward kernel produces the loss and dlogits in one pass (dlogits is the
// gradient of the mean loss); backward only scales the saved dlogits by the incoming scalar gradient.
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/loss.h"

namespace lat::autograd {

Variable softmax_cross_entropy(const Variable& logits, const Tensor& targets, int ignore_index) {
  LAT_CHECK(logits.ndim() == 2, "softmax_cross_entropy: logits must be [N, V], got ", logits.shape().str());
  LAT_CHECK(targets.defined() && targets.dtype() == DType::I32,
            "softmax_cross_entropy: targets must be an i32 tensor, got ", targets.str());
  if (targets.shape() != Shape{logits.size(0)})
    LAT_THROW("softmax_cross_entropy: targets have shape ", targets.shape().str(), ", expected [",
              logits.size(0), "] for logits ", logits.shape().str());
  Tensor lc = logits.data().contiguous();
  Tensor loss = Tensor::empty(Shape{}, accumulation_dtype(lc.dtype()), lc.device());
  // dlogits is only worth computing when someone will differentiate; without grad it is scratch space.
  Tensor dlogits = Tensor::empty_like(lc);
  kernels::softmax_cross_entropy_forward(lc, targets.contiguous(), ignore_index, loss, dlogits);
  if (!(grad_enabled() && logits.requires_grad())) dlogits = Tensor();  // free it now
  // The closure runs once (the engine frees it after), so it scales the saved dlogits in place: no second
  // [N, V] buffer.
  return record("softmax_cross_entropy", {logits}, loss, [dlogits](const std::vector<Tensor>& g) {
    Tensor d = dlogits;
    kernels::softmax_cross_entropy_backward(dlogits, g[0], d);
    return std::vector<Tensor>{d};
  });
}

}  // namespace lat::autograd
