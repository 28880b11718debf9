// The generic elementwise map: NI input arrays and NO output arrays of n elements, op(in[NI], out[NO]) on fp32
// values. Each thread takes 16 bytes of consecutive elements per step (8 bf16 or 4 fp32: one full-sector access
// per warp instruction) when every pointer is 16-byte aligned, scalar accesses otherwise and for the tail.
// Used by the activations and the attention family's pointwise maps.
#pragma once

#include "core/cuda_context.h"
#include "kernels/cuda/common.cuh"

namespace lat::kernels::cuda {

template <class T, int N>
struct MapPtrs {
  T* p[N];
};

// in: NI arrays of [n]; out: NO arrays of [n]; op(in[NI], out[NO]) on fp32 values. Each thread takes V = 16 bytes
// of every array per step (one full-sector access per warp instruction).
template <class T, int NI, int NO, class Op, bool kVec>
__global__ void map_kernel(MapPtrs<const T, NI> in, MapPtrs<T, NO> out, int64_t n, Op op) {
  constexpr int V = kVecWidth<T>;
  const int64_t packs = (n + V - 1) / V;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < packs;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = p * V;
    float a[NI][V], r[NO][V];
    if (kVec && base + V <= n) {
#pragma unroll
      for (int i = 0; i < NI; ++i) load_vec<V>(in.p[i] + base, a[i]);
    } else {
#pragma unroll
      for (int k = 0; k < V; ++k)
#pragma unroll
        for (int i = 0; i < NI; ++i) a[i][k] = base + k < n ? to_float(in.p[i][base + k]) : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < V; ++k) {
      float x[NI], y[NO];
#pragma unroll
      for (int i = 0; i < NI; ++i) x[i] = a[i][k];
      op(x, y);
#pragma unroll
      for (int o = 0; o < NO; ++o) r[o][k] = y[o];
    }
    if (kVec && base + V <= n) {
#pragma unroll
      for (int o = 0; o < NO; ++o) store_vec<V>(out.p[o] + base, r[o]);
    } else {
      for (int k = 0; k < V && base + k < n; ++k)
#pragma unroll
        for (int o = 0; o < NO; ++o) out.p[o][base + k] = from_float<T>(r[o][k]);
    }
  }
}

template <int NI, int NO, class Op>
inline void launch_map(const char* name, DType dtype, const void* const (&in)[NI], void* const (&out)[NO], int64_t n,
                       Op op) {
  if (n <= 0) return;
  dispatch_float_bf16(name, dtype, [&](auto tag) {
    using T = decltype(tag);
    MapPtrs<const T, NI> ip;
    MapPtrs<T, NO> op_;
    bool vec = true;
    for (int i = 0; i < NI; ++i) {
      ip.p[i] = static_cast<const T*>(in[i]);
      vec = vec && aligned_to(in[i], 16);
    }
    for (int o = 0; o < NO; ++o) {
      op_.p[o] = static_cast<T*>(out[o]);
      vec = vec && aligned_to(out[o], 16);
    }
    const int threads = 256;
    const int grid = grid_for((n + kVecWidth<T> - 1) / kVecWidth<T>, threads);
    if (vec)
      map_kernel<T, NI, NO, Op, true><<<grid, threads, 0, lat::cuda::stream()>>>(ip, op_, n, op);
    else
      map_kernel<T, NI, NO, Op, false><<<grid, threads, 0, lat::cuda::stream()>>>(ip, op_, n, op);
    LAT_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lat::kernels::cuda
