// The linear-attention core ops: lightning_attention (unnormalised) and its normalised form (SPEC §1, §4).
#include "autograd/attention_ops.h"
#include "core/error.h"
#include "kernels/lightning_attention.h"

namespace lat::autograd {

LinearAttentionOutput lightning_attention(const Variable& q, const Variable& k, const Variable& v,
                                          const Tensor& log_decay, int64_t block, const Variable& initial_state) {
  Tensor qc = q.data().contiguous(), kc = k.data().contiguous(), vc = v.data().contiguous();
  Tensor decay = log_decay.contiguous();
  Tensor init = initial_state.defined() ? initial_state.data().contiguous() : Tensor();
  LAT_CHECK(qc.ndim() == 4 && vc.ndim() == 4, "lightning_attention: q and v must be 4-D, got ", qc.str(), " and ",
            vc.str());
  Tensor out = Tensor::empty(vc.shape(), vc.dtype(), vc.device());
  Tensor state = Tensor::empty(Shape{qc.size(0), qc.size(1), qc.size(3), vc.size(3)}, vc.dtype(), vc.device());
  kernels::lightning_attention_forward(qc, kc, vc, decay, init, block, out, state);
  const bool need_init = initial_state.requires_grad();
  auto outs = record("lightning_attention", {q, k, v, initial_state}, {out, state},
                     [qc, kc, vc, decay, init, block, need_init](const std::vector<Tensor>& g) {
                       Tensor dq = Tensor::empty_like(qc), dk = Tensor::empty_like(kc), dv = Tensor::empty_like(vc);
                       Tensor dinit = need_init ? Tensor::empty_like(init) : Tensor();
                       kernels::lightning_attention_backward(qc, kc, vc, decay, init, block, g[0].contiguous(),
                                                             g[1].contiguous(), dq, dk, dv, dinit);
                       return std::vector<Tensor>{dq, dk, dv, dinit};
                     });
  return {outs[0], outs[1]};
}

LinearAttentionOutput lightning_attention_normalized(const Variable& q, const Variable& k, const Variable& v,
                                                     const Tensor& log_decay, int64_t block,
                                                     const Variable& initial_state, double eps) {
  Tensor qc = q.data().contiguous(), kc = k.data().contiguous(), vc = v.data().contiguous();
  LAT_CHECK(qc.ndim() == 4 && vc.ndim() == 4, "lightning_attention_normalized: q and v must be 4-D, got ",
            qc.str(), " and ", vc.str());
  LAT_CHECK(eps > 0, "lightning_attention_normalized: eps must be positive, got ", eps);
  Tensor decay = log_decay.contiguous();
  Tensor init = initial_state.defined() ? initial_state.data().contiguous() : Tensor();
  const Shape& vs = vc.shape();
  Tensor v_aug = Tensor::empty(Shape{vs[0], vs[1], vs[2], vs[3] + 1}, vc.dtype(), vc.device());
  kernels::augment_values(vc, v_aug);
  Tensor num = Tensor::empty_like(v_aug);
  Tensor state = Tensor::empty(Shape{qc.size(0), qc.size(1), qc.size(3), vs[3] + 1}, vc.dtype(), vc.device());
  kernels::lightning_attention_forward(qc, kc, v_aug, decay, init, block, num, state);
  Tensor out = Tensor::empty(vs, vc.dtype(), vc.device());
  Tensor den = Tensor::empty(Shape{vs[0], vs[1], vs[2]}, vc.dtype(), vc.device());
  kernels::normalize_by_denominator(num, eps, out, den);
  const bool need_init = initial_state.requires_grad();
  auto outs = record("lightning_attention_normalized", {q, k, v, initial_state}, {out, state},
                     [qc, kc, v_aug, decay, init, block, out, den, need_init](const std::vector<Tensor>& g) {
                       Tensor g_aug = Tensor::empty_like(v_aug);
                       kernels::denominator_backward(g[0].contiguous(), out, den, g_aug);
                       Tensor dq = Tensor::empty_like(qc), dk = Tensor::empty_like(kc);
                       Tensor dv_aug = Tensor::empty_like(v_aug);
                       Tensor dinit = need_init ? Tensor::empty_like(init) : Tensor();
                       kernels::lightning_attention_backward(qc, kc, v_aug, decay, init, block, g_aug,
                                                             g[1].contiguous(), dq, dk, dv_aug, dinit);
                       Tensor dv = Tensor::empty(out.shape(), out.dtype(), out.device());
                       kernels::drop_last_column(dv_aug, dv);
                       return std::vector<Tensor>{dq, dk, dv, dinit};
                     });
  return {outs[0], outs[1]};
}

}  // namespace lat::autograd
