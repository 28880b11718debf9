// Shape checks and device dispatch for kernels/lightning_attention.h.
#include "kernels/lightning_attention.h"

#include "kernels/cpu/lightning_attention.h"
#include "kernels/dispatch.h"

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
  for (const Tensor* t : {&q, &k, &v, &log_decay})
    LAT_CHECK(t->is_contiguous(), op, ": operands must be contiguous, got ", t->str());
  LAT_CHECK(!initial_state.defined() || initial_state.is_contiguous(), op, ": initial_state must be contiguous");
  return d;
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
// the tensor-core kernels run in bf16 with fp32 accumulation and fp32 state, so f32 operands are rounded to
// bf16 on the way in and results cast back. Other shapes (d ≠ e, e.g. the normalised form's e + 1) run the
// generic fp32 recurrence on the operands' own dtype. Log-decay and the states are handled in f32 (cast when the
// tensors hold another dtype).
Tensor f32_or_empty(const Tensor& t) { return t.defined() ? t.to(DType::F32).contiguous() : Tensor(); }
Tensor as_dtype_target(const Tensor& t, DType dtype) {
  if (!t.defined() || t.dtype() == dtype) return t;
  return Tensor::empty(t.shape(), dtype, t.device());
}
void cast_into(Tensor& dst, const Tensor& src) {
  if (!dst.defined() || dst.raw_data() == src.raw_data()) return;
  lat::cuda::cast(dst.raw_data(), dst.dtype(), src.raw_data(), src.dtype(), dst.numel());
}
const float* f32_ptr(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
float* f32_mut(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
Tensor cuda_workspace(const Dims& d, const Tensor& like) {
  const int64_t floats = cuda::la2_workspace_floats(d.batch * d.heads, d.n, d.m);
  return floats > 0 ? Tensor::empty(Shape{floats}, DType::F32, like.device()) : Tensor();
}
void check_cuda_dtype(const char* op, const Tensor& q) {
  LAT_CHECK(q.dtype() == DType::BF16 || q.dtype() == DType::F32, op, ": CUDA kernel supports bf16 and f32, got ",
            dtype_name(q.dtype()));
}

void cuda_forward(const Dims& d, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                  const Tensor& initial_state, Tensor& out, Tensor& final_state) {
  check_cuda_dtype("lightning_attention", q);
  const Tensor decay = log_decay.to(DType::F32).contiguous();
  const Tensor init = f32_or_empty(initial_state);
  Tensor fin = as_dtype_target(final_state, DType::F32);
  if (cuda::la2_fast_supported(d.m, d.e)) {
    const Tensor qb = q.to(DType::BF16), kb = k.to(DType::BF16), vb = v.to(DType::BF16);
    Tensor ob = as_dtype_target(out, DType::BF16);
    Tensor ws = cuda_workspace(d, q);
    cuda::la2_forward_bf16(qb.raw_data(), kb.raw_data(), vb.raw_data(), f32_ptr(decay), f32_ptr(init), ob.raw_data(),
                           f32_mut(fin), d.batch, d.heads, d.n, d.m, ws.defined() ? ws.data<float>() : nullptr);
    cast_into(out, ob);
  } else {
    cuda::la2_forward_generic(q.dtype(), q.raw_data(), k.raw_data(), v.raw_data(), f32_ptr(decay), f32_ptr(init),
                              out.raw_data(), f32_mut(fin), d.batch, d.heads, d.n, d.m, d.e);
  }
  cast_into(final_state, fin);
}

void cuda_backward(const Dims& d, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                   const Tensor& initial_state, const Tensor& grad_out, const Tensor& grad_final_state,
                   Tensor& grad_q, Tensor& grad_k, Tensor& grad_v, Tensor& grad_initial_state) {
  check_cuda_dtype("lightning_attention_backward", q);
  const Tensor decay = log_decay.to(DType::F32).contiguous();
  const Tensor init = f32_or_empty(initial_state);
  const Tensor gfin = f32_or_empty(grad_final_state);
  Tensor ginit = as_dtype_target(grad_initial_state, DType::F32);
  if (cuda::la2_fast_supported(d.m, d.e)) {
    const Tensor qb = q.to(DType::BF16), kb = k.to(DType::BF16), vb = v.to(DType::BF16);
    const Tensor gb = grad_out.to(DType::BF16);
    Tensor dqb = as_dtype_target(grad_q, DType::BF16), dkb = as_dtype_target(grad_k, DType::BF16),
           dvb = as_dtype_target(grad_v, DType::BF16);
    Tensor ws = cuda_workspace(d, q);
    cuda::la2_backward_bf16(qb.raw_data(), kb.raw_data(), vb.raw_data(), f32_ptr(decay), f32_ptr(init),
                            gb.raw_data(), f32_ptr(gfin), dqb.raw_data(), dkb.raw_data(), dvb.raw_data(),
                            f32_mut(ginit), d.batch, d.heads, d.n, d.m, ws.defined() ? ws.data<float>() : nullptr);
    cast_into(grad_q, dqb);
    cast_into(grad_k, dkb);
    cast_into(grad_v, dvb);
  } else {
    cuda::la2_backward_generic(q.dtype(), q.raw_data(), k.raw_data(), v.raw_data(), f32_ptr(decay), f32_ptr(init),
                               grad_out.raw_data(), f32_ptr(gfin), grad_q.raw_data(), grad_k.raw_data(),
                               grad_v.raw_data(), f32_mut(ginit), d.batch, d.heads, d.n, d.m, d.e);
  }
  cast_into(grad_initial_state, ginit);
}
#endif

}  // namespace

void lightning_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                 const Tensor& initial_state, int64_t block, Tensor& out, Tensor& final_state) {
  const char* op = "lightning_attention";
  const Dims d = check_core(op, q, k, v, log_decay, initial_state, block);
  check_shape(op, "out", out, v.shape());
  check_shape(op, "final_state", final_state, Shape{d.batch, d.heads, d.m, d.e});
  if (q.device().is_cuda()) {
    LAT_IF_CUDA(op, q, cuda_forward(d, q, k, v, log_decay, initial_state, out, final_state));
    return;
  }
  dispatch_cpu_floating(op, q.dtype(), [&]<class T>() {
    cpu::lightning_attention_forward<T>(q.data<T>(), k.data<T>(), v.data<T>(), log_decay.data<T>(),
                                        ptr_or_null<T>(initial_state), out.data<T>(), final_state.data<T>(),
                                        d.batch, d.heads, d.n, d.m, d.e, block);
  });
}

void lightning_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                  const Tensor& initial_state, int64_t block, const Tensor& grad_out,
                                  const Tensor& grad_final_state, Tensor& grad_q, Tensor& grad_k, Tensor& grad_v,
                                  Tensor& grad_initial_state) {
  const char* op = "lightning_attention_backward";
  const Dims d = check_core(op, q, k, v, log_decay, initial_state, block);
  const Shape state_shape{d.batch, d.heads, d.m, d.e};
  check_shape(op, "grad_out", grad_out, v.shape());
  if (grad_final_state.defined()) check_shape(op, "grad_final_state", grad_final_state, state_shape);
  check_shape(op, "grad_q", grad_q, q.shape());
  check_shape(op, "grad_k", grad_k, k.shape());
  check_shape(op, "grad_v", grad_v, v.shape());
  if (grad_initial_state.defined()) check_shape(op, "grad_initial_state", grad_initial_state, state_shape);
  if (q.device().is_cuda()) {
    LAT_IF_CUDA(op, q,
                cuda_backward(d, q, k, v, log_decay, initial_state, grad_out, grad_final_state, grad_q, grad_k,
                              grad_v, grad_initial_state));
    return;
  }
  dispatch_cpu_floating(op, q.dtype(), [&]<class T>() {
    cpu::lightning_attention_backward<T>(q.data<T>(), k.data<T>(), v.data<T>(), log_decay.data<T>(),
                                         ptr_or_null<T>(initial_state), grad_out.data<T>(),
                                         ptr_or_null<T>(grad_final_state), grad_q.data<T>(), grad_k.data<T>(),
                                         grad_v.data<T>(), mut_ptr_or_null<T>(grad_initial_state), d.batch,
                                         d.heads, d.n, d.m, d.e, block);
  });
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
