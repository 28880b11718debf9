#include "kernels/activation.h"

#include "kernels/cpu/activation.h"
#include "kernels/dispatch.h"

namespace lat::kernels {
namespace {

// Every operand has x's shape, dtype and device and is contiguous.
void check_pointwise(const char* op, const Tensor& x, std::initializer_list<const Tensor*> others) {
  LAT_CHECK(x.is_contiguous(), op, ": operands must be contiguous");
  for (const Tensor* t : others) {
    check_same_shape(op, x, *t);
    check_same_placement(op, x, *t);
    LAT_CHECK(t->is_contiguous(), op, ": operands must be contiguous");
  }
}

}  // namespace

void gelu_forward(const Tensor& x, Tensor& out) {
  check_pointwise("gelu", x, {&out});
  if (x.device().is_cuda()) no_cuda_kernel("gelu", x);  // CUDA: kernel goes here
  dispatch_cpu_floating("gelu", x.dtype(),
                        [&]<class T>() { cpu::gelu_forward<T>(x.data<T>(), out.data<T>(), x.numel()); });
}

void gelu_backward(const Tensor& dout, const Tensor& x, Tensor& dx) {
  check_pointwise("gelu_backward", x, {&dout, &dx});
  if (x.device().is_cuda()) no_cuda_kernel("gelu_backward", x);  // CUDA: kernel goes here
  dispatch_cpu_floating("gelu_backward", x.dtype(), [&]<class T>() {
    cpu::gelu_backward<T>(dout.data<T>(), x.data<T>(), dx.data<T>(), x.numel());
  });
}

void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& out) {
  check_pointwise("swiglu", gate, {&up, &out});
  if (gate.device().is_cuda()) no_cuda_kernel("swiglu", gate);  // CUDA: kernel goes here
  dispatch_cpu_floating("swiglu", gate.dtype(), [&]<class T>() {
    cpu::swiglu_forward<T>(gate.data<T>(), up.data<T>(), out.data<T>(), gate.numel());
  });
}

void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, Tensor* dgate, Tensor* dup) {
  const char* op = "swiglu_backward";
  check_pointwise(op, gate, {&dout, &up});
  if (dgate) check_pointwise(op, gate, {dgate});
  if (dup) check_pointwise(op, gate, {dup});
  if (gate.device().is_cuda()) no_cuda_kernel(op, gate);  // CUDA: kernel goes here
  dispatch_cpu_floating(op, gate.dtype(), [&]<class T>() {
    cpu::swiglu_backward<T>(dout.data<T>(), gate.data<T>(), up.data<T>(), dgate ? dgate->data<T>() : nullptr,
                            dup ? dup->data<T>() : nullptr, gate.numel());
  });
}

}  // namespace lat::kernels
