#include "kernels/loss.h"

#include "kernels/cpu/loss.h"
#include "kernels/dispatch.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/cross_entropy.cuh"
#endif

namespace lat::kernels {

void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& targets, int ignore_index,
                                   Tensor& loss, Tensor& dlogits) {
  const char* op = "softmax_cross_entropy";
  LAT_CHECK(logits.ndim() == 2, op, ": logits must be [N, V], got ", logits.shape().str());
  LAT_CHECK(targets.dtype() == DType::I32, op, ": targets must be i32, got ", targets.str());
  check_shape(op, "targets", targets, Shape{logits.size(0)});
  check_shape(op, "dlogits", dlogits, logits.shape());
  LAT_CHECK(loss.numel() == 1 && loss.dtype() == accumulation_dtype(logits.dtype()), op, ": loss must be one ",
            dtype_name(accumulation_dtype(logits.dtype())), " element for ", dtype_name(logits.dtype()), " logits, got ",
            loss.str());
  check_same_device(op, logits, targets);
  check_same_placement(op, logits, dlogits);
  check_same_device(op, logits, loss);
  LAT_CHECK(logits.is_contiguous() && targets.is_contiguous() && dlogits.is_contiguous(), op,
            ": operands must be contiguous");
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  if (!targets.device().is_cuda()) {
    const int32_t* t = targets.data<int32_t>();
    const int64_t bad = cpu::first_invalid_target(t, rows, vocab, ignore_index);
    if (bad >= 0)
      LAT_THROW(op, ": target ", t[bad], " at row ", bad, " is outside [0, ", vocab,
                ") and is not ignore_index (", ignore_index, ")");
  }
  if (logits.device().is_cuda()) {
    LAT_IF_CUDA(
        op, logits,
        cuda::softmax_cross_entropy_mean(logits.raw_data(), targets.data<int32_t>(), ignore_index,
                                         loss.data<float>(), dlogits.raw_data(), logits.dtype(), rows, vocab));
    return;
  }
  dispatch_cpu_floating(op, logits.dtype(), [&]<class T>() {
    *loss.data<T>() = static_cast<T>(cpu::softmax_cross_entropy_forward<T>(
        logits.data<T>(), targets.data<int32_t>(), ignore_index, dlogits.data<T>(), rows, vocab));
  });
}

void softmax_cross_entropy_backward(const Tensor& dlogits, const Tensor& dloss, Tensor& out) {
  const char* op = "softmax_cross_entropy_backward";
  LAT_CHECK(dloss.numel() == 1 && dloss.dtype() == accumulation_dtype(dlogits.dtype()), op,
            ": the loss gradient must be one ", dtype_name(accumulation_dtype(dlogits.dtype())), " element, got ",
            dloss.str());
  check_same_device(op, dlogits, dloss);
  check_same_placement(op, dlogits, out);
  check_same_shape(op, dlogits, out);
  LAT_CHECK(dlogits.is_contiguous() && out.is_contiguous(), op, ": operands must be contiguous");
  if (dlogits.device().is_cuda()) {
    LAT_IF_CUDA(op, dlogits,
                cuda::scale_by_device_scalar(dlogits.raw_data(), dloss.data<float>(), out.raw_data(),
                                             dlogits.dtype(), dlogits.numel()));
    return;
  }
  dispatch_cpu_floating(op, dlogits.dtype(), [&]<class T>() {
    cpu::scale_copy<T>(dlogits.data<T>(), *dloss.data<T>(), out.data<T>(), dlogits.numel());
  });
}

}  // namespace lat::kernels
