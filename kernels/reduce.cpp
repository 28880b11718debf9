#include "kernels/reduce.h"

#include "kernels/cpu/reduce.h"
#include "kernels/dispatch.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/reduce.cuh"
#endif

namespace lat::kernels {

void sum(const Tensor& x, Tensor& out) {
  LAT_CHECK(out.numel() == 1, "sum: output must have one element, got ", out.str());
  check_same_placement("sum", x, out);
  LAT_CHECK(x.is_contiguous(), "sum: input must be contiguous");
  if (x.device().is_cuda()) {
    LAT_IF_CUDA("sum", x, cuda::sum(x.raw_data(), out.raw_data(), x.dtype(), x.numel()));
    return;
  }
  dispatch_cpu_floating("sum", x.dtype(), [&]<class T>() { *out.data<T>() = cpu::sum<T>(x.data<T>(), x.numel()); });
}

void broadcast_scalar(const Tensor& s, Tensor& out, double factor) {
  LAT_CHECK(s.numel() == 1, "broadcast_scalar: source must have one element, got ", s.str());
  check_same_placement("broadcast_scalar", s, out);
  LAT_CHECK(out.is_contiguous(), "broadcast_scalar: output must be contiguous");
  if (out.device().is_cuda()) {
    LAT_IF_CUDA("broadcast_scalar", out,
                cuda::broadcast_scalar(s.raw_data(), out.raw_data(), out.dtype(), out.numel(), factor));
    return;
  }
  dispatch_cpu_floating("broadcast_scalar", out.dtype(), [&]<class T>() {
    cpu::fill<T>(out.data<T>(), static_cast<T>(factor * static_cast<double>(*s.data<T>())), out.numel());
  });
}

}  // namespace lat::kernels
