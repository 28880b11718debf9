#include "kernels/activation.h"

#include "kernels/cpu/activation.h"
#include "kernels/dispatch.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/activations.cuh"
#endif

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
  if (x.device().is_cuda()) {
    LAT_IF_CUDA("gelu", x, cuda::gelu_forward(x.raw_data(), out.raw_data(), x.dtype(), x.numel()));
    return;
  }
  dispatch_cpu_floating("gelu", x.dtype(),
                        [&]<class T>() { cpu::gelu_forward<T>(x.data<T>(), out.data<T>(), x.numel()); });
}

void gelu_backward(const Tensor& dout, const Tensor& x, Tensor& dx) {
  check_pointwise("gelu_backward", x, {&dout, &dx});
  if (x.device().is_cuda()) {
    LAT_IF_CUDA("gelu_backward", x,
                cuda::gelu_backward(x.raw_data(), dout.raw_data(), dx.raw_data(), x.dtype(), x.numel()));
    return;
  }
  dispatch_cpu_floating("gelu_backward", x.dtype(), [&]<class T>() {
    cpu::gelu_backward<T>(dout.data<T>(), x.data<T>(), dx.data<T>(), x.numel());
  });
}

void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& out) {
  check_pointwise("swiglu", gate, {&up, &out});
  if (gate.device().is_cuda()) {
    LAT_IF_CUDA(
        "swiglu", gate,
        cuda::swiglu_forward(gate.raw_data(), up.raw_data(), out.raw_data(), gate.dtype(), gate.numel()));
    return;
  }
  dispatch_cpu_floating("swiglu", gate.dtype(), [&]<class T>() {
    cpu::swiglu_forward<T>(gate.data<T>(), up.data<T>(), out.data<T>(), gate.numel());
  });
}

void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, Tensor* dgate, Tensor* dup) {
  const char* op = "swiglu_backward";
  check_pointwise(op, gate, {&dout, &up});
  if (dgate) check_pointwise(op, gate, {dgate});
  if (dup) check_pointwise(op, gate, {dup});
  if (gate.device().is_cuda()) {
    LAT_IF_CUDA(op, gate,
                cuda::swiglu_backward(gate.raw_data(), up.raw_data(), dout.raw_data(),
                                      dgate ? dgate->raw_data() : nullptr, dup ? dup->raw_data() : nullptr,
                                      gate.dtype(), gate.numel()));
    return;
  }
  dispatch_cpu_floating(op, gate.dtype(), [&]<class T>() {
    cpu::swiglu_backward<T>(dout.data<T>(), gate.data<T>(), up.data<T>(), dgate ? dgate->data<T>() : nullptr,
                            dup ? dup->data<T>() : nullptr, gate.numel());
  });
}

}  // namespace lat::kernels
