// Device-side copies, casts and fills for Tensor::copy_ / fill_ on CUDA (declared in core/cuda_context.h), so
// strided and dtype-converting copies never stage through the host.
//
// Conversions match core/tensor.cpp's host copy bit for bit: through float (double when f64 is involved),
// bf16 by round-to-nearest-even (__float2bfloat16_rn, as lat::bfloat16 does on the host).
#include <cuda_bf16.h>

#include <algorithm>
#include <cstring>

#include "core/bfloat16.h"
#include "core/cuda_context.h"

namespace lat::cuda {
namespace {

template <class T> struct Io;
template <> struct Io<float> {
  using Acc = float;
  static __device__ __forceinline__ float load(const float* p) { return *p; }
  static __device__ __forceinline__ void store(float* p, float v) { *p = v; }
};
template <> struct Io<double> {
  using Acc = double;
  static __device__ __forceinline__ double load(const double* p) { return *p; }
  static __device__ __forceinline__ void store(double* p, double v) { *p = v; }
};
template <> struct Io<__nv_bfloat16> {
  using Acc = float;
  static __device__ __forceinline__ float load(const __nv_bfloat16* p) { return __bfloat162float(*p); }
  static __device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
  static __device__ __forceinline__ void store(__nv_bfloat16* p, double v) {
    *p = __float2bfloat16_rn(static_cast<float>(v));
  }
};
template <> struct Io<int32_t> {
  using Acc = float;
  static __device__ __forceinline__ int32_t load(const int32_t* p) { return *p; }
  static __device__ __forceinline__ void store(int32_t* p, double v) { *p = static_cast<int32_t>(v); }
};

// One element, converted through double when either side is f64 (else through the source's natural type,
// which gives the same bits: int32 -> float rounds once either way, float -> bf16 likewise).
template <class D, class S>
__device__ __forceinline__ void convert(D* dst, const S* src) {
  if constexpr (std::is_same_v<D, double> || std::is_same_v<S, double>) {
    Io<D>::store(dst, static_cast<double>(Io<S>::load(src)));
  } else if constexpr (std::is_same_v<D, int32_t>) {
    Io<D>::store(dst, static_cast<double>(Io<S>::load(src)));
  } else if constexpr (std::is_same_v<S, int32_t>) {
    Io<D>::store(dst, static_cast<float>(Io<S>::load(src)));
  } else {
    Io<D>::store(dst, Io<S>::load(src));
  }
}

// Elements per thread per step: 16 bytes of the wider type, so every warp access covers whole 32-byte sectors
// (32-byte-per-thread stores measured ~1.6x slower on the H200).
template <class D, class S>
constexpr int kCastWidth = static_cast<int>(16 / (sizeof(D) > sizeof(S) ? sizeof(D) : sizeof(S)));

// dst, src: [n] contiguous; kVec: both pointers aligned for kCastWidth-element vectors.
template <class D, class S, bool kVec>
__global__ void cast_kernel(D* __restrict__ dst, const S* __restrict__ src, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if constexpr (kVec) {
    constexpr int V = kCastWidth<D, S>;
    struct alignas(V * sizeof(S)) SPack { S v[V]; };
    struct alignas(V * sizeof(D)) DPack { D v[V]; };
    const int64_t packs = n / V;
    for (int64_t p = i; p < packs; p += stride) {
      SPack s = reinterpret_cast<const SPack*>(src)[p];
      DPack d;
#pragma unroll
      for (int k = 0; k < V; ++k) convert(&d.v[k], &s.v[k]);
      reinterpret_cast<DPack*>(dst)[p] = d;
    }
    for (int64_t j = packs * V + i; j < n; j += stride) convert(dst + j, src + j);
  } else {
    for (; i < n; i += stride) convert(dst + i, src + i);
  }
}

struct Layout {
  int ndim;
  int64_t shape[kMaxCopyDims];
  int64_t dst_stride[kMaxCopyDims];
  int64_t src_stride[kMaxCopyDims];
};

// dst, src: views of equal shape `layout.shape`; element i in row-major order.
template <class D, class S>
__global__ void strided_copy_kernel(D* __restrict__ dst, const S* __restrict__ src, Layout layout, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rest = i, doff = 0, soff = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const int64_t idx = rest % layout.shape[d];
      rest /= layout.shape[d];
      doff += idx * layout.dst_stride[d];
      soff += idx * layout.src_stride[d];
    }
    convert(dst + doff, src + soff);
  }
}

// Same-dtype copy whose innermost dimension is contiguous in both views (a head split/merge: [B, N, H, D] <->
// [B, H, N, D]): each thread moves 16 bytes; the outer index is decomposed once per 16-byte chunk, in 32 bits
// when the sizes allow (64-bit division is what makes the generic kernel slow).
template <class Pack, class Index>
__global__ void row_copy_kernel(Pack* __restrict__ dst, const Pack* __restrict__ src, Layout outer, Index inner_packs,
                                Index packs) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < packs;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    Index row = i / inner_packs;
    const Index col = i - row * inner_packs;
    int64_t doff = 0, soff = 0;
    for (int d = outer.ndim - 1; d >= 0; --d) {
      const Index size = static_cast<Index>(outer.shape[d]);
      const Index idx = row % size;
      row /= size;
      doff += idx * outer.dst_stride[d];
      soff += idx * outer.src_stride[d];
    }
    dst[doff + col] = src[soff + col];
  }
}

// A (batched) transpose: dst[b, r, c] = src[b, r, c] where dst is contiguous along c and src along r. Each block
// moves 32×32 tiles through shared memory so that both the reads and the writes are coalesced.
template <class D, class S>
__global__ void transpose_kernel(D* __restrict__ dst, const S* __restrict__ src, int64_t batch, int64_t rows,
                                 int64_t cols, int64_t dst_batch, int64_t dst_row, int64_t src_batch, int64_t src_col) {
  __shared__ alignas(16) unsigned char raw[32 * 33 * sizeof(S)];
  S* tile = reinterpret_cast<S*>(raw);  // tile[c_local * 33 + r_local]
  const int64_t tiles_r = (rows + 31) / 32, tiles_c = (cols + 31) / 32, per_batch = tiles_r * tiles_c;
  for (int64_t t = blockIdx.x; t < batch * per_batch; t += gridDim.x) {
    const int64_t b = t / per_batch, tr = (t % per_batch) / tiles_c, tc = t % tiles_c;
    const S* sb = src + b * src_batch;
    D* db = dst + b * dst_batch;
    for (int i = threadIdx.y; i < 32; i += blockDim.y) {
      const int64_t r = tr * 32 + threadIdx.x, c = tc * 32 + i;
      if (r < rows && c < cols) tile[i * 33 + threadIdx.x] = sb[r + c * src_col];
    }
    __syncthreads();
    for (int i = threadIdx.y; i < 32; i += blockDim.y) {
      const int64_t r = tr * 32 + i, c = tc * 32 + threadIdx.x;
      if (r < rows && c < cols) convert(db + r * dst_row + c, &tile[threadIdx.x * 33 + i]);
    }
    __syncthreads();
  }
}

template <class T>
__global__ void fill_kernel(T* __restrict__ dst, T value, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = value;
}

int grid_for(int64_t work, int threads) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((work + threads - 1) / threads, 132 * 32)));
}

template <class F>
void with_type(DType t, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); return;
    case DType::F64: f(double{}); return;
    case DType::BF16: f(__nv_bfloat16{}); return;
    case DType::I32: f(int32_t{}); return;
  }
  LAT_THROW("unknown dtype");
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Drops size-1 dimensions and merges neighbours that are contiguous in both views.
Layout collapse(const StridedView& dst, const StridedView& src) {
  Layout l{};
  l.ndim = 0;
  for (int d = 0; d < dst.ndim; ++d) {
    if (dst.shape[d] == 1) continue;
    if (l.ndim > 0) {
      const int p = l.ndim - 1;
      if (l.dst_stride[p] == dst.strides[d] * dst.shape[d] && l.src_stride[p] == src.strides[d] * dst.shape[d]) {
        l.shape[p] *= dst.shape[d];
        l.dst_stride[p] = dst.strides[d];
        l.src_stride[p] = src.strides[d];
        continue;
      }
    }
    l.shape[l.ndim] = dst.shape[d];
    l.dst_stride[l.ndim] = dst.strides[d];
    l.src_stride[l.ndim] = src.strides[d];
    ++l.ndim;
  }
  return l;
}

}  // namespace

void cast(void* dst, DType dst_dtype, const void* src, DType src_dtype, int64_t n) {
  if (n <= 0) return;
  if (dst_dtype == src_dtype) {
    LAT_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * dtype_size(dst_dtype),
                                   cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  with_type(dst_dtype, [&](auto d) {
    with_type(src_dtype, [&](auto s) {
      using D = decltype(d);
      using S = decltype(s);
      const int threads = 256;
      constexpr int V = kCastWidth<D, S>;
      if (aligned(dst, V * sizeof(D)) && aligned(src, V * sizeof(S)) && n >= V) {
        cast_kernel<D, S, true><<<grid_for(n / V, threads), threads, 0, stream()>>>(static_cast<D*>(dst),
                                                                                  static_cast<const S*>(src), n);
      } else {
        cast_kernel<D, S, false><<<grid_for(n, threads), threads, 0, stream()>>>(static_cast<D*>(dst),
                                                                               static_cast<const S*>(src), n);
      }
      LAT_CUDA_CHECK_LAUNCH();
    });
  });
}

void copy_strided(const StridedView& dst, const StridedView& src) {
  LAT_CHECK(dst.ndim == src.ndim && dst.ndim <= kMaxCopyDims, "copy_strided: ranks ", dst.ndim, " and ", src.ndim,
            " differ or exceed ", kMaxCopyDims);
  int64_t n = 1;
  for (int d = 0; d < dst.ndim; ++d) {
    LAT_CHECK(dst.shape[d] == src.shape[d], "copy_strided: dimension ", d, " is ", dst.shape[d], " in the destination and ",
              src.shape[d], " in the source");
    n *= dst.shape[d];
  }
  if (n == 0) return;
  Layout l = collapse(dst, src);
  if (l.ndim == 0 || (l.ndim == 1 && l.dst_stride[0] == 1 && l.src_stride[0] == 1)) {
    cast(dst.data, dst.dtype, src.data, src.dtype, n);
    return;
  }
  if (dst.dtype == src.dtype && l.dst_stride[l.ndim - 1] == 1 && l.src_stride[l.ndim - 1] == 1) {
    // Rows contiguous in both: 16-byte packs when every row start is 16-byte aligned.
    const int64_t size = static_cast<int64_t>(dtype_size(dst.dtype)), inner = l.shape[l.ndim - 1];
    bool packable = (inner * size) % 16 == 0 && aligned(dst.data, 16) && aligned(src.data, 16);
    Layout outer{};
    outer.ndim = l.ndim - 1;
    for (int d = 0; d < outer.ndim; ++d) {
      packable = packable && (l.dst_stride[d] * size) % 16 == 0 && (l.src_stride[d] * size) % 16 == 0;
      outer.shape[d] = l.shape[d];
      outer.dst_stride[d] = l.dst_stride[d] * size / 16;
      outer.src_stride[d] = l.src_stride[d] * size / 16;
    }
    if (packable) {
      using Pack = uint4;  // 16 bytes
      const int64_t inner_packs = inner * size / 16, packs = n * size / 16;
      const int threads = 256;
      if (packs < (int64_t{1} << 31))
        row_copy_kernel<Pack, uint32_t><<<grid_for(packs, threads), threads, 0, stream()>>>(
            static_cast<Pack*>(dst.data), static_cast<const Pack*>(src.data), outer,
            static_cast<uint32_t>(inner_packs), static_cast<uint32_t>(packs));
      else
        row_copy_kernel<Pack, int64_t><<<grid_for(packs, threads), threads, 0, stream()>>>(
            static_cast<Pack*>(dst.data), static_cast<const Pack*>(src.data), outer, inner_packs, packs);
      LAT_CUDA_CHECK_LAUNCH();
      return;
    }
  }
  // Transposes (the common non-trivial layout change) take the tiled kernel: [rows, cols] or [batch, rows, cols]
  // with dst contiguous along cols and src contiguous along rows.
  const int t0 = l.ndim - 2;
  const bool transpose = (l.ndim == 2 || l.ndim == 3) && l.dst_stride[t0 + 1] == 1 && l.src_stride[t0] == 1;
  with_type(dst.dtype, [&](auto d) {
    with_type(src.dtype, [&](auto s) {
      using D = decltype(d);
      using S = decltype(s);
      if (transpose) {
        const int64_t batch = l.ndim == 3 ? l.shape[0] : 1;
        const int64_t rows = l.shape[t0], cols = l.shape[t0 + 1];
        const int64_t tiles = batch * ((rows + 31) / 32) * ((cols + 31) / 32);
        const int grid = static_cast<int>(std::min<int64_t>(tiles, 132 * 16));
        transpose_kernel<D, S><<<grid, dim3(32, 8), 0, stream()>>>(
            static_cast<D*>(dst.data), static_cast<const S*>(src.data), batch, rows, cols,
            l.ndim == 3 ? l.dst_stride[0] : 0, l.dst_stride[t0], l.ndim == 3 ? l.src_stride[0] : 0, l.src_stride[t0 + 1]);
        LAT_CUDA_CHECK_LAUNCH();
        return;
      }
      const int threads = 256;
      strided_copy_kernel<D, S><<<grid_for(n, threads), threads, 0, stream()>>>(
          static_cast<D*>(dst.data), static_cast<const S*>(src.data), l, n);
      LAT_CUDA_CHECK_LAUNCH();
    });
  });
}

void fill(void* dst, DType dtype, int64_t n, double value) {
  if (n <= 0) return;
  const int threads = 256;
  const int grid = grid_for(n, threads);
  // The value is converted on the host with the host copy's rules, then written as bits.
  switch (dtype) {
    case DType::F32:
      fill_kernel<float><<<grid, threads, 0, stream()>>>(static_cast<float*>(dst), static_cast<float>(value), n);
      break;
    case DType::F64: fill_kernel<double><<<grid, threads, 0, stream()>>>(static_cast<double*>(dst), value, n); break;
    case DType::I32:
      fill_kernel<int32_t><<<grid, threads, 0, stream()>>>(static_cast<int32_t*>(dst), static_cast<int32_t>(value), n);
      break;
    case DType::BF16: {
      const uint16_t bits = bfloat16(static_cast<float>(value)).bits;
      fill_kernel<uint16_t><<<grid, threads, 0, stream()>>>(static_cast<uint16_t*>(dst), bits, n);
      break;
    }
  }
  LAT_CUDA_CHECK_LAUNCH();
}

}  // namespace lat::cuda
