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

template <class T, Op op>
__device__ __forceinline__ float apply(const T* a, const T* b, const T* out, float alpha, int64_t i) {
  if constexpr (op == Op::Add) return load(a, i) + load(b, i);
  else if constexpr (op == Op::Axpy) return load(out, i) + alpha * load(a, i);
  else if constexpr (op == Op::Mul) return load(a, i) * load(b, i);
  else return alpha * load(out, i);
}

// a, b, out: [n]. With kVec every operand is 16-byte aligned: each thread handles 16 bytes of each operand per
// iteration (full-width loads; bf16 storage is what makes the scalar loop slow), the tail element-wise.
template <class T, Op op, bool kVec>
__global__ void elementwise_kernel(const T* a, const T* b, T* out, float alpha, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  int64_t done = 0;
  if constexpr (kVec) {
    constexpr int V = 16 / sizeof(T);
    struct alignas(16) Pack { T v[V]; };
    const int64_t packs = n / V;
    for (int64_t p = i; p < packs; p += stride) {
      Pack pa{}, pb{}, po{};
      if constexpr (op != Op::Scale) pa = reinterpret_cast<const Pack*>(a)[p];
      if constexpr (op == Op::Add || op == Op::Mul) pb = reinterpret_cast<const Pack*>(b)[p];
      if constexpr (op == Op::Axpy || op == Op::Scale) po = reinterpret_cast<const Pack*>(out)[p];
      Pack r;
#pragma unroll
      for (int k = 0; k < V; ++k) store(r.v, k, apply<T, op>(pa.v, pb.v, po.v, alpha, k));
      reinterpret_cast<Pack*>(out)[p] = r;
    }
    done = packs * V;
  }
  for (int64_t j = done + i; j < n; j += stride) store(out, j, apply<T, op>(a, b, out, alpha, j));
}

bool aligned16(const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <class T, Op op>
void launch_typed(const void* a, const void* b, void* out, float alpha, int64_t n) {
  const int threads = 256;
  const bool vec = aligned16(a) && aligned16(b) && aligned16(out);
  const int64_t work = vec ? n / (16 / static_cast<int64_t>(sizeof(T))) + 1 : n;
  const int grid = static_cast<int>(std::min<int64_t>((work + threads - 1) / threads, 132 * 16));
  const T* ta = static_cast<const T*>(a);
  const T* tb = static_cast<const T*>(b);
  T* to = static_cast<T*>(out);
  if (vec)
    elementwise_kernel<T, op, true><<<grid, threads, 0, lat::cuda::stream()>>>(ta, tb, to, alpha, n);
  else
    elementwise_kernel<T, op, false><<<grid, threads, 0, lat::cuda::stream()>>>(ta, tb, to, alpha, n);
}

template <Op op>
void launch(const void* a, const void* b, void* out, float alpha, DType dtype, int64_t n) {
  if (n == 0) return;
  switch (dtype) {
    case DType::F32: launch_typed<float, op>(a, b, out, alpha, n); break;
    case DType::BF16: launch_typed<__nv_bfloat16, op>(a, b, out, alpha, n); break;
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
