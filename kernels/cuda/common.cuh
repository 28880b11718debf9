// Device helpers shared by lat's hand-written kernels: fp32 <-> storage conversion, 8-element vector
// accesses (16 bytes of bf16, 32 bytes of fp32), warp/block reductions, launch sizing and f32/bf16 dispatch.
// Included only by kernels/cuda/*.cu.
#pragma once

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "core/cuda_context.h"
#include "core/dtype.h"

namespace lat::kernels::cuda {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(bf16 x) { return __bfloat162float(x); }
template <class T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float x) { return __float2bfloat16_rn(x); }

// Eight consecutive elements, aligned to their size so one access moves them (LDG/STG.128 per 16 bytes).
template <class T>
struct alignas(8 * sizeof(T)) Pack8 {
  T v[8];
};

template <class T>
__device__ __forceinline__ void load8(const T* p, float (&out)[8]) {
  const Pack8<T> pack = *reinterpret_cast<const Pack8<T>*>(p);
#pragma unroll
  for (int k = 0; k < 8; ++k) out[k] = to_float(pack.v[k]);
}

// V consecutive elements moved by one access. Kernels pick V = 16 / (widest element size) so that every
// warp-wide load and store instruction covers whole 32-byte sectors: measured on the H200 (docs/perf/cuda_ops.md),
// a warp storing 32 bytes per thread as two 16-byte halves ran at ~1/4 of bandwidth (partial sectors per instruction).
template <class T, int V>
struct alignas(V * sizeof(T)) PackN {
  T v[V];
};

template <int V, class T>
__device__ __forceinline__ void load_vec(const T* p, float (&out)[V]) {
  const PackN<T, V> pack = *reinterpret_cast<const PackN<T, V>*>(p);
#pragma unroll
  for (int k = 0; k < V; ++k) out[k] = to_float(pack.v[k]);
}

template <int V, class T>
__device__ __forceinline__ void store_vec(T* p, const float (&in)[V]) {
  PackN<T, V> pack;
#pragma unroll
  for (int k = 0; k < V; ++k) pack.v[k] = from_float<T>(in[k]);
  *reinterpret_cast<PackN<T, V>*>(p) = pack;
}

// Elements per 16-byte access of the widest of the types.
template <class A, class B = A>
constexpr int kVecWidth = static_cast<int>(16 / (sizeof(A) > sizeof(B) ? sizeof(A) : sizeof(B)));

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block, returned to every thread. `scratch` holds 32 values; blockDim.x a multiple of 32.
// Ends with a barrier so scratch may be reused right away.
template <class A>
__device__ __forceinline__ A block_sum(A v, A* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  A total = lane < warps ? scratch[lane] : A(0);
  total = warp_sum(total);
  __syncthreads();
  return total;
}

__device__ __forceinline__ float2 block_sum2(float2 v, float2* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v.x = warp_sum(v.x);
  v.y = warp_sum(v.y);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float2 t = lane < warps ? scratch[lane] : make_float2(0.0f, 0.0f);
  t.x = warp_sum(t.x);
  t.y = warp_sum(t.y);
  __syncthreads();
  return t;
}

inline bool aligned_to(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Blocks for a grid-stride loop over `work` items: enough to fill the H200's 132 SMs many times over.
inline int grid_for(int64_t work, int threads, int64_t max_blocks = 132 * 16) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((work + threads - 1) / threads, max_blocks)));
}

// Threads per block for a row of `packs` vector packs: a multiple of 32 in [32, max_threads].
inline int threads_for_row(int64_t packs, int max_threads = 512) {
  int64_t t = (packs + 31) / 32 * 32;
  return static_cast<int>(std::max<int64_t>(32, std::min<int64_t>(t, max_threads)));
}

// Calls f(float{}) or f(bf16{}) for a storage dtype; other dtypes throw naming the op.
template <class F>
void dispatch_float_bf16(const char* op, DType t, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); return;
    case DType::BF16: f(bf16{}); return;
    default: LAT_THROW(op, ": CUDA kernel supports f32 and bf16, got ", dtype_name(t));
  }
}

// Stream-ordered scratch memory from the CUDA pool, freed (stream-ordered) when it goes out of scope.
class Scratch {
 public:
  explicit Scratch(size_t bytes) { LAT_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes ? bytes : 1, lat::cuda::stream())); }
  ~Scratch() { (void)cudaFreeAsync(ptr_, lat::cuda::stream()); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

}  // namespace lat::kernels::cuda
