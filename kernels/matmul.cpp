#include "kernels/matmul.h"

#include <initializer_list>

#include "kernels/cpu/matmul.h"
#include "kernels/dispatch.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/gemm.cuh"
#endif

namespace lat::kernels {
namespace {

// The leading (batch) dims of t, or an empty shape for a 2-D t.
Shape batch_dims(const Tensor& t) {
  std::vector<int64_t> dims = t.shape().vec();
  dims.resize(dims.size() - 2);
  return Shape(dims);
}

}  // namespace

void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool transpose_a, bool transpose_b,
            bool accumulate) {
  const char* op = "matmul";
  check_same_placement(op, a, b);
  check_same_placement(op, a, out);
  LAT_CHECK(a.ndim() >= 2 && b.ndim() >= 2 && out.ndim() >= 2, op, ": operands must be at least 2-D, got a ",
            a.shape().str(), ", b ", b.shape().str(), ", out ", out.shape().str());
  LAT_CHECK(a.is_contiguous() && b.is_contiguous() && out.is_contiguous(), op,
            ": operands must be contiguous");
  const int64_t M = a.size(transpose_a ? -1 : -2), K = a.size(transpose_a ? -2 : -1);
  const int64_t Kb = b.size(transpose_b ? -1 : -2), N = b.size(transpose_b ? -2 : -1);
  if (K != Kb)
    LAT_THROW(op, ": a ", a.shape().str(), (transpose_a ? "ᵀ" : ""), " and b ", b.shape().str(),
              (transpose_b ? "ᵀ" : ""), " do not multiply (inner sizes ", K, " and ", Kb, ")");
  if (out.size(-2) != M || out.size(-1) != N)
    LAT_THROW(op, ": out has shape ", out.shape().str(), ", expected [..., ", M, ", ", N, "] for a ",
              a.shape().str(), " and b ", b.shape().str());
  // The batch: every operand with more than two dims must agree on it.
  Shape batch;
  for (const Tensor* t : std::initializer_list<const Tensor*>{&a, &b, &out}) {
    if (t->ndim() == 2) continue;
    if (batch.ndim() == 0) {
      batch = batch_dims(*t);
    } else if (batch_dims(*t) != batch) {
      LAT_THROW(op, ": batch dims differ between a ", a.shape().str(), ", b ", b.shape().str(), " and out ",
                out.shape().str());
    }
  }
  const int64_t count = batch.numel();
  const int64_t stride_a = a.ndim() > 2 ? M * K : 0, stride_b = b.ndim() > 2 ? K * N : 0;
  const int64_t stride_c = out.ndim() > 2 ? M * N : 0;
  if (a.device().is_cuda()) {
    LAT_IF_CUDA(op, a,
                cuda::batched_matmul(a.dtype(), count, transpose_a, transpose_b, M, N, K, a.raw_data(),
                                     stride_a, b.raw_data(), stride_b, out.raw_data(), stride_c, accumulate));
    return;
  }
  dispatch_cpu_floating(op, a.dtype(), [&]<class T>() {
    cpu::batched_matmul<T>(count, transpose_a, transpose_b, M, N, K, a.data<T>(), stride_a, b.data<T>(),
                           stride_b, out.data<T>(), stride_c, accumulate);
  });
}

}  // namespace lat::kernels
