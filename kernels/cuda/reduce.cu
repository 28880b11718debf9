// Reductions to a scalar on the GPU: per-block partial sums in double, then one block sums the partials in
// block order, so the result does not depend on scheduling.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/reduce.cuh"

namespace lat::kernels::cuda {
namespace {

__device__ __forceinline__ double load_d(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ double load_d(const double* p, int64_t i) { return p[i]; }
__device__ __forceinline__ double load_d(const bf16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void store_d(float* p, double v) { *p = static_cast<float>(v); }
__device__ __forceinline__ void store_d(double* p, double v) { *p = v; }
__device__ __forceinline__ void store_d(bf16* p, double v) { *p = __float2bfloat16_rn(static_cast<float>(v)); }

// x: [n]; partial: [gridDim.x]
// 16 bytes per thread per step when x is 16-byte aligned (kVec), the tail element-wise.
template <class T, bool kVec>
__global__ void partial_sum_kernel(const T* __restrict__ x, int64_t n, double* __restrict__ partial) {
  __shared__ double scratch[32];
  constexpr int V = static_cast<int>(16 / sizeof(T));
  double acc = 0.0;
  const int64_t tid = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if constexpr (kVec) {
    struct alignas(16) Pack { T v[V]; };
    const int64_t packs = n / V;
    for (int64_t p = tid; p < packs; p += stride) {
      const Pack pk = reinterpret_cast<const Pack*>(x)[p];
#pragma unroll
      for (int k = 0; k < V; ++k) acc += load_d(pk.v, k);
    }
    done = packs * V;
  }
  for (int64_t i = done + tid; i < n; i += stride) acc += load_d(x, i);
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <class T>
__global__ void final_sum_kernel(const double* __restrict__ partial, int count, T* __restrict__ out) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) store_d(out, acc);
}

// s: [1]; out: [n]
template <class T>
__global__ void broadcast_kernel(const T* __restrict__ s, T* __restrict__ out, int64_t n, double factor) {
  const double v = factor * load_d(s, 0);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    store_d(out + i, v);
}

template <class F>
void dispatch_reduce(const char* op, DType t, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); return;
    case DType::F64: f(double{}); return;
    case DType::BF16: f(bf16{}); return;
    default: LAT_THROW(op, ": CUDA kernel supports f32, f64 and bf16, got ", dtype_name(t));
  }
}

}  // namespace

void sum(const void* x, void* out, DType dtype, int64_t n) {
  dispatch_reduce("sum", dtype, [&](auto tag) {
    using T = decltype(tag);
    const int threads = 256;
    const int grid = grid_for(n / 4 + 1, threads, 132 * 8);
    Scratch partial(static_cast<size_t>(grid) * sizeof(double));
    auto kernel = aligned_to(x, 16) ? partial_sum_kernel<T, true> : partial_sum_kernel<T, false>;
    kernel<<<grid, threads, 0, lat::cuda::stream()>>>(static_cast<const T*>(x), n, partial.as<double>());
    LAT_CUDA_CHECK_LAUNCH();
    final_sum_kernel<T><<<1, 1024, 0, lat::cuda::stream()>>>(partial.as<double>(), grid, static_cast<T*>(out));
    LAT_CUDA_CHECK_LAUNCH();
  });
}

void broadcast_scalar(const void* s, void* out, DType dtype, int64_t n, double factor) {
  if (n <= 0) return;
  dispatch_reduce("broadcast_scalar", dtype, [&](auto tag) {
    using T = decltype(tag);
    const int threads = 256;
    broadcast_kernel<T><<<grid_for(n, threads), threads, 0, lat::cuda::stream()>>>(static_cast<const T*>(s),
                                                                                 static_cast<T*>(out), n, factor);
    LAT_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lat::kernels::cuda
