// RMSNorm forward/backward (see rmsnorm.cuh). One block per row at a time (grid-stride over rows), threads
// across the row in 16-byte packs. The row is read twice (statistics, then output); the second read hits
// L1/L2, so DRAM traffic stays near one read of x (and dy) plus one write. Backward keeps each block's dw
// partial in shared memory (each column owned by one thread: no conflicts, no atomics), then a second small
// kernel sums the partials in block order, so dw is bit-reproducible run to run.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/rmsnorm.cuh"

namespace lat::kernels::cuda {
namespace {

// x, y: [rows, dim]; w: [dim]; rstd: [rows] or null
template <class T, class W, bool kVec>
__global__ void rmsnorm_forward_kernel(const T* __restrict__ x, const W* __restrict__ w, T* __restrict__ y,
                                       float* __restrict__ rstd, int64_t rows, int64_t dim, float eps) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * dim;
    T* yr = y + r * dim;
    float ss = 0.0f;
    constexpr int V = kVecWidth<T>;
    if constexpr (kVec) {
      for (int64_t p = threadIdx.x; p < dim / V; p += blockDim.x) {
        float a[V];
        load_vec<V>(xr + p * V, a);
#pragma unroll
        for (int k = 0; k < V; ++k) ss += a[k] * a[k];
      }
    } else {
      for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const float v = to_float(xr[j]);
        ss += v * v;
      }
    }
    ss = block_sum(ss, scratch);
    const float rs = 1.0f / sqrtf(ss / static_cast<float>(dim) + eps);
    if (rstd != nullptr && threadIdx.x == 0) rstd[r] = rs;
    if constexpr (kVec) {
      for (int64_t p = threadIdx.x; p < dim / V; p += blockDim.x) {
        float a[V], wv[V], o[V];
        load_vec<V>(xr + p * V, a);
        load_vec<V>(w + p * V, wv);
#pragma unroll
        for (int k = 0; k < V; ++k) o[k] = a[k] * rs * wv[k];
        store_vec<V>(yr + p * V, o);
      }
    } else {
      for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = from_float<T>(to_float(xr[j]) * rs * to_float(w[j]));
    }
  }
}

// x, dy, dx: [rows, dim]; w: [dim]; dw_partial: [gridDim.x, dim]
template <class T, class W, bool kVec>
__global__ void rmsnorm_backward_kernel(const T* __restrict__ x, const W* __restrict__ w, const T* dy, T* dx,
                                        float* __restrict__ dw_partial, int64_t rows, int64_t dim, float eps,
                                        const float* __restrict__ rstd_saved) {
  extern __shared__ float dw_s[];  // [dim]
  __shared__ float2 scratch[32];
  constexpr int V = kVecWidth<T>;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) dw_s[j] = 0.0f;
  __syncthreads();
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * dim;
    const T* gr = dy + r * dim;
    T* dxr = dx != nullptr ? dx + r * dim : nullptr;
    float ss = 0.0f, dot = 0.0f;
    if constexpr (kVec) {
      for (int64_t p = threadIdx.x; p < dim / V; p += blockDim.x) {
        float a[V], g[V], wv[V];
        load_vec<V>(xr + p * V, a);
        load_vec<V>(gr + p * V, g);
        load_vec<V>(w + p * V, wv);
#pragma unroll
        for (int k = 0; k < V; ++k) {
          ss += a[k] * a[k];
          dot += wv[k] * g[k] * a[k];
        }
      }
    } else {
      for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const float a = to_float(xr[j]), g = to_float(gr[j]);
        ss += a * a;
        dot += to_float(w[j]) * g * a;
      }
    }
    const float2 sums = block_sum2(make_float2(ss, dot), scratch);
    ss = sums.x;
    dot = sums.y;
    const float rs = rstd_saved != nullptr ? rstd_saved[r] : 1.0f / sqrtf(ss / static_cast<float>(dim) + eps);
    const float c = rs * rs * rs * dot / static_cast<float>(dim);
    if constexpr (kVec) {
      for (int64_t p = threadIdx.x; p < dim / V; p += blockDim.x) {
        float a[V], g[V], wv[V], o[V];
        load_vec<V>(xr + p * V, a);
        load_vec<V>(gr + p * V, g);
        load_vec<V>(w + p * V, wv);
#pragma unroll
        for (int k = 0; k < V; ++k) {
          o[k] = rs * wv[k] * g[k] - a[k] * c;
          dw_s[p * V + k] += g[k] * a[k] * rs;
        }
        if (dxr != nullptr) store_vec<V>(dxr + p * V, o);
      }
    } else {
      for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const float a = to_float(xr[j]), g = to_float(gr[j]);
        if (dxr != nullptr) dxr[j] = from_float<T>(rs * to_float(w[j]) * g - a * c);
        dw_s[j] += g * a * rs;
      }
    }
  }
  __syncthreads();
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) dw_partial[blockIdx.x * dim + j] = dw_s[j];
}

// dw[j] (+)= Σ_b partial[b, j]. Block (32 columns × 32 lanes of b): lane y sums b = y, y + 32, ... in order, then
// the 32 lane sums are added in order: a fixed summation tree, so dw does not depend on scheduling.
template <class W>
__global__ void sum_partials_kernel(const float* __restrict__ partial, W* __restrict__ dw, int64_t blocks,
                                    int64_t dim, bool accumulate) {
  __shared__ float lanes[32][33];
  const int64_t j = blockIdx.x * 32 + threadIdx.x;
  float s = 0.0f;
  if (j < dim)
    for (int64_t b = threadIdx.y; b < blocks; b += 32) s += partial[b * dim + j];
  lanes[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && j < dim) {
    float total = accumulate ? to_float(dw[j]) : 0.0f;
    for (int y = 0; y < 32; ++y) total += lanes[y][threadIdx.x];
    dw[j] = from_float<W>(total);
  }
}

}  // namespace

void rmsnorm_forward(const void* x, const void* w, void* y, float* rstd, DType dtype, DType w_dtype, int64_t rows,
                     int64_t dim, float eps) {
  if (rows <= 0 || dim <= 0) return;
  dispatch_float_bf16("rmsnorm_forward", dtype, [&](auto tag) {
    dispatch_float_bf16("rmsnorm_forward", w_dtype, [&](auto wtag) {
      using T = decltype(tag);
      using W = decltype(wtag);
      constexpr int V = kVecWidth<T>;
      const bool vec = dim % V == 0 && aligned_to(x, 16) && aligned_to(y, 16) && aligned_to(w, V * sizeof(W));
      const int threads = threads_for_row(vec ? dim / V : dim);
      const int grid = static_cast<int>(std::min<int64_t>(rows, 132 * 16));
      // (A variant keeping the row in registers between the two passes measured slower on the H200: 1.79x the
      // floor against 1.30x for this one; docs/perf/cuda_ops.md.)
      auto kernel = vec ? rmsnorm_forward_kernel<T, W, true> : rmsnorm_forward_kernel<T, W, false>;
      kernel<<<grid, threads, 0, lat::cuda::stream()>>>(static_cast<const T*>(x), static_cast<const W*>(w),
                                                        static_cast<T*>(y), rstd, rows, dim, eps);
      LAT_CUDA_CHECK_LAUNCH();
    });
  });
}

void rmsnorm_backward(const void* x, const void* w, const void* dy, void* dx, void* dw, DType dtype, DType w_dtype,
                      int64_t rows, int64_t dim, float eps, bool accumulate_dw, const float* rstd_saved) {
  if (dim <= 0 || (dx == nullptr && dw == nullptr)) return;
  if (rows <= 0) {
    if (dw != nullptr && !accumulate_dw)
      LAT_CUDA_CHECK(cudaMemsetAsync(dw, 0, static_cast<size_t>(dim) * dtype_size(w_dtype), lat::cuda::stream()));
    return;
  }
  const size_t smem = static_cast<size_t>(dim) * sizeof(float);
  LAT_CHECK(smem <= 200 * 1024, "rmsnorm_backward: dim ", dim, " exceeds the shared-memory dw buffer");
  dispatch_float_bf16("rmsnorm_backward", dtype, [&](auto tag) {
    dispatch_float_bf16("rmsnorm_backward", w_dtype, [&](auto wtag) {
      using T = decltype(tag);
      using W = decltype(wtag);
      constexpr int V = kVecWidth<T>;
      const bool vec = dim % V == 0 && aligned_to(x, 16) && aligned_to(dy, 16) && aligned_to(dx, 16) &&
                       aligned_to(w, V * sizeof(W));
      const int threads = threads_for_row(vec ? dim / V : dim);
      // Enough blocks to fill every SM (one block works on one row at a time); the dw partials cost
      // grid × dim × 4 bytes written and read once, small next to the rows × dim traffic.
      const int grid = static_cast<int>(std::min<int64_t>(rows, 132 * 16));
      // Without dw the partials are still written (cheap: grid × dim floats) and simply not summed.
      Scratch partial(static_cast<size_t>(grid) * smem);
      auto kernel = vec ? rmsnorm_backward_kernel<T, W, true> : rmsnorm_backward_kernel<T, W, false>;
      if (smem > 48 * 1024)
        LAT_CUDA_CHECK(
            cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
      kernel<<<grid, threads, smem, lat::cuda::stream()>>>(static_cast<const T*>(x), static_cast<const W*>(w),
                                                           static_cast<const T*>(dy), static_cast<T*>(dx),
                                                           partial.as<float>(), rows, dim, eps, rstd_saved);
      LAT_CUDA_CHECK_LAUNCH();
      if (dw != nullptr) {
        sum_partials_kernel<W><<<static_cast<unsigned>((dim + 31) / 32), dim3(32, 32), 0, lat::cuda::stream()>>>(
            partial.as<float>(), static_cast<W*>(dw), grid, dim, accumulate_dw);
        LAT_CUDA_CHECK_LAUNCH();
      }
    });
  });
}

void rmsnorm_forward_same_dtype(const void* x, const void* gain, void* out, void* rstd, DType dtype, int64_t rows,
                                int64_t dim, float eps) {
  if (dtype == DType::F32) {
    rmsnorm_forward(x, gain, out, static_cast<float*>(rstd), dtype, dtype, rows, dim, eps);
    return;
  }
  Scratch rstd32(static_cast<size_t>(rows) * sizeof(float));
  rmsnorm_forward(x, gain, out, rstd32.as<float>(), dtype, dtype, rows, dim, eps);
  lat::cuda::cast(rstd, dtype, rstd32.as<float>(), DType::F32, rows);
}

void rmsnorm_backward_same_dtype(const void* dy, const void* x, const void* gain, const void* rstd, void* dx,
                                 void* dgain, DType dtype, int64_t rows, int64_t dim) {
  if (dtype == DType::F32) {
    rmsnorm_backward(x, gain, dy, dx, dgain, dtype, dtype, rows, dim, 0.0f, false, static_cast<const float*>(rstd));
    return;
  }
  Scratch rstd32(static_cast<size_t>(rows) * sizeof(float));
  lat::cuda::cast(rstd32.as<float>(), DType::F32, rstd, dtype, rows);
  rmsnorm_backward(x, gain, dy, dx, dgain, dtype, dtype, rows, dim, 0.0f, false, rstd32.as<float>());
}

}  // namespace lat::kernels::cuda
