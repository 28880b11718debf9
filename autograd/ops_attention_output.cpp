// Output-form ops: NormAttention's per-head RMSNorm (no gain, as TransNormerLLM's SimpleRMSNorm) and the
// sigmoid output gate.
#include "autograd/attention_ops.h"
#include "kernels/attention_output.h"

namespace lat::autograd {

Variable head_rmsnorm(const Variable& x, double eps) {
  Tensor xc = x.data().contiguous();
  Tensor y = Tensor::empty_like(xc);
  // fp32 statistics on CUDA (the kernel's contract); the CPU keeps x's dtype (f64 gradchecks).
  const DType inv_dtype = xc.device().is_cuda() ? DType::F32 : xc.dtype();
  Tensor inv = Tensor::empty(Shape{xc.numel() / xc.size(-1)}, inv_dtype, xc.device());
  kernels::head_rmsnorm_forward(xc, eps, y, inv);
  return record("head_rmsnorm", {x}, y, [y, inv](const std::vector<Tensor>& g) {
    Tensor dx = Tensor::empty_like(y);
    kernels::head_rmsnorm_backward(y, inv, g[0].contiguous(), dx);
    return std::vector<Tensor>{dx};
  });
}

Variable sigmoid_gate(const Variable& x, const Variable& gate) {
  Tensor xc = x.data().contiguous(), gc = gate.data().contiguous();
  Tensor y = Tensor::empty_like(xc);
  kernels::sigmoid_gate_forward(xc, gc, y);
  const bool need_x = x.requires_grad(), need_g = gate.requires_grad();
  return record("sigmoid_gate", {x, gate}, y, [xc, gc, need_x, need_g](const std::vector<Tensor>& g) {
    Tensor dx = need_x ? Tensor::empty_like(xc) : Tensor();
    Tensor dg = need_g ? Tensor::empty_like(gc) : Tensor();
    kernels::sigmoid_gate_backward(xc, gc, g[0].contiguous(), dx, dg);
    return std::vector<Tensor>{dx, dg};
  });
}

}  // namespace lat::autograd
