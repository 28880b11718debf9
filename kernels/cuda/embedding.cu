// Embedding forward/backward (see embedding.cuh). One block per token row at a time, 16-byte packs across
// the row; the backward adds with float4 atomics (sm_90 has vector atomicAdd on global fp32) when dim allows.
// Floor: forward n × dim × (sizeof(table) + sizeof(out)); backward n × dim × (sizeof(dout) + 2 × 4) bytes.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/embedding.cuh"

namespace lat::kernels::cuda {
namespace {

// ids: [n]; table: [vocab, dim]; out: [n, dim]
template <class TW, class TO, bool kVec>
__global__ void embedding_forward_kernel(const int32_t* __restrict__ ids, const TW* __restrict__ table,
                                         TO* __restrict__ out, int64_t n, int64_t vocab, int64_t dim) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int32_t id = ids[i];
    const bool valid = id >= 0 && id < vocab;
    const TW* src = table + (valid ? id : 0) * dim;
    TO* dst = out + i * dim;
    if constexpr (kVec) {
      constexpr int V = kVecWidth<TW, TO>;
      for (int64_t p = threadIdx.x; p < dim / V; p += blockDim.x) {
        float a[V];
        load_vec<V>(src + p * V, a);
        if (!valid)
#pragma unroll
          for (int k = 0; k < V; ++k) a[k] = NAN;
        store_vec<V>(dst + p * V, a);
      }
    } else {
      for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) dst[j] = from_float<TO>(valid ? to_float(src[j]) : NAN);
    }
  }
}

// ids: [n]; dout: [n, dim]; dtable: [vocab, dim]
template <class T, bool kVec>
__global__ void embedding_backward_kernel(const int32_t* __restrict__ ids, const T* __restrict__ dout,
                                          float* __restrict__ dtable, int64_t n, int64_t vocab, int64_t dim) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int32_t id = ids[i];
    if (id < 0 || id >= vocab) continue;
    const T* src = dout + i * dim;
    float* dst = dtable + static_cast<int64_t>(id) * dim;
    if constexpr (kVec) {
      // One float4 atomic per thread: the warp's atomics cover contiguous whole sectors.
      for (int64_t p = threadIdx.x; p < dim / 4; p += blockDim.x) {
        float a[4];
        load_vec<4>(src + p * 4, a);
        atomicAdd(reinterpret_cast<float4*>(dst + p * 4), make_float4(a[0], a[1], a[2], a[3]));
      }
    } else {
      for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) atomicAdd(dst + j, to_float(src[j]));
    }
  }
}

}  // namespace

void embedding_forward(const int32_t* ids, const void* table, DType table_dtype, void* out, DType out_dtype,
                       int64_t n, int64_t vocab, int64_t dim) {
  if (n <= 0 || dim <= 0) return;
  dispatch_float_bf16("embedding_forward", table_dtype, [&](auto wtag) {
    dispatch_float_bf16("embedding_forward", out_dtype, [&](auto otag) {
      using TW = decltype(wtag);
      using TO = decltype(otag);
      constexpr int V = kVecWidth<TW, TO>;
      const bool vec = dim % V == 0 && aligned_to(table, V * sizeof(TW)) && aligned_to(out, V * sizeof(TO));
      const int threads = threads_for_row(vec ? dim / V : dim, 256);
      const int grid = static_cast<int>(std::min<int64_t>(n, 132 * 16));
      auto kernel = vec ? embedding_forward_kernel<TW, TO, true> : embedding_forward_kernel<TW, TO, false>;
      kernel<<<grid, threads, 0, lat::cuda::stream()>>>(ids, static_cast<const TW*>(table), static_cast<TO*>(out), n,
                                                        vocab, dim);
      LAT_CUDA_CHECK_LAUNCH();
    });
  });
}

void embedding_backward(const int32_t* ids, const void* dout, DType dout_dtype, float* dtable, int64_t n,
                        int64_t vocab, int64_t dim) {
  if (n <= 0 || dim <= 0) return;
  dispatch_float_bf16("embedding_backward", dout_dtype, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = dim % 4 == 0 && aligned_to(dout, 4 * sizeof(T)) && aligned_to(dtable, 16);
    const int threads = threads_for_row(vec ? dim / 4 : dim, 256);
    const int grid = static_cast<int>(std::min<int64_t>(n, 132 * 16));
    auto kernel = vec ? embedding_backward_kernel<T, true> : embedding_backward_kernel<T, false>;
    kernel<<<grid, threads, 0, lat::cuda::stream()>>>(ids, static_cast<const T*>(dout), dtable, n, vocab, dim);
    LAT_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lat::kernels::cuda
