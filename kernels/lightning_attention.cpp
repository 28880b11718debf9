// Shape checks and device dispatch for kernels/lightning_attention.h.
#include "kernels/lightning_attention.h"

#include "kernels/cpu/lightning_attention.h"
#include "kernels/dispatch.h"

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
  check_same_placement(op, q, log_decay);
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

}  // namespace

void lightning_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                 const Tensor& initial_state, int64_t block, Tensor& out, Tensor& final_state) {
  const char* op = "lightning_attention";
  const Dims d = check_core(op, q, k, v, log_decay, initial_state, block);
  check_shape(op, "out", out, v.shape());
  check_shape(op, "final_state", final_state, Shape{d.batch, d.heads, d.m, d.e});
  if (q.device().is_cuda()) no_cuda_kernel(op, q);
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
  if (q.device().is_cuda()) no_cuda_kernel(op, q);
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
  if (v.device().is_cuda()) no_cuda_kernel(op, v);
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
  if (num_aug.device().is_cuda()) no_cuda_kernel(op, num_aug);
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
  if (out.device().is_cuda()) no_cuda_kernel(op, out);
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
  if (x_aug.device().is_cuda()) no_cuda_kernel(op, x_aug);
  dispatch_cpu_floating(op, x_aug.dtype(), [&]<class T>() {
    cpu::drop_last_column<T>(x_aug.data<T>(), x.data<T>(), s[0] * s[1] * s[2], s[3] - 1);
  });
}

}  // namespace lat::kernels
