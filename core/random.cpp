#include "core/random.h"

#include <cmath>

#include "core/error.h"
#include "core/philox.h"

namespace lat {

#ifdef LAT_HAVE_CUDA
namespace cuda {
// core/random.cu: the same streams computed on the device into a contiguous float/double/bf16 buffer.
void fill_random(void* data, DType dtype, int64_t n, uint64_t seed, uint64_t offset, bool normal, double a,
                 double b);
}
#endif

float philox_uniform(uint64_t seed, uint64_t j) {
  Philox4x32 r = philox_block(seed, j / 4, kPhiloxUniformSubsequence);
  return philox_uniform_from_bits(r.v[j % 4]);
}

double philox_normal(uint64_t seed, uint64_t j) {
  Philox4x32 r = philox_block(seed, j / 4, kPhiloxNormalSubsequence);
  const unsigned pair = static_cast<unsigned>((j % 4) / 2);
  const double u1 = philox_uniform_from_bits(r.v[2 * pair]);
  const double u2 = philox_uniform_from_bits(r.v[2 * pair + 1]);
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 6.283185307179586476925 * u2;
  return (j % 2 == 0) ? radius * std::cos(angle) : radius * std::sin(angle);
}

namespace {

void fill_stream(Tensor& t, uint64_t seed, uint64_t offset, bool normal, double a, double b) {
  LAT_CHECK(t.defined() && is_floating(t.dtype()), "random fill needs a floating tensor, got ", t.str());
  const int64_t n = t.numel();
  Tensor out = t.is_contiguous() ? t : Tensor::empty(t.shape(), t.dtype(), t.device());
  if (out.device().is_cuda()) {
#ifdef LAT_HAVE_CUDA
    cuda::fill_random(out.raw_data(), out.dtype(), n, seed, offset, normal, a, b);
#endif
  } else {
    Tensor host = out.dtype() == DType::F64 ? out : Tensor::empty(out.shape(), DType::F64);
    double* p = host.data<double>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t j = offset + static_cast<uint64_t>(i);
      p[i] = normal ? a + b * philox_normal(seed, j) : a + (b - a) * static_cast<double>(philox_uniform(seed, j));
    }
    if (host.storage() != out.storage()) out.copy_(host);
  }
  if (out.storage() != t.storage()) t.copy_(out);
}

}  // namespace

void fill_uniform(Tensor& t, uint64_t seed, uint64_t offset, double lo, double hi) {
  fill_stream(t, seed, offset, false, lo, hi);
}

void fill_normal(Tensor& t, uint64_t seed, uint64_t offset, double mean, double std) {
  fill_stream(t, seed, offset, true, mean, std);
}

}  // namespace lat
