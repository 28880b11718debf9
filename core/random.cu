// Philox streams on the GPU: element i of a contiguous buffer gets stream position offset + i, computed
// with the same header (core/philox.h) and the same double-precision Box–Muller as the CPU path, so both
// devices produce the same values (bit-identical uniforms; normals to the last bit of the stored type in
// all cases we have tested, see tests/core/test_random.cpp).
#include <cuda_bf16.h>

#include "core/cuda_context.h"
#include "core/dtype.h"
#include "core/philox.h"

namespace lat::cuda {
namespace {

__device__ double normal_at(uint64_t seed, uint64_t j) {
  Philox4x32 r = philox_block(seed, j / 4, 1u);
  const unsigned pair = static_cast<unsigned>((j % 4) / 2);
  const double u1 = philox_uniform_from_bits(r.v[2 * pair]);
  const double u2 = philox_uniform_from_bits(r.v[2 * pair + 1]);
  const double radius = sqrt(-2.0 * log(u1));
  const double angle = 6.283185307179586476925 * u2;
  return (j % 2 == 0) ? radius * cos(angle) : radius * sin(angle);
}

template <class T>
__device__ void store(T* p, double v);
template <>
__device__ void store<float>(float* p, double v) { *p = static_cast<float>(v); }
template <>
__device__ void store<double>(double* p, double v) { *p = v; }
template <>
__device__ void store<__nv_bfloat16>(__nv_bfloat16* p, double v) { *p = __float2bfloat16_rn(static_cast<float>(v)); }

// data: [n] of T, contiguous
template <class T>
__global__ void fill_random_kernel(T* data, int64_t n, uint64_t seed, uint64_t offset, bool normal, double a,
                                   double b) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t j = offset + static_cast<uint64_t>(i);
    double v;
    if (normal) {
      v = a + b * normal_at(seed, j);
    } else {
      Philox4x32 r = philox_block(seed, j / 4, 0u);
      v = a + (b - a) * static_cast<double>(philox_uniform_from_bits(r.v[j % 4]));
    }
    store(data + i, v);
  }
}

template <class T>
void launch(void* data, int64_t n, uint64_t seed, uint64_t offset, bool normal, double a, double b) {
  if (n == 0) return;
  const int threads = 256;
  const int64_t blocks = (n + threads - 1) / threads;
  const int grid = static_cast<int>(blocks < 65536 ? blocks : 65536);
  fill_random_kernel<T><<<grid, threads, 0, stream()>>>(static_cast<T*>(data), n, seed, offset, normal, a, b);
  LAT_CUDA_CHECK_LAUNCH();
}

}  // namespace

void fill_random(void* data, DType dtype, int64_t n, uint64_t seed, uint64_t offset, bool normal, double a,
                 double b) {
  switch (dtype) {
    case DType::F32: launch<float>(data, n, seed, offset, normal, a, b); break;
    case DType::F64: launch<double>(data, n, seed, offset, normal, a, b); break;
    case DType::BF16: launch<__nv_bfloat16>(data, n, seed, offset, normal, a, b); break;
    default: LAT_THROW("fill_random: dtype ", dtype_name(dtype), " is not floating");
  }
}

}  // namespace lat::cuda
