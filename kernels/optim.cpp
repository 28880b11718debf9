#include "kernels/optim.h"

#include "kernels/cpu/optim.h"
#include "kernels/dispatch.h"

namespace lat::kernels {

void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWStep& step) {
  check_same_shape("adamw_step", param, grad);
  check_same_shape("adamw_step", param, m);
  check_same_shape("adamw_step", param, v);
  check_same_placement("adamw_step", param, grad);
  check_same_placement("adamw_step", param, m);
  check_same_placement("adamw_step", param, v);
  LAT_CHECK(param.is_contiguous() && grad.is_contiguous() && m.is_contiguous() && v.is_contiguous(),
            "adamw_step: operands must be contiguous");
  if (param.device().is_cuda()) no_cuda_kernel("adamw_step", param);
  dispatch_cpu_floating("adamw_step", param.dtype(), [&]<class T>() {
    cpu::adamw_step<T>(param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(), param.numel(), step);
  });
}

double sum_of_squares(const Tensor& x) {
  LAT_CHECK(x.is_contiguous(), "sum_of_squares: input must be contiguous");
  if (x.device().is_cuda()) no_cuda_kernel("sum_of_squares", x);
  double result = 0.0;
  dispatch_cpu_floating("sum_of_squares", x.dtype(), [&]<class T>() { result = cpu::sum_of_squares<T>(x.data<T>(), x.numel()); });
  return result;
}

}  // namespace lat::kernels
