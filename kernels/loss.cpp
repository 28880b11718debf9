#include "kernels/loss.h"

#include "kernels/cpu/loss.h"
#include "kernels/dispatch.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/cross_entropy.cuh"
#endif

namespace lat::kernels {
namespace {

// Checks the operands both directions share; returns (rows, vocab).
std::pair<int64_t, int64_t> check_loss(const char* op, const Tensor& logits, const Tensor& targets,
                                       const Tensor& stats) {
  LAT_CHECK(logits.ndim() == 2, op, ": logits must be [N, V], got ", logits.shape().str());
  LAT_CHECK(targets.dtype() == DType::I32, op, ": targets must be i32, got ", targets.str());
  check_shape(op, "targets", targets, Shape{logits.size(0)});
  check_shape(op, "stats", stats, Shape{logits.size(0) + 1});
  check_same_device(op, logits, targets);
  check_same_device(op, logits, stats);
  const DType acc = accumulation_dtype(logits.dtype());
  LAT_CHECK(stats.dtype() == acc, op, ": stats must be ", dtype_name(acc), " for ", dtype_name(logits.dtype()),
            " logits, got ", stats.str());
  LAT_CHECK(logits.is_contiguous() && targets.is_contiguous() && stats.is_contiguous(), op,
            ": operands must be contiguous");
  return {logits.size(0), logits.size(1)};
}

void check_scalar(const char* op, const char* what, const Tensor& s, const Tensor& logits) {
  const DType acc = accumulation_dtype(logits.dtype());
  LAT_CHECK(s.numel() == 1 && s.dtype() == acc, op, ": ", what, " must be one ", dtype_name(acc), " element for ",
            dtype_name(logits.dtype()), " logits, got ", s.str());
  check_same_device(op, logits, s);
}

}  // namespace

void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& targets, int ignore_index, Tensor& loss,
                                   Tensor& stats, Tensor* invalid_targets) {
  const char* op = "softmax_cross_entropy";
  // Plain variables, not a structured binding: clang 14 (the fuzz/sanitizer build) cannot capture bindings.
  const std::pair<int64_t, int64_t> dims = check_loss(op, logits, targets, stats);
  const int64_t rows = dims.first, vocab = dims.second;
  check_scalar(op, "loss", loss, logits);
  if (invalid_targets != nullptr) check_scalar(op, "invalid_targets", *invalid_targets, logits);
  if (!targets.device().is_cuda()) {
    const int32_t* t = targets.data<int32_t>();
    const int64_t bad = cpu::first_invalid_target(t, rows, vocab, ignore_index);
    if (bad >= 0 && invalid_targets == nullptr)
      LAT_THROW(op, ": target ", t[bad], " at row ", bad, " is outside [0, ", vocab, ") and is not ignore_index (",
                ignore_index, ")");
    if (bad >= 0) {
      int64_t count = 0;
      for (int64_t n = bad; n < rows; ++n) count += cpu::first_invalid_target(t + n, 1, vocab, ignore_index) == 0;
      dispatch_cpu_floating(op, invalid_targets->dtype(),
                            [&]<class T>() { *invalid_targets->data<T>() += static_cast<T>(count); });
    }
  }
  if (logits.device().is_cuda()) {
    LAT_IF_CUDA(op, logits,
                cuda::softmax_cross_entropy_mean(logits.raw_data(), targets.data<int32_t>(), ignore_index,
                                                 loss.data<float>(), stats.data<float>(), logits.dtype(), rows, vocab,
                                                 invalid_targets ? invalid_targets->data<float>() : nullptr));
    return;
  }
  dispatch_cpu_floating(op, logits.dtype(), [&]<class T>() {
    *loss.data<T>() = static_cast<T>(cpu::softmax_cross_entropy_forward<T>(
        logits.data<T>(), targets.data<int32_t>(), ignore_index, stats.data<T>(), stats.data<T>() + rows, rows, vocab));
  });
}

void softmax_cross_entropy_backward(const Tensor& logits, const Tensor& targets, int ignore_index, const Tensor& stats,
                                    const Tensor& dloss, Tensor& dlogits) {
  const char* op = "softmax_cross_entropy_backward";
  // Plain variables, not a structured binding: clang 14 (the fuzz/sanitizer build) cannot capture bindings.
  const std::pair<int64_t, int64_t> dims = check_loss(op, logits, targets, stats);
  const int64_t rows = dims.first, vocab = dims.second;
  check_scalar(op, "dloss", dloss, logits);
  check_same_placement(op, logits, dlogits);
  check_same_shape(op, logits, dlogits);
  LAT_CHECK(dlogits.is_contiguous(), op, ": dlogits must be contiguous");
  if (logits.device().is_cuda()) {
    LAT_IF_CUDA(op, logits,
                cuda::softmax_cross_entropy_mean_backward(logits.raw_data(), targets.data<int32_t>(), ignore_index,
                                                          stats.data<float>(), dloss.data<float>(), dlogits.raw_data(),
                                                          logits.dtype(), rows, vocab));
    return;
  }
  dispatch_cpu_floating(op, logits.dtype(), [&]<class T>() {
    const double g = static_cast<double>(*dloss.data<T>()) * static_cast<double>(stats.data<T>()[rows]);
    cpu::softmax_cross_entropy_backward<T>(logits.data<T>(), targets.data<int32_t>(), ignore_index, stats.data<T>(), g,
                                           dlogits.data<T>(), rows, vocab);
  });
}

}  // namespace lat::kernels
