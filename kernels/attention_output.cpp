#include "kernels/attention_output.h"

#include "kernels/cpu/attention_output.h"
#include "kernels/dispatch.h"

namespace lat::kernels {

void head_rmsnorm_forward(const Tensor& x, double eps, Tensor& y, Tensor& inv_rms) {
  const char* op = "head_rmsnorm";
  LAT_CHECK(x.ndim() >= 1 && x.is_contiguous(), op, ": x must be contiguous with ≥ 1 dim, got ", x.str());
  LAT_CHECK(eps > 0, op, ": eps must be positive, got ", eps);
  check_same_shape(op, x, y);
  const int64_t e = x.size(-1), rows = x.numel() / e;
  LAT_CHECK(inv_rms.numel() == rows, op, ": inv_rms has ", inv_rms.numel(), " elements, expected ", rows);
  if (x.device().is_cuda()) no_cuda_kernel(op, x);
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
  if (y.device().is_cuda()) no_cuda_kernel(op, y);
  dispatch_cpu_floating(op, y.dtype(), [&]<class T>() {
    cpu::head_rmsnorm_backward<T>(y.data<T>(), inv_rms.data<T>(), grad_y.data<T>(), grad_x.data<T>(), rows, e);
  });
}

void sigmoid_gate_forward(const Tensor& x, const Tensor& gate, Tensor& y) {
  const char* op = "sigmoid_gate";
  check_same_shape(op, x, gate);
  check_same_shape(op, x, y);
  check_same_placement(op, x, gate);
  LAT_CHECK(x.is_contiguous() && gate.is_contiguous(), op, ": operands must be contiguous");
  if (x.device().is_cuda()) no_cuda_kernel(op, x);
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::sigmoid_gate_forward<T>(x.data<T>(), gate.data<T>(), y.data<T>(), x.numel());
  });
}

void sigmoid_gate_backward(const Tensor& x, const Tensor& gate, const Tensor& grad_y, Tensor& grad_x,
                           Tensor& grad_gate) {
  const char* op = "sigmoid_gate backward";
  check_same_shape(op, x, gate);
  check_same_shape(op, x, grad_y);
  if (x.device().is_cuda()) no_cuda_kernel(op, x);
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::sigmoid_gate_backward<T>(x.data<T>(), gate.data<T>(), grad_y.data<T>(),
                                  grad_x.defined() ? grad_x.data<T>() : nullptr,
                                  grad_gate.defined() ? grad_gate.data<T>() : nullptr, x.numel());
  });
}

}  // namespace lat::kernels
