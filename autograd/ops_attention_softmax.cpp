// The softmax baseline op (SPEC §5): saves q, k, v, o and the logsumexp; backward recomputes probabilities.
#include "autograd/attention_ops.h"
#include "core/error.h"
#include "kernels/softmax_attention.h"

namespace lat::autograd {

Variable softmax_attention(const Variable& q, const Variable& k, const Variable& v, double scale,
                           const Tensor& document_starts) {
  Tensor qc = q.data().contiguous(), kc = k.data().contiguous(), vc = v.data().contiguous();
  LAT_CHECK(qc.ndim() == 4 && vc.ndim() == 4, "softmax_attention: q and v must be 4-D, got ", qc.str(), " and ",
            vc.str());
  Tensor out = Tensor::empty(Shape{qc.size(0), qc.size(1), qc.size(2), vc.size(3)}, qc.dtype(), qc.device());
  // fp32 statistics on CUDA (the kernel's contract); the CPU keeps the operands' dtype (f64 gradchecks).
  const DType lse_dtype = qc.device().is_cuda() ? DType::F32 : qc.dtype();
  Tensor lse = Tensor::empty(Shape{qc.size(0), qc.size(1), qc.size(2)}, lse_dtype, qc.device());
  kernels::softmax_attention_forward(qc, kc, vc, scale, out, lse, document_starts);
  return record("softmax_attention", {q, k, v}, out,
                [qc, kc, vc, out, lse, scale, document_starts](const std::vector<Tensor>& g) {
    Tensor dq = Tensor::empty_like(qc), dk = Tensor::empty_like(kc), dv = Tensor::empty_like(vc);
    kernels::softmax_attention_backward(qc, kc, vc, out, lse, g[0].contiguous(), scale, dq, dk, dv, document_starts);
    return std::vector<Tensor>{dq, dk, dv};
  });
}

}  // namespace lat::autograd
