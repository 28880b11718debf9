#include "kernels/elementwise.h"

#include "kernels/cpu/elementwise.h"
#include "kernels/dispatch.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/elementwise.cuh"
#endif

namespace lat::kernels {
namespace {

void check_binary(const char* op, const Tensor& a, const Tensor& b, const Tensor& out) {
  check_same_shape(op, a, b);
  check_same_shape(op, a, out);
  check_same_placement(op, a, b);
  check_same_placement(op, a, out);
  LAT_CHECK(a.is_contiguous() && b.is_contiguous() && out.is_contiguous(), op, ": operands must be contiguous");
}

}  // namespace

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_binary("add", a, b, out);
  if (a.device().is_cuda()) {
    LAT_IF_CUDA("add", a, cuda::add(a.raw_data(), b.raw_data(), out.raw_data(), a.dtype(), a.numel()));
    return;
  }
  dispatch_cpu_floating("add", a.dtype(), [&]<class T>() { cpu::add<T>(a.data<T>(), b.data<T>(), out.data<T>(), a.numel()); });
}

void axpy(double alpha, const Tensor& x, Tensor& y) {
  check_binary("axpy", x, y, y);
  if (x.device().is_cuda()) {
    LAT_IF_CUDA("axpy", x, cuda::axpy(alpha, x.raw_data(), y.raw_data(), x.dtype(), x.numel()));
    return;
  }
  dispatch_cpu_floating("axpy", x.dtype(),
                        [&]<class T>() { cpu::axpy<T>(static_cast<T>(alpha), x.data<T>(), y.data<T>(), x.numel()); });
}

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  check_binary("mul", a, b, out);
  if (a.device().is_cuda()) {
    LAT_IF_CUDA("mul", a, cuda::mul(a.raw_data(), b.raw_data(), out.raw_data(), a.dtype(), a.numel()));
    return;
  }
  dispatch_cpu_floating("mul", a.dtype(), [&]<class T>() { cpu::mul<T>(a.data<T>(), b.data<T>(), out.data<T>(), a.numel()); });
}

void scale_(Tensor& y, double alpha) {
  LAT_CHECK(y.is_contiguous(), "scale_: operand must be contiguous");
  if (y.device().is_cuda()) {
    LAT_IF_CUDA("scale_", y, cuda::scale(y.raw_data(), alpha, y.dtype(), y.numel()));
    return;
  }
  dispatch_cpu_floating("scale_", y.dtype(), [&]<class T>() { cpu::scale<T>(y.data<T>(), static_cast<T>(alpha), y.numel()); });
}

}  // namespace lat::kernels
