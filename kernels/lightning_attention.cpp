// Shape checks and device dispatch for kernels/lightning_attention.h.
#include "kernels/lightning_attention.h"

#include "kernels/cpu/lightning_attention.h"
#include "kernels/dispatch.h"
#include "kernels/feature_maps.h"

#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#include "kernels/cuda/attention_normalize.cuh"
#include "kernels/cuda/lightning_attention.cuh"
#endif

namespace lat::kernels {
namespace {

struct Dims {
  int64_t batch, heads, n, m, e;
};

Dims check_core(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                const Tensor& initial_state, int64_t block) {
  LAT_CHECK(q.ndim() == 4, op, ": q must be [B, H, N, m], got ", q.shape().str());
  const Dims d{q.size(0), q.size(1), q.size(2), q.size(3), v.ndim() == 4 ? v.size(3) : -1};
  check_shape(op, "k", k, q.shape());
  check_shape(op, "v", v, Shape{d.batch, d.heads, d.n, d.e});
  check_shape(op, "log_decay", log_decay, Shape{d.heads});
  if (initial_state.defined()) {
    check_shape(op, "initial_state", initial_state, Shape{d.batch, d.heads, d.m, d.e});
    check_same_placement(op, q, initial_state);
  }
  LAT_CHECK(block >= 1, op, ": block must be ≥ 1, got ", block);
  check_same_placement(op, q, k);
  check_same_placement(op, q, v);
  check_same_device(op, q, log_decay);
  LAT_CHECK(log_decay.dtype() == q.dtype() || log_decay.dtype() == accumulation_dtype(q.dtype()), op,
            ": log_decay must be ", dtype_name(q.dtype()), " or ", dtype_name(accumulation_dtype(q.dtype())), " for ",
            dtype_name(q.dtype()), " operands, got ", dtype_name(log_decay.dtype()));
  return d;
}

// Operands and results may have any strides (e.g. [B, N, H, D] buffers seen as [B, H, N, D]): the CUDA fast path
// reads and writes them in place; the other paths work on contiguous copies and copy results back.
Tensor contiguous_or_empty(const Tensor& t) { return t.defined() ? t.contiguous() : Tensor(); }
// `out` itself when it can be written directly, else a contiguous stand-in of its shape and `dtype`.
Tensor target_for(const Tensor& out, DType dtype, bool strided_ok) {
  if (!out.defined() || (out.dtype() == dtype && (strided_ok || out.is_contiguous()))) return out;
  return Tensor::empty(out.shape(), dtype, out.device());
}
void copy_back(Tensor& out, const Tensor& result) {
  if (out.defined() && result.raw_data() != out.raw_data()) out.copy_(result);
}

// φ(x) into a new contiguous tensor, and x's gradient from φ(x)'s (the paths that do not fuse the map).
Tensor mapped(CoreFeatureMap f, const Tensor& x) {
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty_like(xc);
  if (f == CoreFeatureMap::Elu1) elu1_forward(xc, y);
  else silu_forward(xc, y);
  return y;
}
void mapped_backward(CoreFeatureMap f, const Tensor& x, const Tensor& grad_mapped, Tensor& grad_x) {
  const Tensor xc = x.contiguous();
  Tensor gx = target_for(grad_x, grad_x.dtype(), false);
  if (f == CoreFeatureMap::Elu1) elu1_backward(xc, grad_mapped, gx);
  else silu_backward(xc, grad_mapped, gx);
  copy_back(grad_x, gx);
}

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mut_ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}


#ifdef LAT_HAVE_CUDA
// CUDA branch (kernels/cuda/lightning_attention.cuh). q/k/v/o may be bf16 or f32. Fast path (m == e ∈ {64, 128}):
// the tensor-core kernels run in bf16 with fp32 accumulation and fp32 state, reading and writing bf16 tensors
// in place through their strides; f32 operands are rounded to bf16 on the way in and results cast back. Other
// shapes (d ≠ e, e.g. the normalised form's e + 1) run the generic fp32 recurrence on contiguous operands of
// their own dtype. Log-decay and the states are handled in f32 (cast when the tensors hold another dtype).
Tensor f32_or_empty(const Tensor& t) { return t.defined() ? t.to(DType::F32).contiguous() : Tensor(); }
const float* f32_ptr(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
float* f32_mut(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
cuda::La2View la2_view(const Tensor& t) { return {t.raw_data(), t.strides()[0], t.strides()[1], t.strides()[2]}; }
bool la2_in_place(const Tensor& t) {
  return t.dtype() == DType::BF16 && (t.strides()[3] == 1 || t.size(3) == 1) && cuda::la2_view_supported(la2_view(t));
}
// A bf16 operand the fast path reads in place.
Tensor bf16_operand(const Tensor& t) { return la2_in_place(t) ? t : t.to(DType::BF16).contiguous(); }
// The bf16 tensor the fast path writes: `out` itself when it can, else a contiguous stand-in (copy_back).
Tensor bf16_result(const Tensor& out) { return la2_in_place(out) ? out : target_for(out, DType::BF16, false); }
Tensor f32_workspace(int64_t floats, const Tensor& like) {
  return floats > 0 ? Tensor::empty(Shape{floats}, DType::F32, like.device()) : Tensor();
}
Tensor cuda_workspace(const Dims& d, const Tensor& like) {
  return f32_workspace(cuda::la2_workspace_floats(d.batch * d.heads, d.n, d.m), like);
}
Tensor generic_workspace(const Dims& d, const Tensor& like) {
  return f32_workspace(cuda::la2_generic_workspace_floats(d.batch * d.heads, d.m, d.e), like);
}
cuda::La2Feature la2_feature(CoreFeatureMap f) {
  switch (f) {
    case CoreFeatureMap::Elu1: return cuda::La2Feature::Elu1;
    case CoreFeatureMap::Silu: return cuda::La2Feature::Silu;
    case CoreFeatureMap::Identity: break;
  }
  return cuda::La2Feature::Identity;
}
void check_cuda_dtype(const char* op, const Tensor& q) {
  LAT_CHECK(q.dtype() == DType::BF16 || q.dtype() == DType::F32, op, ": CUDA kernel supports bf16 and f32, got ",
            dtype_name(q.dtype()));
}

void cuda_forward(const Dims& d, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                  const Tensor& initial_state, Tensor& out, Tensor& final_state, Tensor* segment_states,
                  CoreFeatureMap feature_map) {
  check_cuda_dtype("lightning_attention", q);
  const Tensor decay = log_decay.to(DType::F32).contiguous();
  const Tensor init = f32_or_empty(initial_state);
  Tensor fin = target_for(final_state, DType::F32, false);
  if (cuda::la2_fast_supported(d.m, d.e)) {
    const Tensor qb = bf16_operand(q), kb = bf16_operand(k), vb = bf16_operand(v);
    Tensor ob = bf16_result(out);
    Tensor ws = cuda_workspace(d, q);
    cuda::la2_forward_bf16({la2_view(qb), la2_view(kb), la2_view(vb), la2_view(ob), la2_feature(feature_map),
                            f32_ptr(decay), f32_ptr(init), f32_mut(fin), d.batch, d.heads, d.n, d.m, f32_mut(ws)});
    copy_back(out, ob);
    if (segment_states != nullptr) *segment_states = ws;
  } else {
    const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    Tensor oc = target_for(out, out.dtype(), false), state_ws = generic_workspace(d, q);
    cuda::la2_forward_generic(q.dtype(), qc.raw_data(), kc.raw_data(), vc.raw_data(), f32_ptr(decay), f32_ptr(init),
                              oc.raw_data(), f32_mut(fin), d.batch, d.heads, d.n, d.m, d.e, f32_mut(state_ws));
    copy_back(out, oc);
  }
  copy_back(final_state, fin);
}

void cuda_backward(const Dims& d, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                   const Tensor& initial_state, const Tensor& grad_out, const Tensor& grad_final_state,
                   Tensor& grad_q, Tensor& grad_k, Tensor& grad_v, Tensor& grad_initial_state,
                   const Tensor& segment_states, CoreFeatureMap feature_map) {
  check_cuda_dtype("lightning_attention_backward", q);
  const Tensor decay = log_decay.to(DType::F32).contiguous();
  const Tensor init = f32_or_empty(initial_state);
  const Tensor gfin = f32_or_empty(grad_final_state);
  Tensor ginit = target_for(grad_initial_state, DType::F32, false);
  if (cuda::la2_fast_supported(d.m, d.e)) {
    const Tensor qb = bf16_operand(q), kb = bf16_operand(k), vb = bf16_operand(v), gb = bf16_operand(grad_out);
    Tensor dqb = bf16_result(grad_q), dkb = bf16_result(grad_k), dvb = bf16_result(grad_v);
    Tensor ws = cuda_workspace(d, q);
    LAT_CHECK(!segment_states.defined() || (ws.defined() && segment_states.shape() == ws.shape() &&
                                             segment_states.dtype() == DType::F32 && segment_states.is_contiguous()),
              "lightning_attention_backward: segment_states ", segment_states.str(),
              " were not made by the forward of these operands");
    cuda::la2_backward_bf16({la2_view(qb), la2_view(kb), la2_view(vb), la2_view(gb), la2_view(dqb), la2_view(dkb),
                             la2_view(dvb), la2_feature(feature_map), f32_ptr(decay), f32_ptr(init), f32_ptr(gfin), f32_mut(ginit), d.batch,
                             d.heads, d.n, d.m, f32_ptr(segment_states), f32_mut(ws)});
    copy_back(grad_q, dqb);
    copy_back(grad_k, dkb);
    copy_back(grad_v, dvb);
  } else {
    const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous(), gc = grad_out.contiguous();
    Tensor dq = target_for(grad_q, grad_q.dtype(), false), dk = target_for(grad_k, grad_k.dtype(), false),
           dv = target_for(grad_v, grad_v.dtype(), false);
    Tensor state_ws = generic_workspace(d, q);
    cuda::la2_backward_generic(q.dtype(), qc.raw_data(), kc.raw_data(), vc.raw_data(), f32_ptr(decay), f32_ptr(init),
                               gc.raw_data(), f32_ptr(gfin), dq.raw_data(), dk.raw_data(), dv.raw_data(),
                               f32_mut(ginit), d.batch, d.heads, d.n, d.m, d.e, f32_mut(state_ws));
    copy_back(grad_q, dq);
    copy_back(grad_k, dk);
    copy_back(grad_v, dv);
  }
  copy_back(grad_initial_state, ginit);
}
#endif

// Whether this call's path applies the feature map itself (the CUDA fast path); the others get φ(q), φ(k) first.
bool fuses_feature_map(const Tensor& q, const Dims& d) {
#ifdef LAT_HAVE_CUDA
  return q.device().is_cuda() && cuda::la2_fast_supported(d.m, d.e);
#else
  (void)q;
  (void)d;
  return false;
#endif
}

}  // namespace

void lightning_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                 const Tensor& initial_state, int64_t block, Tensor& out, Tensor& final_state,
                                 Tensor* segment_states, CoreFeatureMap feature_map) {
  const char* op = "lightning_attention";
  const Dims d = check_core(op, q, k, v, log_decay, initial_state, block);
  check_shape(op, "out", out, v.shape());
  check_shape(op, "final_state", final_state, Shape{d.batch, d.heads, d.m, d.e});
  if (segment_states != nullptr) *segment_states = Tensor();
  if (feature_map != CoreFeatureMap::Identity && !fuses_feature_map(q, d)) {
    lightning_attention_forward(mapped(feature_map, q), mapped(feature_map, k), v, log_decay, initial_state, block,
                                out, final_state, segment_states);
    return;
  }
  if (q.device().is_cuda()) {
    LAT_IF_CUDA(op, q,
                cuda_forward(d, q, k, v, log_decay, initial_state, out, final_state, segment_states, feature_map));
    return;
  }
  const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous(), decay = log_decay.contiguous();
  const Tensor init = contiguous_or_empty(initial_state);
  Tensor oc = target_for(out, out.dtype(), false), fin = target_for(final_state, final_state.dtype(), false);
  dispatch_cpu_floating(op, q.dtype(), [&]<class T>() {
    cpu::lightning_attention_forward<T>(qc.data<T>(), kc.data<T>(), vc.data<T>(), decay.data<T>(),
                                        ptr_or_null<T>(init), oc.data<T>(), fin.data<T>(), d.batch, d.heads, d.n,
                                        d.m, d.e, block);
  });
  copy_back(out, oc);
  copy_back(final_state, fin);
}

void lightning_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                  const Tensor& initial_state, int64_t block, const Tensor& grad_out,
                                  const Tensor& grad_final_state, Tensor& grad_q, Tensor& grad_k, Tensor& grad_v,
                                  Tensor& grad_initial_state, const Tensor& segment_states,
                                  CoreFeatureMap feature_map) {
  const char* op = "lightning_attention_backward";
  const Dims d = check_core(op, q, k, v, log_decay, initial_state, block);
  const Shape state_shape{d.batch, d.heads, d.m, d.e};
  check_shape(op, "grad_out", grad_out, v.shape());
  if (grad_final_state.defined()) check_shape(op, "grad_final_state", grad_final_state, state_shape);
  check_shape(op, "grad_q", grad_q, q.shape());
  check_shape(op, "grad_k", grad_k, k.shape());
  check_shape(op, "grad_v", grad_v, v.shape());
  if (grad_initial_state.defined()) check_shape(op, "grad_initial_state", grad_initial_state, state_shape);
  if (feature_map != CoreFeatureMap::Identity && !fuses_feature_map(q, d)) {
    const Tensor qf = mapped(feature_map, q), kf = mapped(feature_map, k);
    Tensor dqf = Tensor::empty_like(qf), dkf = Tensor::empty_like(kf);
    lightning_attention_backward(qf, kf, v, log_decay, initial_state, block, grad_out, grad_final_state, dqf, dkf,
                                 grad_v, grad_initial_state, segment_states);
    mapped_backward(feature_map, q, dqf, grad_q);
    mapped_backward(feature_map, k, dkf, grad_k);
    return;
  }
  if (q.device().is_cuda()) {
    LAT_IF_CUDA(op, q,
                cuda_backward(d, q, k, v, log_decay, initial_state, grad_out, grad_final_state, grad_q, grad_k,
                              grad_v, grad_initial_state, segment_states, feature_map));
    return;
  }
  const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous(), decay = log_decay.contiguous();
  const Tensor init = contiguous_or_empty(initial_state), gc = grad_out.contiguous();
  const Tensor gfin = contiguous_or_empty(grad_final_state);
  Tensor dq = target_for(grad_q, grad_q.dtype(), false), dk = target_for(grad_k, grad_k.dtype(), false),
         dv = target_for(grad_v, grad_v.dtype(), false);
  Tensor dinit = target_for(grad_initial_state, grad_initial_state.defined() ? grad_initial_state.dtype() : q.dtype(),
                            false);
  dispatch_cpu_floating(op, q.dtype(), [&]<class T>() {
    cpu::lightning_attention_backward<T>(qc.data<T>(), kc.data<T>(), vc.data<T>(), decay.data<T>(),
                                         ptr_or_null<T>(init), gc.data<T>(), ptr_or_null<T>(gfin), dq.data<T>(),
                                         dk.data<T>(), dv.data<T>(), mut_ptr_or_null<T>(dinit), d.batch, d.heads,
                                         d.n, d.m, d.e, block);
  });
  copy_back(grad_q, dq);
  copy_back(grad_k, dk);
  copy_back(grad_v, dv);
  copy_back(grad_initial_state, dinit);
}

void augment_values(const Tensor& v, Tensor& v_aug) {
  const char* op = "augment_values";
  LAT_CHECK(v.ndim() == 4 && v.is_contiguous(), op, ": v must be a contiguous [B, H, N, e], got ", v.str());
  check_shape(op, "v_aug", v_aug, Shape{v.size(0), v.size(1), v.size(2), v.size(3) + 1});
  check_same_placement(op, v, v_aug);
  if (v.device().is_cuda()) {
    LAT_IF_CUDA(op, v, cuda::augment_values(v.raw_data(), v_aug.raw_data(), v.dtype(), v.numel() / v.size(3), v.size(3)));
    return;
  }
  dispatch_cpu_floating(op, v.dtype(), [&]<class T>() {
    cpu::augment_values<T>(v.data<T>(), v_aug.data<T>(), v.numel() / v.size(3), v.size(3));
  });
}

void normalize_by_denominator(const Tensor& num_aug, double eps, Tensor& out, Tensor& denominator) {
  const char* op = "normalize_by_denominator";
  LAT_CHECK(num_aug.ndim() == 4 && num_aug.is_contiguous() && num_aug.size(3) >= 2, op,
            ": num_aug must be a contiguous [B, H, N, e + 1], got ", num_aug.str());
  const Shape& s = num_aug.shape();
  check_shape(op, "out", out, Shape{s[0], s[1], s[2], s[3] - 1});
  check_shape(op, "denominator", denominator, Shape{s[0], s[1], s[2]});
  check_same_placement(op, num_aug, out);
  check_same_placement(op, num_aug, denominator);
  if (num_aug.device().is_cuda()) {
    LAT_IF_CUDA(op, num_aug,
                cuda::normalize_by_denominator(num_aug.raw_data(), eps, out.raw_data(), denominator.raw_data(),
                                               num_aug.dtype(), s[0] * s[1] * s[2], s[3] - 1));
    return;
  }
  dispatch_cpu_floating(op, num_aug.dtype(), [&]<class T>() {
    cpu::normalize_by_denominator<T>(num_aug.data<T>(), static_cast<T>(eps), out.data<T>(), denominator.data<T>(),
                                     s[0] * s[1] * s[2], s[3] - 1);
  });
}

void denominator_backward(const Tensor& grad_out, const Tensor& out, const Tensor& denominator, Tensor& grad_aug) {
  const char* op = "denominator_backward";
  LAT_CHECK(out.ndim() == 4, op, ": out must be [B, H, N, e], got ", out.shape().str());
  const Shape& s = out.shape();
  check_shape(op, "grad_out", grad_out, s);
  check_shape(op, "denominator", denominator, Shape{s[0], s[1], s[2]});
  check_shape(op, "grad_aug", grad_aug, Shape{s[0], s[1], s[2], s[3] + 1});
  check_same_placement(op, out, grad_out);
  check_same_placement(op, out, denominator);
  check_same_placement(op, out, grad_aug);
  LAT_CHECK(grad_out.is_contiguous() && out.is_contiguous(), op, ": grad_out and out must be contiguous");
  if (out.device().is_cuda()) {
    LAT_IF_CUDA(op, out,
                cuda::denominator_backward(grad_out.raw_data(), out.raw_data(), denominator.raw_data(),
                                           grad_aug.raw_data(), out.dtype(), s[0] * s[1] * s[2], s[3]));
    return;
  }
  dispatch_cpu_floating(op, out.dtype(), [&]<class T>() {
    cpu::denominator_backward<T>(grad_out.data<T>(), out.data<T>(), denominator.data<T>(), grad_aug.data<T>(),
                                 s[0] * s[1] * s[2], s[3]);
  });
}

void drop_last_column(const Tensor& x_aug, Tensor& x) {
  const char* op = "drop_last_column";
  LAT_CHECK(x_aug.ndim() == 4 && x_aug.is_contiguous() && x_aug.size(3) >= 2, op,
            ": input must be a contiguous [B, H, N, e + 1], got ", x_aug.str());
  const Shape& s = x_aug.shape();
  check_shape(op, "x", x, Shape{s[0], s[1], s[2], s[3] - 1});
  check_same_placement(op, x_aug, x);
  if (x_aug.device().is_cuda()) {
    LAT_IF_CUDA(op, x_aug, cuda::drop_last_column(x_aug.raw_data(), x.raw_data(), x_aug.dtype(), s[0] * s[1] * s[2], s[3] - 1));
    return;
  }
  dispatch_cpu_floating(op, x_aug.dtype(), [&]<class T>() {
    cpu::drop_last_column<T>(x_aug.data<T>(), x.data<T>(), s[0] * s[1] * s[2], s[3] - 1);
  });
}

}  // namespace lat::kernels
