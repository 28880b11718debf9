// The normalised linear-attention form's row helpers. Memory-bound and tiny next to the core: one thread per
// element for the augmentation and the division, one warp per row for the backward's dot product.
#include "kernels/cuda/attention_normalize.cuh"
#include "kernels/cuda/common.cuh"

namespace lat::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// v: [rows, e] -> v_aug: [rows, e + 1]
template <class T>
__global__ void augment_values_kernel(const T* v, T* v_aug, int64_t rows, int64_t e) {
  const int64_t n = rows * (e + 1);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / (e + 1), c = i % (e + 1);
    v_aug[i] = c == e ? from_float<T>(1.0f) : v[r * e + c];
  }
}

// num rows (stride num_stride), den_column (stride den_stride) -> out: [rows, e], denominator: [rows]
template <class T>
__global__ void normalize_kernel(const T* num, int64_t num_stride, const T* den_column, int64_t den_stride, float eps,
                                 T* out, T* denominator, int64_t rows, int64_t e) {
  const int64_t n = rows * e;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / e, c = i % e;
    const float den = to_float(den_column[r * den_stride]) + eps;
    out[i] = from_float<T>(to_float(num[r * num_stride + c]) / den);
    if (c == 0) denominator[r] = from_float<T>(den);
  }
}

// One warp per row: grad_num[r, :] = G / den, grad_den_column[r] = −(G·o) / den.
template <class T>
__global__ void denominator_backward_kernel(const T* grad_out, const T* out, const T* denominator, T* grad_num,
                                            int64_t num_stride, T* grad_den_column, int64_t den_stride, int64_t rows,
                                            int64_t e) {
  const int64_t warps_per_block = blockDim.x / 32;
  const int64_t row = blockIdx.x * warps_per_block + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float den = to_float(denominator[row]);
  const T* g = grad_out + row * e;
  const T* o = out + row * e;
  T* gn = grad_num + row * num_stride;
  float dot = 0.0f;
  for (int64_t c = lane; c < e; c += 32) {
    const float gc = to_float(g[c]);
    dot += gc * to_float(o[c]);
    gn[c] = from_float<T>(gc / den);
  }
  dot = warp_sum(dot);
  if (lane == 0) grad_den_column[row * den_stride] = from_float<T>(-dot / den);
}

// Blocks of kThreads for one warp per row.
int warp_per_row_blocks(int64_t rows) {
  const int64_t rows_per_block = kThreads / 32;
  return static_cast<int>((rows + rows_per_block - 1) / rows_per_block);
}

}  // namespace

void augment_values(const void* v, void* v_aug, DType dtype, int64_t rows, int64_t e) {
  if (rows * e == 0) return;
  dispatch_float_bf16("augment_values", dtype, [&](auto tag) {
    using T = decltype(tag);
    augment_values_kernel<T><<<grid_for(rows * (e + 1), kThreads), kThreads, 0, lat::cuda::stream()>>>(
        static_cast<const T*>(v), static_cast<T*>(v_aug), rows, e);
  });
  LAT_CUDA_CHECK_LAUNCH();
}

void normalize_by_denominator(const void* num, int64_t num_stride, const void* den_column, int64_t den_stride,
                              double eps, void* out, void* denominator, DType dtype, int64_t rows, int64_t e) {
  if (rows * e == 0) return;
  dispatch_float_bf16("normalize_by_denominator", dtype, [&](auto tag) {
    using T = decltype(tag);
    normalize_kernel<T><<<grid_for(rows * e, kThreads), kThreads, 0, lat::cuda::stream()>>>(
        static_cast<const T*>(num), num_stride, static_cast<const T*>(den_column), den_stride, static_cast<float>(eps),
        static_cast<T*>(out), static_cast<T*>(denominator), rows, e);
  });
  LAT_CUDA_CHECK_LAUNCH();
}

void denominator_backward(const void* grad_out, const void* out, const void* denominator, void* grad_num,
                          int64_t num_stride, void* grad_den_column, int64_t den_stride, DType dtype, int64_t rows,
                          int64_t e) {
  if (rows == 0) return;
  const int blocks = warp_per_row_blocks(rows);
  dispatch_float_bf16("denominator_backward", dtype, [&](auto tag) {
    using T = decltype(tag);
    denominator_backward_kernel<T><<<blocks, kThreads, 0, lat::cuda::stream()>>>(
        static_cast<const T*>(grad_out), static_cast<const T*>(out), static_cast<const T*>(denominator),
        static_cast<T*>(grad_num), num_stride, static_cast<T*>(grad_den_column), den_stride, rows, e);
  });
  LAT_CUDA_CHECK_LAUNCH();
}

}  // namespace lat::kernels::cuda
