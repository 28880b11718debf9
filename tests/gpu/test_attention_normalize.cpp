// CUDA vs CPU for the normalised linear-attention form's helpers (kernels/lightning_attention.h): the CPU
// reference runs in double on the same (device-rounded) inputs.
#include <doctest/doctest.h>

#include "gpu_test_util.h"
#include "kernels/lightning_attention.h"

using namespace lat;
using namespace lat::gpu_test;


TEST_CASE("normalised-form helpers on CUDA equal the CPU ones (augment, normalise, backward, drop column)") {
  for (DType dtype : {DType::F32, DType::BF16}) {
    const int64_t B = 2, H = 3, N = 37, e = 65;  // odd row length, rows not a multiple of a block
    const Tensor v = random_device(Shape{B, H, N, e}, dtype, 1);
    Tensor v_aug = Tensor::empty(Shape{B, H, N, e + 1}, dtype, Device::cuda());
    kernels::augment_values(v, v_aug);
    Tensor v_aug_ref = Tensor::empty(Shape{B, H, N, e + 1}, DType::F64);
    kernels::augment_values(host_copy(v, DType::F64), v_aug_ref);
    expect_close(dtype, v_aug, v_aug_ref, "augment_values");

    // Denominators kept positive and away from zero, as the feature maps guarantee.
    Tensor num = random_device(Shape{B, H, N, e + 1}, dtype, 2, 0.5, 2.0);
    Tensor out = Tensor::empty(Shape{B, H, N, e}, dtype, Device::cuda());
    Tensor den = Tensor::empty(Shape{B, H, N}, dtype, Device::cuda());
    kernels::normalize_by_denominator(num, 1e-6, out, den);
    Tensor out_ref = Tensor::empty(Shape{B, H, N, e}, DType::F64), den_ref = Tensor::empty(Shape{B, H, N}, DType::F64);
    kernels::normalize_by_denominator(host_copy(num, DType::F64), 1e-6, out_ref, den_ref);
    expect_close(dtype, out, out_ref, "normalize_by_denominator out");
    expect_close(dtype, den, den_ref, "normalize_by_denominator denominator");

    const Tensor g = random_device(Shape{B, H, N, e}, dtype, 3);
    Tensor g_aug = Tensor::empty(Shape{B, H, N, e + 1}, dtype, Device::cuda());
    kernels::denominator_backward(g, out, den, g_aug);
    Tensor g_aug_ref = Tensor::empty(Shape{B, H, N, e + 1}, DType::F64);
    kernels::denominator_backward(host_copy(g, DType::F64), host_copy(out, DType::F64), host_copy(den, DType::F64), g_aug_ref);
    expect_close(dtype, g_aug, g_aug_ref, "denominator_backward");

    Tensor dropped = Tensor::empty(Shape{B, H, N, e}, dtype, Device::cuda());
    kernels::drop_last_column(g_aug, dropped);
    Tensor dropped_ref = Tensor::empty(Shape{B, H, N, e}, DType::F64);
    kernels::drop_last_column(host_copy(g_aug, DType::F64), dropped_ref);
    expect_close(dtype, dropped, dropped_ref, "drop_last_column");
  }
}
