// softmax_cross_entropy: the forward reads the logits once for the loss and per-row logsumexp; the backward reads
// them again (kept by the closure) and writes the gradient scaled by the incoming one. Nothing [N, V] is made
// in the forward.
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/loss.h"

namespace lat::autograd {

Variable softmax_cross_entropy(const Variable& logits, const Tensor& targets, int ignore_index, Tensor* invalid_targets) {
  LAT_CHECK(logits.ndim() == 2, "softmax_cross_entropy: logits must be [N, V], got ", logits.shape().str());
  LAT_CHECK(targets.defined() && targets.dtype() == DType::I32,
            "softmax_cross_entropy: targets must be an i32 tensor, got ", targets.str());
  if (targets.shape() != Shape{logits.size(0)})
    LAT_THROW("softmax_cross_entropy: targets have shape ", targets.shape().str(), ", expected [",
              logits.size(0), "] for logits ", logits.shape().str());
  Tensor lc = logits.data().contiguous();
  const DType acc = accumulation_dtype(lc.dtype());
  Tensor loss = Tensor::empty(Shape{}, acc, lc.device());
  Tensor stats = Tensor::empty(Shape{lc.size(0) + 1}, acc, lc.device());
  Tensor tc = targets.contiguous();
  kernels::softmax_cross_entropy_forward(lc, tc, ignore_index, loss, stats, invalid_targets);
  return record("softmax_cross_entropy", {logits}, loss, [lc, tc, stats, ignore_index](const std::vector<Tensor>& g) {
    Tensor d = Tensor::empty_like(lc);
    kernels::softmax_cross_entropy_backward(lc, tc, ignore_index, stats, g[0], d);
    return std::vector<Tensor>{d};
  });
}

}  // namespace lat::autograd
