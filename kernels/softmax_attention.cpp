#include "kernels/softmax_attention.h"

#include "kernels/cpu/softmax_attention.h"
#include "kernels/dispatch.h"
#include "kernels/documents.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/attention_family.cuh"
#endif

namespace lat::kernels {
namespace {

void check_inputs(const char* op, const Tensor& q, const Tensor& k, const Tensor& v) {
  LAT_CHECK(q.ndim() == 4 && k.ndim() == 4 && v.ndim() == 4, op, ": q, k, v must be 4-D, got ", q.shape().str(),
            ", ", k.shape().str(), ", ", v.shape().str());
  check_shape(op, "k", k, Shape{q.size(0), q.size(1), k.size(2), q.size(3)});
  check_shape(op, "v", v, Shape{q.size(0), q.size(1), k.size(2), v.size(3)});
  LAT_CHECK(q.size(2) <= k.size(2), op, ": more queries (", q.size(2), ") than keys (", k.size(2), ")");
  check_same_placement(op, q, k);
  check_same_placement(op, q, v);
  for (const Tensor* t : {&q, &k, &v}) LAT_CHECK(t->is_contiguous(), op, ": operands must be contiguous, got ", t->str());
}

void check_starts(const char* op, const Tensor& q, const Tensor& k, const Tensor& starts) {
  if (!starts.defined()) return;
  LAT_CHECK(q.size(2) == k.size(2), op, ": document starts need as many queries as keys, got ", q.size(2), " and ",
            k.size(2));
  check_document_starts(op, starts, q.size(0), q.size(2), q);
  if (q.device().is_cuda()) no_cuda_document_boundaries(op);
}

// On CUDA the logsumexp is fp32 whatever the operands' dtype (a bf16 logsumexp would bias the recomputed
// probabilities by up to 2⁻⁹·|lse|), and every tensor lives on q's device.
void check_cuda_lse(const char* op, const Tensor& q, const Tensor& lse) {
  LAT_CHECK(lse.dtype() == DType::F32 && lse.device() == q.device() && lse.is_contiguous(), op,
            ": on CUDA logsumexp must be a contiguous f32 tensor on q's device, got ", lse.str());
}

}  // namespace

void softmax_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, double scale, Tensor& out,
                               Tensor& logsumexp, const Tensor& document_starts) {
  const char* op = "softmax_attention";
  check_inputs(op, q, k, v);
  check_starts(op, q, k, document_starts);
  check_shape(op, "out", out, Shape{q.size(0), q.size(1), q.size(2), v.size(3)});
  check_shape(op, "logsumexp", logsumexp, Shape{q.size(0), q.size(1), q.size(2)});
  if (q.device().is_cuda()) {
    check_cuda_lse(op, q, logsumexp);
    check_same_placement(op, q, out);
    LAT_CHECK(out.is_contiguous(), op, ": out must be contiguous");
    LAT_IF_CUDA(op, q,
                cuda::softmax_attention_forward(q.raw_data(), k.raw_data(), v.raw_data(), out.raw_data(),
                                                logsumexp.data<float>(), q.dtype(), q.size(0) * q.size(1), q.size(2),
                                                k.size(2), q.size(3), v.size(3), static_cast<float>(scale)));
    return;
  }
  dispatch_cpu_floating(op, q.dtype(), [&]<class T>() {
    cpu::softmax_attention_forward<T>(q.data<T>(), k.data<T>(), v.data<T>(), out.data<T>(), logsumexp.data<T>(),
                                      q.size(0) * q.size(1), q.size(2), k.size(2), q.size(3), v.size(3), scale,
                                      document_starts_or_null(document_starts), q.size(1));
  });
}

void softmax_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                const Tensor& logsumexp, const Tensor& grad_out, double scale, Tensor& grad_q,
                                Tensor& grad_k, Tensor& grad_v, const Tensor& document_starts) {
  const char* op = "softmax_attention backward";
  check_inputs(op, q, k, v);
  check_starts(op, q, k, document_starts);
  const Shape os{q.size(0), q.size(1), q.size(2), v.size(3)};
  check_shape(op, "out", out, os);
  check_shape(op, "grad_out", grad_out, os);
  check_shape(op, "logsumexp", logsumexp, Shape{q.size(0), q.size(1), q.size(2)});
  check_shape(op, "grad_q", grad_q, q.shape());
  check_shape(op, "grad_k", grad_k, k.shape());
  check_shape(op, "grad_v", grad_v, v.shape());
  if (q.device().is_cuda()) {
    check_cuda_lse(op, q, logsumexp);
    for (const Tensor* t : std::initializer_list<const Tensor*>{&out, &grad_out, &grad_q, &grad_k, &grad_v}) check_same_placement(op, q, *t);
    for (const Tensor* t : {&grad_q, &grad_k, &grad_v}) LAT_CHECK(t->is_contiguous(), op, ": gradients must be contiguous");
    LAT_IF_CUDA(op, q,
                cuda::softmax_attention_backward(q.raw_data(), k.raw_data(), v.raw_data(), out.contiguous().raw_data(),
                                                 logsumexp.data<float>(), grad_out.contiguous().raw_data(),
                                                 grad_q.raw_data(), grad_k.raw_data(), grad_v.raw_data(), q.dtype(),
                                                 q.size(0) * q.size(1), q.size(2), k.size(2), q.size(3), v.size(3),
                                                 static_cast<float>(scale)));
    return;
  }
  dispatch_cpu_floating(op, q.dtype(), [&]<class T>() {
    cpu::softmax_attention_backward<T>(q.data<T>(), k.data<T>(), v.data<T>(), out.data<T>(), logsumexp.data<T>(),
                                       grad_out.data<T>(), grad_q.data<T>(), grad_k.data<T>(), grad_v.data<T>(),
                                       q.size(0) * q.size(1), q.size(2), k.size(2), q.size(3), v.size(3), scale,
                                      document_starts_or_null(document_starts), q.size(1));
  });
}

}  // namespace lat::kernels
