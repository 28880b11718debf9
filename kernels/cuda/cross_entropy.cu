// Fused softmax cross-entropy (see cross_entropy.cuh). One block per row at a time; each thread keeps an
// online (max, sum of exp) pair over its 16-byte packs, pairs are merged across the warp and the block.
// Forward reads the logits once; backward reads them once and writes dlogits once: the floor of each pass
// is rows × vocab × sizeof(T) (× 2 for the backward) / 4.3 TB/s.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cross_entropy.cuh"

namespace lat::kernels::cuda {
namespace {

struct MaxSum {
  float m, s;  // running max, Σ exp(x − m)
};

__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
  if (a.m == -INFINITY) return b;
  if (b.m == -INFINITY) return a;
  const float m = fmaxf(a.m, b.m);
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

__device__ __forceinline__ MaxSum block_merge(MaxSum v, MaxSum* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    MaxSum other{__shfl_xor_sync(0xffffffffu, v.m, o), __shfl_xor_sync(0xffffffffu, v.s, o)};
    v = merge(v, other);
  }
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  MaxSum t = lane < warps ? scratch[lane] : MaxSum{-INFINITY, 0.0f};
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    MaxSum other{__shfl_xor_sync(0xffffffffu, t.m, o), __shfl_xor_sync(0xffffffffu, t.s, o)};
    t = merge(t, other);
  }
  __syncthreads();
  return t;
}

template <int V>
__device__ __forceinline__ void absorb(MaxSum& acc, const float (&a)[V]) {
  float mx = a[0];
#pragma unroll
  for (int k = 1; k < V; ++k) mx = fmaxf(mx, a[k]);
  if (mx == -INFINITY) return;
  if (mx > acc.m) {
    acc.s = acc.m == -INFINITY ? 0.0f : acc.s * expf(acc.m - mx);
    acc.m = mx;
  }
#pragma unroll
  for (int k = 0; k < V; ++k) acc.s += expf(a[k] - acc.m);
}

// logits: [rows, vocab]; targets, loss, lse: [rows]
template <class T, bool kVec>
__global__ void cross_entropy_forward_kernel(const T* __restrict__ logits, const int32_t* __restrict__ targets,
                                             float* __restrict__ loss, float* __restrict__ lse, int64_t rows,
                                             int64_t vocab, int32_t ignore_index) {
  __shared__ MaxSum scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = logits + r * vocab;
    constexpr int V = kVecWidth<T>;
    MaxSum acc{-INFINITY, 0.0f};
    const int64_t full = kVec ? vocab / V : 0;
    // Two packs per step: twice the loads in flight, and one running-max rescale per 2V elements.
    for (int64_t p = threadIdx.x; p < full; p += 2 * blockDim.x) {
      float u[V], w[V], a[2 * V];
      const int64_t q = p + blockDim.x;
      load_vec<V>(row + p * V, u);
      if (q < full) {
        load_vec<V>(row + q * V, w);
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) w[k] = -INFINITY;
      }
#pragma unroll
      for (int k = 0; k < V; ++k) a[k] = u[k], a[V + k] = w[k];
      absorb<2 * V>(acc, a);
    }
    for (int64_t j = full * V + threadIdx.x; j < vocab; j += blockDim.x) {
      float a[1] = {to_float(row[j])};
      absorb<1>(acc, a);
    }
    acc = block_merge(acc, scratch);
    if (threadIdx.x == 0) {
      const float l = acc.m + logf(acc.s);
      if (lse != nullptr) lse[r] = l;
      const int32_t t = targets[r];
      if (t == ignore_index)
        loss[r] = 0.0f;
      else if (t < 0 || t >= vocab)
        loss[r] = NAN;
      else
        loss[r] = l - to_float(row[t]);
    }
  }
}

// logits, dlogits: [rows, vocab]; targets, lse: [rows]; dloss: [rows] (stride 1) or [1] (stride 0)
template <class T, bool kVec>
__global__ void cross_entropy_backward_kernel(const T* logits, const int32_t* __restrict__ targets,
                                              const float* __restrict__ lse, const float* __restrict__ dloss,
                                              int64_t dloss_stride, float scale, T* dlogits, int64_t rows,
                                              int64_t vocab, int32_t ignore_index) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = logits + r * vocab;
    T* drow = dlogits + r * vocab;
    const int32_t t = targets[r];
    // An out-of-vocabulary target makes its row's gradient NaN, as its loss: the step guard sees a non-finite
    // gradient norm (after the data-parallel reduction, on every rank) and skips the update.
    const bool invalid = t != ignore_index && (t < 0 || t >= vocab);
    const float g = t == ignore_index ? 0.0f : invalid ? NAN : scale * dloss[r * dloss_stride];
    const float l = lse[r];
    constexpr int V = kVecWidth<T>;
    const int64_t full = kVec ? vocab / V : 0;
    for (int64_t p = threadIdx.x; p < full; p += blockDim.x) {
      float a[V], d[V];
      load_vec<V>(row + p * V, a);
#pragma unroll
      for (int k = 0; k < V; ++k) d[k] = g * (expf(a[k] - l) - (p * V + k == t ? 1.0f : 0.0f));
      store_vec<V>(drow + p * V, d);
    }
    for (int64_t j = full * V + threadIdx.x; j < vocab; j += blockDim.x)
      drow[j] = from_float<T>(g * (expf(to_float(row[j]) - l) - (j == t ? 1.0f : 0.0f)));
  }
}

// loss[0] = Σ_counted row_loss / C, stats[0] = 1 / C (0 when C = 0); one block. invalid_targets (may be null):
// += the number of targets outside [0, vocab) that are not ignore_index.
__global__ void mean_loss_kernel(const float* __restrict__ row_loss, const int32_t* __restrict__ targets,
                                 int32_t ignore_index, int64_t rows, int64_t vocab, float* __restrict__ loss,
                                 float* __restrict__ inv_count, float* __restrict__ invalid_targets) {
  __shared__ double scratch[32];
  double sum = 0.0, count = 0.0, invalid = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    const int32_t t = targets[r];
    if (t != ignore_index) sum += row_loss[r], count += 1.0, invalid += (t < 0 || t >= vocab) ? 1.0 : 0.0;
  }
  sum = block_sum(sum, scratch);
  count = block_sum(count, scratch);
  invalid = block_sum(invalid, scratch);
  if (threadIdx.x == 0) {
    *loss = count > 0 ? static_cast<float>(sum / count) : 0.0f;
    *inv_count = count > 0 ? static_cast<float>(1.0 / count) : 0.0f;
    if (invalid_targets != nullptr) *invalid_targets += static_cast<float>(invalid);
  }
}

// out[0] = a[0] · b[0]: the backward's per-row factor g = dloss · (1 / C), both on the device.
__global__ void product_kernel(const float* a, const float* b, float* out) { *out = *a * *b; }

}  // namespace

void cross_entropy_forward(const void* logits, const int32_t* targets, float* loss, float* lse, DType dtype,
                           int64_t rows, int64_t vocab, int32_t ignore_index) {
  if (rows <= 0) return;
  LAT_CHECK(vocab > 0, "cross_entropy_forward: vocabulary size must be positive, got ", vocab);
  dispatch_float_bf16("cross_entropy_forward", dtype, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = vocab % kVecWidth<T> == 0 && aligned_to(logits, 16);
    const int threads = threads_for_row(vocab / kVecWidth<T> + 1, 512);
    const int grid = static_cast<int>(std::min<int64_t>(rows, 132 * 16));
    auto kernel = vec ? cross_entropy_forward_kernel<T, true> : cross_entropy_forward_kernel<T, false>;
    kernel<<<grid, threads, 0, lat::cuda::stream()>>>(static_cast<const T*>(logits), targets, loss, lse, rows, vocab,
                                                      ignore_index);
    LAT_CUDA_CHECK_LAUNCH();
  });
}

void cross_entropy_backward(const void* logits, const int32_t* targets, const float* lse, const float* dloss,
                            int64_t dloss_stride, float scale, void* dlogits, DType dtype, int64_t rows, int64_t vocab,
                            int32_t ignore_index) {
  if (rows <= 0) return;
  LAT_CHECK(vocab > 0, "cross_entropy_backward: vocabulary size must be positive, got ", vocab);
  LAT_CHECK(dloss_stride == 0 || dloss_stride == 1, "cross_entropy_backward: dloss_stride must be 0 or 1, got ",
            dloss_stride);
  dispatch_float_bf16("cross_entropy_backward", dtype, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = vocab % kVecWidth<T> == 0 && aligned_to(logits, 16) && aligned_to(dlogits, 16);
    const int threads = threads_for_row(vocab / kVecWidth<T> + 1, 512);
    const int grid = static_cast<int>(std::min<int64_t>(rows, 132 * 16));
    auto kernel = vec ? cross_entropy_backward_kernel<T, true> : cross_entropy_backward_kernel<T, false>;
    kernel<<<grid, threads, 0, lat::cuda::stream()>>>(static_cast<const T*>(logits), targets, lse, dloss,
                                                      dloss_stride, scale, static_cast<T*>(dlogits), rows, vocab,
                                                      ignore_index);
    LAT_CUDA_CHECK_LAUNCH();
  });
}

void softmax_cross_entropy_mean(const void* logits, const int32_t* targets, int32_t ignore_index, float* loss,
                                float* stats, DType dtype, int64_t rows, int64_t vocab, float* invalid_targets) {
  Scratch scratch(static_cast<size_t>(rows > 0 ? rows : 1) * sizeof(float));
  float* row_loss = scratch.as<float>();
  if (rows > 0) cross_entropy_forward(logits, targets, row_loss, stats, dtype, rows, vocab, ignore_index);
  mean_loss_kernel<<<1, 1024, 0, lat::cuda::stream()>>>(row_loss, targets, ignore_index, rows, vocab, loss,
                                                        stats + rows, invalid_targets);
  LAT_CUDA_CHECK_LAUNCH();
}

void softmax_cross_entropy_mean_backward(const void* logits, const int32_t* targets, int32_t ignore_index,
                                         const float* stats, const float* dloss, void* dlogits, DType dtype,
                                         int64_t rows, int64_t vocab) {
  if (rows <= 0) return;
  Scratch g(sizeof(float));
  product_kernel<<<1, 1, 0, lat::cuda::stream()>>>(dloss, stats + rows, g.as<float>());
  LAT_CUDA_CHECK_LAUNCH();
  cross_entropy_backward(logits, targets, stats, g.as<float>(), 0, 1.0f, dlogits, dtype, rows, vocab, ignore_index);
}

}  // namespace lat::kernels::cuda
