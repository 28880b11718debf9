#include "kernels/norm.h"

#include "kernels/cpu/norm.h"
#include "kernels/dispatch.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/rmsnorm.cuh"
#endif

namespace lat::kernels {
namespace {

// x: [..., D] -> (rows, D) after checking gain: [D] and rstd: [...].
void check_norm(const char* op, const Tensor& x, const Tensor& gain, const Tensor& rstd) {
  LAT_CHECK(x.ndim() >= 1, op, ": x must have at least one dim, got ", x.shape().str());
  check_same_placement(op, x, gain);
  check_same_placement(op, x, rstd);
  check_shape(op, "gain", gain, Shape{x.size(-1)});
  std::vector<int64_t> rows = x.shape().vec();
  rows.pop_back();
  check_shape(op, "rstd", rstd, Shape(rows));
  LAT_CHECK(x.is_contiguous() && gain.is_contiguous() && rstd.is_contiguous(), op,
            ": operands must be contiguous");
}

}  // namespace

void rmsnorm_forward(const Tensor& x, const Tensor& gain, double eps, Tensor& out, Tensor& rstd) {
  const char* op = "rmsnorm";
  check_norm(op, x, gain, rstd);
  check_same_placement(op, x, out);
  check_shape(op, "out", out, x.shape());
  LAT_CHECK(eps >= 0, op, ": eps must be non-negative, got ", eps);
  const int64_t dim = x.size(-1), rows = dim ? x.numel() / dim : 0;
  if (x.device().is_cuda()) {
    LAT_IF_CUDA(
        op, x,
        cuda::rmsnorm_forward_same_dtype(x.raw_data(), gain.raw_data(), out.raw_data(), rstd.raw_data(),
                                         x.dtype(), rows, dim, static_cast<float>(eps)));
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::rmsnorm_forward<T>(x.data<T>(), gain.data<T>(), static_cast<T>(eps), out.data<T>(), rstd.data<T>(),
                            rows, dim);
  });
}

void rmsnorm_backward(const Tensor& dout, const Tensor& x, const Tensor& gain, const Tensor& rstd, Tensor* dx,
                      Tensor* dgain) {
  const char* op = "rmsnorm_backward";
  check_norm(op, x, gain, rstd);
  check_same_placement(op, x, dout);
  check_shape(op, "dout", dout, x.shape());
  LAT_CHECK(dout.is_contiguous(), op, ": dout must be contiguous");
  if (dx) {
    check_same_placement(op, x, *dx);
    check_shape(op, "dx", *dx, x.shape());
  }
  if (dgain) {
    check_same_placement(op, x, *dgain);
    check_shape(op, "dgain", *dgain, gain.shape());
  }
  const int64_t dim = x.size(-1), rows = dim ? x.numel() / dim : 0;
  if (x.device().is_cuda()) {
    LAT_IF_CUDA(op, x,
                cuda::rmsnorm_backward_same_dtype(dout.raw_data(), x.raw_data(), gain.raw_data(),
                                                  rstd.raw_data(), dx ? dx->raw_data() : nullptr,
                                                  dgain ? dgain->raw_data() : nullptr, x.dtype(), rows, dim));
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::rmsnorm_backward<T>(dout.data<T>(), x.data<T>(), gain.data<T>(), rstd.data<T>(),
                             dx ? dx->data<T>() : nullptr, dgain ? dgain->data<T>() : nullptr, rows, dim);
  });
}

}  // namespace lat::kernels
