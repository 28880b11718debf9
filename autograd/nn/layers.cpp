#include "autograd/nn/layers.h"

#include <cmath>

#include "autograd/nn/init.h"
#include "autograd/ops.h"

namespace lat::autograd::nn {

Linear::Linear(const InitContext& ctx, int64_t in, int64_t out, double std) {
  const double s = std > 0 ? std : 1.0 / std::sqrt(static_cast<double>(in));
  weight = register_parameter("weight", init_normal(Shape{out, in}, s, ctx.seed, ctx.full_name("weight"), ctx.device));
}

Variable Linear::forward(const Variable& x) const { return linear(x, weight); }

Embedding::Embedding(const InitContext& ctx, int64_t vocab, int64_t dim) {
  weight = register_parameter("weight", init_normal(Shape{vocab, dim}, 0.02, ctx.seed, ctx.full_name("weight"), ctx.device),
                              /*weight_decay=*/false);
}

Variable Embedding::forward(const Tensor& ids) const { return embedding(weight, ids); }

RMSNorm::RMSNorm(const InitContext& ctx, int64_t dim, double eps_) : eps(eps_) {
  gain = register_parameter("gain", Tensor::full(Shape{dim}, 1.0, DType::F32, ctx.device), /*weight_decay=*/false);
}

Variable RMSNorm::forward(const Variable& x) const { return rmsnorm(x, gain, eps); }

SwiGLUMLP::SwiGLUMLP(const InitContext& ctx, int64_t dim, int64_t hidden, double out_std)
    : w_gate(ctx.child("w_gate"), dim, hidden),
      w_up(ctx.child("w_up"), dim, hidden),
      w_down(ctx.child("w_down"), hidden, dim, out_std) {
  register_module("w_gate", w_gate);
  register_module("w_up", w_up);
  register_module("w_down", w_down);
}

Variable SwiGLUMLP::forward(const Variable& x) const { return w_down.forward(swiglu(w_gate.forward(x), w_up.forward(x))); }

}  // namespace lat::autograd::nn
