#include "kernels/attention_output.h"

#include "kernels/cpu/attention_output.h"
#include "kernels/dispatch.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/attention_family.cuh"
#endif

namespace lat::kernels {

void head_rmsnorm_forward(const Tensor& x, double eps, Tensor& y, Tensor& inv_rms) {
  const char* op = "head_rmsnorm";
  LAT_CHECK(x.ndim() >= 1 && x.is_contiguous(), op, ": x must be contiguous with ≥ 1 dim, got ", x.str());
  LAT_CHECK(eps > 0, op, ": eps must be positive, got ", eps);
  check_same_shape(op, x, y);
  const int64_t e = x.size(-1), rows = x.numel() / e;
  LAT_CHECK(inv_rms.numel() == rows, op, ": inv_rms has ", inv_rms.numel(), " elements, expected ", rows);
  if (x.device().is_cuda()) {
    // The statistics are fp32 on CUDA (DESIGN.md, Precision), whatever x's dtype.
    LAT_CHECK(inv_rms.dtype() == DType::F32 && inv_rms.device() == x.device() && inv_rms.is_contiguous(), op,
              ": on CUDA inv_rms must be a contiguous f32 tensor on x's device, got ", inv_rms.str());
    check_same_placement(op, x, y);
    LAT_IF_CUDA(op, x,
                cuda::head_rmsnorm_forward(x.raw_data(), static_cast<float>(eps), y.raw_data(), inv_rms.data<float>(),
                                           x.dtype(), rows, e));
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::head_rmsnorm_forward<T>(x.data<T>(), static_cast<T>(eps), y.data<T>(), inv_rms.data<T>(), rows, e);
  });
}

void head_rmsnorm_backward(const Tensor& y, const Tensor& inv_rms, const Tensor& grad_y, Tensor& grad_x) {
  const char* op = "head_rmsnorm backward";
  check_same_shape(op, y, grad_y);
  check_same_shape(op, y, grad_x);
  const int64_t e = y.size(-1), rows = y.numel() / e;
  LAT_CHECK(inv_rms.numel() == rows, op, ": inv_rms has ", inv_rms.numel(), " elements, expected ", rows);
  if (y.device().is_cuda()) {
    LAT_CHECK(inv_rms.dtype() == DType::F32 && inv_rms.device() == y.device() && inv_rms.is_contiguous(), op,
              ": on CUDA inv_rms must be a contiguous f32 tensor on y's device, got ", inv_rms.str());
    check_same_placement(op, y, grad_y);
    check_same_placement(op, y, grad_x);
    LAT_IF_CUDA(op, y,
                cuda::head_rmsnorm_backward(y.contiguous().raw_data(), inv_rms.data<float>(),
                                            grad_y.contiguous().raw_data(), grad_x.raw_data(), y.dtype(), rows, e));
    return;
  }
  dispatch_cpu_floating(op, y.dtype(), [&]<class T>() {
    cpu::head_rmsnorm_backward<T>(y.data<T>(), inv_rms.data<T>(), grad_y.data<T>(), grad_x.data<T>(), rows, e);
  });
}

void sigmoid_gate_forward(const Tensor& x, const Tensor& gate, Tensor& y) {
  const char* op = "sigmoid_gate";
  check_same_shape(op, x, gate);
  check_same_shape(op, x, y);
  check_same_placement(op, x, gate);
  LAT_CHECK(x.is_contiguous() && gate.is_contiguous() && y.is_contiguous(), op, ": operands must be contiguous");
  if (x.device().is_cuda()) {
    check_same_placement(op, x, y);
    LAT_IF_CUDA(op, x, cuda::sigmoid_gate_forward(x.raw_data(), gate.raw_data(), y.raw_data(), x.dtype(), x.numel()));
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::sigmoid_gate_forward<T>(x.data<T>(), gate.data<T>(), y.data<T>(), x.numel());
  });
}

void sigmoid_gate_backward(const Tensor& x, const Tensor& gate, const Tensor& grad_y, Tensor& grad_x,
                           Tensor& grad_gate) {
  const char* op = "sigmoid_gate backward";
  check_same_shape(op, x, gate);
  check_same_shape(op, x, grad_y);
  if (x.device().is_cuda()) {
    check_same_placement(op, x, gate);
    check_same_placement(op, x, grad_y);
    for (const Tensor* t : {&grad_x, &grad_gate})
      if (t->defined()) {
        check_same_shape(op, x, *t);
        check_same_placement(op, x, *t);
        LAT_CHECK(t->is_contiguous(), op, ": gradients must be contiguous");
      }
    LAT_IF_CUDA(op, x,
                cuda::sigmoid_gate_backward(x.contiguous().raw_data(), gate.contiguous().raw_data(),
                                            grad_y.contiguous().raw_data(),
                                            grad_x.defined() ? grad_x.raw_data() : nullptr,
                                            grad_gate.defined() ? grad_gate.raw_data() : nullptr, x.dtype(), x.numel()));
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::sigmoid_gate_backward<T>(x.data<T>(), gate.data<T>(), grad_y.data<T>(),
                                  grad_x.defined() ? grad_x.data<T>() : nullptr,
                                  grad_gate.defined() ? grad_gate.data<T>() : nullptr, x.numel());
  });
}

}  // namespace lat::kernels
