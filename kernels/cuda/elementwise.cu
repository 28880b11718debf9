// Elementwise kernels: grid-stride loops, computing in fp32 for bf16 storage.
#include <cuda_bf16.h>

#include "core/cuda_context.h"
#include "kernels/cuda/elementwise.cuh"

namespace lat::kernels::cuda {
namespace {

template <class T> __device__ __forceinline__ float load(const T* p, int64_t i) { return static_cast<float>(p[i]); }
template <> __device__ __forceinline__ float load<__nv_bfloat16>(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
template <class T> __device__ __forceinline__ void store(T* p, int64_t i, float v) { p[i] = static_cast<T>(v); }
template <> __device__ __forceinline__ void store<__nv_bfloat16>(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

enum class Op { Add, Axpy, Mul, Scale };

// a, b, out: [n]
template <class T, Op op>
__global__ void elementwise_kernel(const T* a, const T* b, T* out, float alpha, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float r;
    if constexpr (op == Op::Add) r = load(a, i) + load(b, i);
    else if constexpr (op == Op::Axpy) r = load(out, i) + alpha * load(a, i);
    else if constexpr (op == Op::Mul) r = load(a, i) * load(b, i);
    else r = alpha * load(out, i);
    store(out, i, r);
  }
}

template <Op op>
void launch(const void* a, const void* b, void* out, float alpha, DType dtype, int64_t n) {
  if (n == 0) return;
  const int threads = 256;
  const int grid = static_cast<int>(std::min<int64_t>((n + threads - 1) / threads, 132 * 16));
  switch (dtype) {
    case DType::F32:
      elementwise_kernel<float, op><<<grid, threads, 0, lat::cuda::stream()>>>(
          static_cast<const float*>(a), static_cast<const float*>(b), static_cast<float*>(out), alpha, n);
      break;
    case DType::BF16:
      elementwise_kernel<__nv_bfloat16, op><<<grid, threads, 0, lat::cuda::stream()>>>(
          static_cast<const __nv_bfloat16*>(a), static_cast<const __nv_bfloat16*>(b), static_cast<__nv_bfloat16*>(out),
          alpha, n);
      break;
    default: LAT_THROW("elementwise CUDA kernels support f32 and bf16, got ", dtype_name(dtype));
  }
  LAT_CUDA_CHECK_LAUNCH();
}

}  // namespace

void add(const void* a, const void* b, void* out, DType dtype, int64_t n) { launch<Op::Add>(a, b, out, 0.f, dtype, n); }
void axpy(double alpha, const void* x, void* y, DType dtype, int64_t n) {
  launch<Op::Axpy>(x, nullptr, y, static_cast<float>(alpha), dtype, n);
}
void mul(const void* a, const void* b, void* out, DType dtype, int64_t n) { launch<Op::Mul>(a, b, out, 0.f, dtype, n); }
void scale(void* y, double alpha, DType dtype, int64_t n) {
  launch<Op::Scale>(nullptr, nullptr, y, static_cast<float>(alpha), dtype, n);
}

}  // namespace lat::kernels::cuda
