// Activations: silu, gelu (tanh approximation) and the fused swiglu gate. Each saves its inputs only.
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/activation.h"
#include "kernels/feature_maps.h"  // silu_forward / silu_backward

namespace lat::autograd {

Variable silu(const Variable& x) {
  // The SiLU kernels live with the attention feature maps (kernels/feature_maps.h), whose entry points take
  // [B, H, N, d]; a pointwise map does not care, so x is viewed as [1, 1, numel, 1].
  Tensor xc = x.data().contiguous();
  const Shape flat{1, 1, xc.numel(), 1};
  Tensor out = Tensor::empty(flat, xc.dtype(), xc.device());
  kernels::silu_forward(xc.view(flat), out);
  return record("silu", {x}, out.view(xc.shape()), [xc, flat](const std::vector<Tensor>& g) {
    Tensor dx = Tensor::empty(flat, xc.dtype(), xc.device());
    kernels::silu_backward(xc.view(flat), g[0].contiguous().view(flat), dx);
    return std::vector<Tensor>{dx.view(xc.shape())};
  });
}

Variable gelu(const Variable& x) {
  Tensor xc = x.data().contiguous();
  Tensor out = Tensor::empty_like(xc);
  kernels::gelu_forward(xc, out);
  return record("gelu", {x}, out, [xc](const std::vector<Tensor>& g) {
    Tensor dx = Tensor::empty_like(xc);
    kernels::gelu_backward(g[0].contiguous(), xc, dx);
    return std::vector<Tensor>{dx};
  });
}

Variable swiglu(const Variable& gate, const Variable& up) {
  if (gate.shape() != up.shape())
    LAT_THROW("swiglu: gate ", gate.shape().str(), " and up ", up.shape().str(), " differ in shape");
  Tensor gc = gate.data().contiguous(), uc = up.data().contiguous();
  Tensor out = Tensor::empty_like(gc);
  kernels::swiglu_forward(gc, uc, out);
  const bool need_gate = gate.requires_grad(), need_up = up.requires_grad();
  return record("swiglu", {gate, up}, out, [gc, uc, need_gate, need_up](const std::vector<Tensor>& g) {
    Tensor dgate = need_gate ? Tensor::empty_like(gc) : Tensor();
    Tensor dup = need_up ? Tensor::empty_like(uc) : Tensor();
    kernels::swiglu_backward(g[0].contiguous(), gc, uc, need_gate ? &dgate : nullptr,
                             need_up ? &dup : nullptr);
    return std::vector<Tensor>{dgate, dup};
  });
}

}  // namespace lat::autograd
