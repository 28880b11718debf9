#include "kernels/optim.h"

#include "kernels/cpu/optim.h"
#include "kernels/dispatch.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/adamw.cuh"
#endif

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
  if (param.device().is_cuda()) {
    LAT_CHECK(param.dtype() == DType::F32, "adamw_step: CUDA kernel keeps f32 parameters, got ", param.str());
    LAT_IF_CUDA("adamw_step", param,
                cuda::adamw_step_one(param.data<float>(), grad.raw_data(), grad.dtype(), m.data<float>(),
                                     v.data<float>(), param.numel(),
                                     {step.lr, step.beta1, step.beta2, step.eps, step.bias_correction1,
                                      step.bias_correction2, nullptr},
                                     step.weight_decay));
    return;
  }
  dispatch_cpu_floating("adamw_step", param.dtype(), [&]<class T>() {
    cpu::adamw_step<T>(param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(), param.numel(), step);
  });
}

double sum_of_squares(const Tensor& x) {
  LAT_CHECK(x.is_contiguous(), "sum_of_squares: input must be contiguous");
  if (x.device().is_cuda()) {
    LAT_IF_CUDA("sum_of_squares", x, return cuda::sum_of_squares(x.raw_data(), x.dtype(), x.numel()));
  }
  double result = 0.0;
  dispatch_cpu_floating("sum_of_squares", x.dtype(), [&]<class T>() { result = cpu::sum_of_squares<T>(x.data<T>(), x.numel()); });
  return result;
}

}  // namespace lat::kernels
