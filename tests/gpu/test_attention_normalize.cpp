// CUDA vs CPU for the normalised linear-attention form's helpers (kernels/lightning_attention.h): the CPU
// reference runs in double on the same (device-rounded) inputs.
#include <doctest/doctest.h>

#include <string>

#include "gpu_test_util.h"
#include "kernels/lightning_attention.h"

using namespace lat;
using namespace lat::gpu_test;


TEST_CASE("normalised-form helpers on CUDA equal the CPU ones (augment, normalise, backward, [num | den] slices "
          "and separate tensors)") {
  for (DType dtype : {DType::F32, DType::BF16}) {
    const int64_t B = 2, H = 3, N = 37, e = 65;  // odd row length, rows not a multiple of a block
    const Tensor v = random_device(Shape{B, H, N, e}, dtype, 1);
    Tensor v_aug = Tensor::empty(Shape{B, H, N, e + 1}, dtype, Device::cuda());
    kernels::augment_values(v, v_aug);
    Tensor v_aug_ref = Tensor::empty(Shape{B, H, N, e + 1}, DType::F64);
    kernels::augment_values(host_copy(v, DType::F64), v_aug_ref);
    expect_close(dtype, v_aug, v_aug_ref, "augment_values");

    // Denominators kept positive and away from zero, as the feature maps guarantee. [num | den] as one tensor
    // (row stride e + 1), and num with the denominator in column 0 of another tensor (row stride e).
    Tensor num = random_device(Shape{B, H, N, e + 1}, dtype, 2, 0.5, 2.0);
    Tensor num_sep = random_device(Shape{B, H, N, e}, dtype, 4, 0.5, 2.0);
    Tensor den_sep = random_device(Shape{B, H, N, e}, dtype, 5, 0.5, 2.0);
    const Tensor num64 = host_copy(num, DType::F64), num_sep64 = host_copy(num_sep, DType::F64);
    const Tensor den_sep64 = host_copy(den_sep, DType::F64);
    struct Form {
      const char* name;
      Tensor n, d, n64, d64;
    } forms[] = {
        {"[num | den]", num.slice(3, 0, e), num.slice(3, e, e + 1), num64.slice(3, 0, e), num64.slice(3, e, e + 1)},
        {"num, den column 0", num_sep, den_sep.slice(3, 0, 1), num_sep64, den_sep64.slice(3, 0, 1)}};
    for (const Form& f : forms) {
      const std::string tag = std::string(" (") + f.name + ")";
      Tensor out = Tensor::empty(Shape{B, H, N, e}, dtype, Device::cuda());
      Tensor den = Tensor::empty(Shape{B, H, N}, dtype, Device::cuda());
      kernels::normalize_by_denominator(f.n, f.d, 1e-6, out, den);
      Tensor out_ref = Tensor::empty(Shape{B, H, N, e}, DType::F64);
      Tensor den_ref = Tensor::empty(Shape{B, H, N}, DType::F64);
      kernels::normalize_by_denominator(f.n64, f.d64, 1e-6, out_ref, den_ref);
      expect_close(dtype, out, out_ref, "normalize_by_denominator out" + tag);
      expect_close(dtype, den, den_ref, "normalize_by_denominator denominator" + tag);

      const Tensor g = random_device(Shape{B, H, N, e}, dtype, 3);
      Tensor g_aug = Tensor::zeros(Shape{B, H, N, e + 1}, dtype, Device::cuda());
      Tensor g_num = g_aug.slice(3, 0, e), g_den = g_aug.slice(3, e, e + 1);
      kernels::denominator_backward(g, out, den, g_num, g_den);
      Tensor g_aug_ref = Tensor::zeros(Shape{B, H, N, e + 1}, DType::F64);
      Tensor g_num_ref = g_aug_ref.slice(3, 0, e), g_den_ref = g_aug_ref.slice(3, e, e + 1);
      kernels::denominator_backward(host_copy(g, DType::F64), host_copy(out, DType::F64), host_copy(den, DType::F64),
                                    g_num_ref, g_den_ref);
      expect_close(dtype, g_aug, g_aug_ref, "denominator_backward" + tag);
    }
  }
}
