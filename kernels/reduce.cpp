#include "kernels/reduce.h"

#include "kernels/cpu/reduce.h"
#include "kernels/dispatch.h"

namespace lat::kernels {

void sum(const Tensor& x, Tensor& out) {
  LAT_CHECK(out.numel() == 1, "sum: output must have one element, got ", out.str());
  check_same_placement("sum", x, out);
  LAT_CHECK(x.is_contiguous(), "sum: input must be contiguous");
  if (x.device().is_cuda()) no_cuda_kernel("sum", x);
  dispatch_cpu_floating("sum", x.dtype(), [&]<class T>() { *out.data<T>() = cpu::sum<T>(x.data<T>(), x.numel()); });
}

void broadcast_scalar(const Tensor& s, Tensor& out, double factor) {
  LAT_CHECK(s.numel() == 1, "broadcast_scalar: source must have one element, got ", s.str());
  check_same_placement("broadcast_scalar", s, out);
  LAT_CHECK(out.is_contiguous(), "broadcast_scalar: output must be contiguous");
  if (out.device().is_cuda()) no_cuda_kernel("broadcast_scalar", out);
  dispatch_cpu_floating("broadcast_scalar", out.dtype(), [&]<class T>() {
    cpu::fill<T>(out.data<T>(), static_cast<T>(factor * static_cast<double>(*s.data<T>())), out.numel());
  });
}

}  // namespace lat::kernels
