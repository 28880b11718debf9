// Feature-map ops (SPEC §2): forward and hand-written backward through kernels/feature_maps.h.
#include "autograd/attention_ops.h"
#include "core/error.h"
#include "kernels/feature_maps.h"

namespace lat::autograd {

Variable elu1_feature_map(const Variable& x) {
  Tensor xc = x.data().contiguous();
  Tensor y = Tensor::empty_like(xc);
  kernels::elu1_forward(xc, y);
  return record("elu1_feature_map", {x}, y, [xc](const std::vector<Tensor>& g) {
    Tensor dx = Tensor::empty_like(xc);
    kernels::elu1_backward(xc, g[0].contiguous(), dx);
    return std::vector<Tensor>{dx};
  });
}

Variable silu_feature_map(const Variable& x) {
  Tensor xc = x.data().contiguous();
  Tensor y = Tensor::empty_like(xc);
  kernels::silu_forward(xc, y);
  return record("silu_feature_map", {x}, y, [xc](const std::vector<Tensor>& g) {
    Tensor dx = Tensor::empty_like(xc);
    kernels::silu_backward(xc, g[0].contiguous(), dx);
    return std::vector<Tensor>{dx};
  });
}

Variable cosine_feature_map(const Variable& x, int64_t max_context, int64_t offset, const Tensor& document_starts) {
  Tensor xc = x.data().contiguous();
  LAT_CHECK(xc.ndim() == 4, "cosine_feature_map: x must be [B, H, N, d], got ", xc.shape().str());
  const Shape& s = xc.shape();
  Tensor y = Tensor::empty(Shape{s[0], s[1], s[2], 2 * s[3]}, xc.dtype(), xc.device());
  kernels::cosine_feature_forward(xc, max_context, offset, y, document_starts);
  return record("cosine_feature_map", {x}, y, [xc, max_context, offset, document_starts](const std::vector<Tensor>& g) {
    Tensor dx = Tensor::empty_like(xc);
    kernels::cosine_feature_backward(xc, max_context, offset, g[0].contiguous(), dx, document_starts);
    return std::vector<Tensor>{dx};
  });
}

RandomFeatureOutput random_feature_map(const Variable& x, const Tensor& w, bool is_query,
                                       const Tensor& key_stabilizer, const Tensor& document_starts) {
  Tensor xc = x.data().contiguous();
  LAT_CHECK(xc.ndim() == 4, "random_feature_map: x must be [B, H, N, d], got ", xc.shape().str());
  LAT_CHECK(w.defined() && w.ndim() == 2, "random_feature_map: w must be [m, d], got ",
            w.defined() ? w.str() : std::string("an undefined tensor"));
  // W lives on the host in f64 (Attention keeps it for checkpoints): cast and move it next to x.
  Tensor wc = w.to(xc.dtype()).to(xc.device()).contiguous();
  const Shape& s = xc.shape();
  Tensor y = Tensor::empty(Shape{s[0], s[1], s[2], wc.size(0)}, xc.dtype(), xc.device());
  const bool per_row = is_query || document_starts.defined();
  Tensor stab = Tensor::empty(per_row ? Shape{s[0], s[1], s[2]} : Shape{s[0], s[1]}, xc.dtype(), xc.device());
  Tensor fixed =
      key_stabilizer.defined() ? key_stabilizer.to(xc.dtype()).to(xc.device()).contiguous() : Tensor();
  kernels::random_feature_forward(xc, wc, is_query, fixed, y, stab, document_starts);
  Variable out = record("random_feature_map", {x}, y, [xc, wc, y](const std::vector<Tensor>& g) {
    Tensor dx = Tensor::empty_like(xc);
    kernels::random_feature_backward(xc, wc, y, g[0].contiguous(), dx);
    return std::vector<Tensor>{dx};
  });
  return {out, stab};
}

}  // namespace lat::autograd
