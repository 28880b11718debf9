// The linear-attention core ops: lightning_attention (unnormalised) and its normalised form (SPEC §1, §4).
#include "autograd/attention_ops.h"
#include "core/dtype.h"
#include "core/error.h"
#include "kernels/lightning_attention.h"

namespace lat::autograd {

namespace {

// A new [B, H, N, last] tensor laid out like `like`: [B, N, H, last] underneath when `like` is a [B, N, H, D]
// buffer seen as [B, H, N, D] (so the core writes the layout the projections around it use), else contiguous.
Tensor empty_in_layout_of(const Tensor& like, int64_t last) {
  const Shape& s = like.shape();
  if (like.strides()[1] < like.strides()[2] && s[1] > 1 && s[2] > 1)
    return Tensor::empty(Shape{s[0], s[2], s[1], last}, like.dtype(), like.device()).transpose(1, 2);
  return Tensor::empty(Shape{s[0], s[1], s[2], last}, like.dtype(), like.device());
}

// The op's outputs: out, and the final state when it was computed (undefined: not asked for).
std::vector<Tensor> outputs_of(const Tensor& out, const Tensor& state) {
  return state.defined() ? std::vector<Tensor>{out, state} : std::vector<Tensor>{out};
}
LinearAttentionOutput output_of(const std::vector<Variable>& outs) {
  return {outs[0], outs.size() > 1 ? outs[1] : Variable()};
}
// The final state's gradient, when the op had one as an output (undefined when unused: the kernels take none).
Tensor state_grad(const std::vector<Tensor>& g) { return g.size() > 1 ? g[1] : Tensor(); }

}  // namespace

LinearAttentionOutput lightning_attention(const Variable& q, const Variable& k, const Variable& v,
                                          const Tensor& log_decay, int64_t block, const Variable& initial_state,
                                          const kernels::CoreFeatureMap& feature_map, bool with_final_state,
                                          const Tensor& document_starts) {
  // q, k, v are used as they are laid out (the kernels take strides); results follow their layouts.
  const Tensor qd = q.data(), kd = k.data(), vd = v.data();
  Tensor decay = log_decay.contiguous();
  Tensor init = initial_state.defined() ? initial_state.data().contiguous() : Tensor();
  LAT_CHECK(qd.ndim() == 4 && vd.ndim() == 4, "lightning_attention: q and v must be 4-D, got ", qd.str(), " and ",
            vd.str());
  Tensor out = empty_in_layout_of(vd, vd.size(3));
  Tensor state = with_final_state ? Tensor::empty(Shape{qd.size(0), qd.size(1), feature_map.features(qd.size(3)),
                                                        vd.size(3)},
                                                  vd.dtype(), vd.device())
                                   : Tensor();
  Tensor segment_states;
  kernels::lightning_attention_forward(qd, kd, vd, decay, init, block, out, state, &segment_states, feature_map,
                                      document_starts);
  const bool need_init = initial_state.requires_grad();
  auto outs = record("lightning_attention", {q, k, v, initial_state}, outputs_of(out, state),
                     [qd, kd, vd, decay, init, block, need_init, segment_states, feature_map,
                      document_starts](const std::vector<Tensor>& g) {
                       Tensor dq = empty_in_layout_of(qd, qd.size(3)), dk = empty_in_layout_of(kd, kd.size(3));
                       Tensor dv = empty_in_layout_of(vd, vd.size(3));
                       Tensor dinit = need_init ? Tensor::empty_like(init) : Tensor();
                       kernels::lightning_attention_backward(qd, kd, vd, decay, init, block, g[0], state_grad(g), dq,
                                                             dk, dv, dinit, segment_states, feature_map,
                                                             document_starts);
                       return std::vector<Tensor>{dq, dk, dv, dinit};
                     });
  return output_of(outs);
}

LinearAttentionOutput lightning_attention_normalized(const Variable& q, const Variable& k, const Variable& v,
                                                     const Tensor& log_decay, int64_t block,
                                                     const Variable& initial_state, double eps, bool with_final_state,
                                                     const Tensor& document_starts) {
  Tensor qc = q.data().contiguous(), kc = k.data().contiguous(), vc = v.data().contiguous();
  LAT_CHECK(qc.ndim() == 4 && vc.ndim() == 4, "lightning_attention_normalized: q and v must be 4-D, got ",
            qc.str(), " and ", vc.str());
  LAT_CHECK(eps > 0, "lightning_attention_normalized: eps must be positive, got ", eps);
  Tensor decay = log_decay.contiguous();
  Tensor init = initial_state.defined() ? initial_state.data().contiguous() : Tensor();
  const Shape& vs = vc.shape();
  // The output and denominator the backward reads are kept in the accumulation dtype (see the kernel's note).
  const DType acc = accumulation_dtype(vc.dtype());
  Tensor out_acc = Tensor::empty(vs, acc, vc.device());
  Tensor den = Tensor::empty(Shape{vs[0], vs[1], vs[2]}, acc, vc.device());
  Tensor state = with_final_state
                     ? Tensor::empty(Shape{qc.size(0), qc.size(1), qc.size(3), vs[3] + 1}, vc.dtype(), vc.device())
                     : Tensor();
  kernels::lightning_attention_normalized_forward(qc, kc, vc, decay, init, block, eps, out_acc, state, den,
                                                  document_starts);
  const Tensor out = out_acc.to(vc.dtype());
  const bool need_init = initial_state.requires_grad();
  auto outs = record("lightning_attention_normalized", {q, k, v, initial_state}, outputs_of(out, state),
                     [qc, kc, vc, decay, init, block, eps, out_acc, den, need_init,
                      document_starts](const std::vector<Tensor>& g) {
                       Tensor dq = Tensor::empty_like(qc), dk = Tensor::empty_like(kc), dv = Tensor::empty_like(vc);
                       Tensor dinit = need_init ? Tensor::empty_like(init) : Tensor();
                       kernels::lightning_attention_normalized_backward(qc, kc, vc, decay, init, block, eps, out_acc, den,
                                                                        g[0], state_grad(g), dq, dk, dv, dinit,
                                                                        document_starts);
                       return std::vector<Tensor>{dq, dk, dv, dinit};
                     });
  return output_of(outs);
}

}  // namespace lat::autograd
