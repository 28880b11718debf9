// Attention-family kernels (see attention_family.cuh). The pointwise maps are launches of the generic map
// kernel (kernels/cuda/map.cuh, 16-byte accesses); FAVOR+ tiles rows through shared memory. The softmax baseline
// runs on tensor cores for bf16 with d = e ∈ {64, 128} (softmax_attention_mma.cu); every other case takes the
// fp32 flash-style kernel here, on CUDA cores (64×64 tiles, 256 threads, each thread a 4×4 interleaved sub-tile):
// forward with online softmax, backward as two deterministic kernels (dK/dV per key tile, dQ per query tile),
// both recomputing P from the saved logsumexp.
#include <cmath>
#include <cfloat>
#include <type_traits>

#include "kernels/cuda/attention_family.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/map.cuh"
#include "kernels/cuda/pointwise.cuh"
#include "kernels/cuda/softmax_attention_mma.cuh"

namespace lat::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// Pointwise ops for launch_map (kernels/cuda/map.cuh): fp32 inputs in, fp32 outputs out.
struct Elu1Forward {
  __device__ void operator()(const float (&a)[1], float (&y)[1]) const { y[0] = elu1(a[0]); }
};
struct Elu1Backward {  // in: x, dy
  __device__ void operator()(const float (&a)[2], float (&y)[1]) const { y[0] = a[1] * elu1_grad(a[0]); }
};
struct GateForward {  // in: x, gate
  __device__ void operator()(const float (&a)[2], float (&y)[1]) const { y[0] = a[0] * sigmoid(a[1]); }
};
struct GateBackward {  // in: x, gate, dy; out: dx, dgate
  __device__ void operator()(const float (&a)[3], float (&y)[2]) const {
    const float s = sigmoid(a[1]);
    y[0] = a[2] * s;
    y[1] = a[2] * a[0] * s * (1.0f - s);
  }
};
struct GateBackwardX {  // in: gate, dy; out: dx
  __device__ void operator()(const float (&a)[2], float (&y)[1]) const { y[0] = a[1] * sigmoid(a[0]); }
};
struct GateBackwardGate {  // in: x, gate, dy; out: dgate
  __device__ void operator()(const float (&a)[3], float (&y)[1]) const {
    const float s = sigmoid(a[1]);
    y[0] = a[2] * a[0] * s * (1.0f - s);
  }
};

// ---------------------------------------------------------------- feature maps

// sin and cos of `angle` (double) in fp32: reduced modulo 2π in double first, so sincosf sees |angle| ≤ π.
__device__ __forceinline__ void sincos_reduced(double angle, float& sn, float& cs) {
  constexpr double kTwoPi = 6.283185307179586477, kInvTwoPi = 0.159154943091895336;
  sincosf(static_cast<float>(fma(-rint(angle * kInvTwoPi), kTwoPi, angle)), &sn, &cs);
}

// The position of flat row `row` of [B·H, n]: offset + i, less the start of its document when document starts
// (i32 [B, n], kernels/documents.h) are given; heads = H.
__device__ __forceinline__ int64_t row_position(int64_t row, int64_t n, int64_t offset, const int32_t* starts,
                                                int64_t heads) {
  const int64_t i = row % n;
  return offset + i - (starts ? static_cast<int64_t>(starts[(row / n / heads) * n + i]) : 0);
}

// One thread per V consecutive features of a row (one angle per row): forward y = [relu(x) sin a, relu(x) cos a]
// into [rows, 2d]; backward dx = [x > 0] (dy_sin sin a + dy_cos cos a).
template <class T, int V>
__global__ void cosine_kernel(const T* x, const T* dy, T* out, int64_t rows, int64_t n, int d, double angle_per_pos,
                              int64_t offset, bool backward, const int32_t* starts, int64_t heads) {
  const int packs = d / V;
  const int64_t total = rows * packs;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = idx / packs;
    const int c0 = static_cast<int>(idx - row * packs) * V;
    float sa, ca;
    sincos_reduced(angle_per_pos * static_cast<double>(row_position(row, n, offset, starts, heads)), sa, ca);
    float xv[V];
    load_vec<V>(x + row * d + c0, xv);
    if (!backward) {
      float ys[V], yc[V];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float relu = xv[k] > 0.0f ? xv[k] : 0.0f;
        ys[k] = relu * sa;
        yc[k] = relu * ca;
      }
      store_vec<V>(out + row * 2 * d + c0, ys);
      store_vec<V>(out + row * 2 * d + d + c0, yc);
    } else {
      float gs[V], gc[V], g[V];
      load_vec<V>(dy + row * 2 * d + c0, gs);
      load_vec<V>(dy + row * 2 * d + d + c0, gc);
#pragma unroll
      for (int k = 0; k < V; ++k) g[k] = xv[k] > 0.0f ? gs[k] * sa + gc[k] * ca : 0.0f;
      store_vec<V>(out + row * d + c0, g);
    }
  }
}

constexpr int kRfRows = 16;  // rows of x per block in the FAVOR+ kernels

// u[row, r] = x_scale (w_r · x_row) − ‖x̂‖²/2 into fp32 scratch; row_max[row] = max_r u.
template <class T>
__global__ void random_exponent_kernel(const T* x, const T* w, float* u, float* row_max, int64_t rows, int d, int m,
                                       float x_scale) {
  extern __shared__ float smem[];
  float* xs = smem;                       // [kRfRows][d]
  float* half = smem + kRfRows * d;       // [kRfRows]
  float* red = half + kRfRows;            // [kRfRows][warps]
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kRfRows;
  const int nrows = static_cast<int>(rows - row0 < kRfRows ? rows - row0 : kRfRows);
  for (int i = threadIdx.x; i < kRfRows * d; i += blockDim.x) {
    const int r = i / d;
    xs[i] = r < nrows ? to_float(x[(row0 + r) * d + i % d]) : 0.0f;
  }
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  for (int r = warp; r < kRfRows; r += warps) {
    float s = 0;
    for (int c = lane; c < d; c += 32) s += xs[r * d + c] * xs[r * d + c];
    s = warp_sum(s);
    if (lane == 0) half[r] = 0.5f * x_scale * x_scale * s;
  }
  __syncthreads();
  float mx[kRfRows];
#pragma unroll
  for (int i = 0; i < kRfRows; ++i) mx[i] = -INFINITY;
  for (int f = threadIdx.x; f < m; f += blockDim.x) {
    float acc[kRfRows];
#pragma unroll
    for (int i = 0; i < kRfRows; ++i) acc[i] = 0.0f;
    const T* wr = w + static_cast<int64_t>(f) * d;
    for (int c = 0; c < d; ++c) {
      const float wv = to_float(wr[c]);
#pragma unroll
      for (int i = 0; i < kRfRows; ++i) acc[i] += wv * xs[i * d + c];
    }
#pragma unroll
    for (int i = 0; i < kRfRows; ++i)
      if (i < nrows) {
        const float val = x_scale * acc[i] - half[i];
        u[(row0 + i) * m + f] = val;
        mx[i] = fmaxf(mx[i], val);
      }
  }
#pragma unroll
  for (int i = 0; i < kRfRows; ++i) {
    float v = mx[i];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) red[i * warps + warp] = v;
  }
  __syncthreads();
  if (threadIdx.x < nrows) {
    float v = -INFINITY;
    for (int k = 0; k < warps; ++k) v = fmaxf(v, red[threadIdx.x * warps + k]);
    row_max[row0 + threadIdx.x] = v;
  }
}

// Keys: stabilizer[p] = key_stabilizer[p] or max over the n row maxima of sequence p. One block per sequence.
template <class T>
__global__ void key_stabilizer_kernel(const float* row_max, const T* fixed, T* stab, int64_t n) {
  __shared__ float red[32];
  const int64_t p = blockIdx.x;
  float v = -INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v = fmaxf(v, row_max[p * n + i]);
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float mx = -INFINITY;
    for (int k = 0; k < static_cast<int>(blockDim.x / 32); ++k) mx = fmaxf(mx, red[k]);
    stab[p] = fixed ? fixed[p] : from_float<T>(mx);
  }
}

// y = y_scale exp(u − c); queries write stabilizer[row] = row_max.
template <class T>
__global__ void random_exp_kernel(const float* u, const float* row_max, T* stab, bool is_query, T* y, int64_t rows,
                                  int64_t n, int m, float y_scale) {
  const int64_t total = rows * m;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = idx / m;
    float c;
    if (is_query) {  // c cancels in each row's ratio: the fp32 maximum, stored rounded for reference
      c = row_max[row];
      if (idx % m == 0) stab[row] = from_float<T>(c);
    } else {  // keys: the stored (rounded) constant, so a later chunk given it back uses the same value
      c = to_float(stab[row / n]);
    }
    y[idx] = from_float<T>(y_scale * expf(u[idx] - c));
  }
}

// dx = x_scale [Wᵀ(g ⊙ y) − x_scale x (g·y)]; one block per kRfRows rows, threads over d.
template <class T>
__global__ void random_backward_kernel(const T* x, const T* w, const T* y, const T* gy, T* gx, int64_t rows, int d,
                                       int m, float x_scale) {
  extern __shared__ float smem[];
  float* a = smem;                 // [kRfRows][m]
  float* dots = smem + kRfRows * m;  // [kRfRows]
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kRfRows;
  const int nrows = static_cast<int>(rows - row0 < kRfRows ? rows - row0 : kRfRows);
  for (int i = threadIdx.x; i < kRfRows * m; i += blockDim.x) {
    const int r = i / m;
    const int64_t g = (row0 + r) * m + i % m;
    a[i] = r < nrows ? to_float(gy[g]) * to_float(y[g]) : 0.0f;
  }
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  for (int r = warp; r < kRfRows; r += warps) {
    float s = 0;
    for (int c = lane; c < m; c += 32) s += a[r * m + c];
    s = warp_sum(s);
    if (lane == 0) dots[r] = s;
  }
  __syncthreads();
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    float acc[kRfRows];
#pragma unroll
    for (int i = 0; i < kRfRows; ++i) acc[i] = 0.0f;
    for (int f = 0; f < m; ++f) {
      const float wv = to_float(w[static_cast<int64_t>(f) * d + c]);
#pragma unroll
      for (int i = 0; i < kRfRows; ++i) acc[i] += a[i * m + f] * wv;
    }
#pragma unroll
    for (int i = 0; i < kRfRows; ++i)
      if (i < nrows) {
        const int64_t o = (row0 + i) * d + c;
        gx[o] = from_float<T>(x_scale * (acc[i] - x_scale * to_float(x[o]) * dots[i]));
      }
  }
}

// ---------------------------------------------------------------- RoPE

// One thread per V consecutive elements (V / 2 pairs) of a row. The frequencies θ_c = base^(−2c/d) come from a
// per-block table in double; the angle (offset + i)·θ_c is formed and reduced modulo 2π in double, so the fp32
// sine and cosine see |angle| ≤ π whatever the position (the CPU op computes the angle in double too).
template <class T, int V>
__global__ void rope_kernel(const T* x, T* y, int64_t bh, int64_t n, int d, int64_t offset, double log_base,
                            float sign, const int32_t* starts, int64_t heads) {
  extern __shared__ double theta[];  // [d / 2]
  for (int c = threadIdx.x; c < d / 2; c += blockDim.x)
    theta[c] = exp(-2.0 * static_cast<double>(c) / static_cast<double>(d) * log_base);
  __syncthreads();
  const int packs = d / V;
  const int64_t total = bh * n * packs;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = idx / packs;
    const int c0 = static_cast<int>(idx - row * packs) * V;  // first element of this thread's pack
    const double pos = static_cast<double>(row_position(row, n, offset, starts, heads));
    float v[V], out[V];
    if constexpr (V == 2) {  // rows not aligned for 16-byte accesses: element by element
      v[0] = to_float(x[row * d + c0]);
      v[1] = to_float(x[row * d + c0 + 1]);
    } else {
      load_vec<V>(x + row * d + c0, v);
    }
#pragma unroll
    for (int k = 0; k < V; k += 2) {
      float sn, cs;
      sincos_reduced(pos * theta[(c0 + k) / 2], sn, cs);
      sn *= sign;
      out[k] = v[k] * cs - v[k + 1] * sn;
      out[k + 1] = v[k] * sn + v[k + 1] * cs;
    }
    if constexpr (V == 2) {
      y[row * d + c0] = from_float<T>(out[0]);
      y[row * d + c0 + 1] = from_float<T>(out[1]);
    } else {
      store_vec<V>(y + row * d + c0, out);
    }
  }
}

// ---------------------------------------------------------------- head RMSNorm (a lane group per row)

// A group of G lanes per row (G a power of two ≤ 32, so a warp holds 32 / G rows); each lane takes V consecutive
// elements per step (V = 1: any e and alignment; V = 16 bytes' worth when e is a multiple of it and the rows are
// aligned). The row sums reduce within the group by xor shuffles.
template <int G>
__device__ __forceinline__ float group_sum(float v) {
  // Only this group's lanes take part: in the last warp, groups past the last row have returned.
  const unsigned mask = G == 32 ? 0xffffffffu : ((1u << G) - 1) << (threadIdx.x % 32 / G * G);
#pragma unroll
  for (int o = G / 2; o > 0; o /= 2) v += __shfl_xor_sync(mask, v, o);
  return v;
}

template <class T, int V, int G>
__global__ void head_rmsnorm_fwd_kernel(const T* x, float eps, T* y, float* inv, int64_t rows, int64_t e) {
  const int64_t row = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / G;
  const int lane = threadIdx.x % G;
  if (row >= rows) return;  // whole groups leave together (group_sum shuffles within the group)
  const T* xr = x + row * e;
  float ss = 0;
  for (int64_t c = V * lane; c < e; c += G * V) {
    float v[V];
    load_vec<V>(xr + c, v);
#pragma unroll
    for (int k = 0; k < V; ++k) ss += v[k] * v[k];
  }
  ss = group_sum<G>(ss);
  const float r = 1.0f / sqrtf(ss / static_cast<float>(e) + eps);
  if (lane == 0) inv[row] = r;
  for (int64_t c = V * lane; c < e; c += G * V) {
    float v[V];
    load_vec<V>(xr + c, v);
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] *= r;
    store_vec<V>(y + row * e + c, v);
  }
}

template <class T, int V, int G>
__global__ void head_rmsnorm_bwd_kernel(const T* y, const float* inv, const T* gy, T* gx, int64_t rows, int64_t e) {
  const int64_t row = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / G;
  const int lane = threadIdx.x % G;
  if (row >= rows) return;
  const T* yr = y + row * e;
  const T* gr = gy + row * e;
  float dot = 0;
  for (int64_t c = V * lane; c < e; c += G * V) {
    float a[V], b[V];
    load_vec<V>(gr + c, a);
    load_vec<V>(yr + c, b);
#pragma unroll
    for (int k = 0; k < V; ++k) dot += a[k] * b[k];
  }
  dot = group_sum<G>(dot) / static_cast<float>(e);
  const float r = inv[row];
  for (int64_t c = V * lane; c < e; c += G * V) {
    float a[V], b[V];
    load_vec<V>(gr + c, a);
    load_vec<V>(yr + c, b);
#pragma unroll
    for (int k = 0; k < V; ++k) a[k] = r * (a[k] - b[k] * dot);
    store_vec<V>(gx + row * e + c, a);
  }
}

// Calls f(integral_constant<int, G>) with G, the head RMSNorm kernels' lanes per row of e elements: the largest
// power of two ≤ 32 (at least 4) not above the row's accesses (e / V), so short rows share a warp.
template <int V, class F>
void with_row_group(int64_t e, F&& f) {
  const int64_t accesses = (e + V - 1) / V;
  if (accesses >= 32) f(std::integral_constant<int, 32>{});
  else if (accesses >= 16) f(std::integral_constant<int, 16>{});
  else if (accesses >= 8) f(std::integral_constant<int, 8>{});
  else f(std::integral_constant<int, 4>{});
}

// Calls f(integral_constant<int, V>) with V = 16 bytes of T when rows of `cols` elements starting at every pointer
// allow one access per V elements, V = 1 otherwise.
template <class T, class F>
void with_row_vector(int64_t cols, std::initializer_list<const void*> ptrs, F&& f) {
  constexpr int V = kVecWidth<T>;
  bool vec = cols % V == 0;
  for (const void* p : ptrs) vec = vec && aligned_to(p, 16);
  if (vec) f(std::integral_constant<int, V>{});
  else f(std::integral_constant<int, 1>{});
}

// ---------------------------------------------------------------- flash-style softmax attention

constexpr int kTile = 64;  // queries and keys per tile

// Loads rows [row0, row0 + 64) × [0, cols) of a [rows_total, cols] matrix into smem (row stride ld), zeros
// outside.
template <class T>
__device__ __forceinline__ void load_tile(float* dst, int ld, const T* src, int64_t row0, int64_t rows_total,
                                          int cols) {
  for (int i = threadIdx.x; i < kTile * cols; i += blockDim.x) {
    const int r = i / cols, c = i % cols;
    dst[r * ld + c] = row0 + r < rows_total ? to_float(src[(row0 + r) * cols + c]) : 0.0f;
  }
}

// acc[i][j] += Σ_k A[(ty + 16i), k] B[(tx + 16j), k]
__device__ __forceinline__ void mm_abt(const float* A, int lda, const float* B, int ldb, int K, int ty, int tx,
                                       float (&acc)[4][4]) {
  for (int k = 0; k < K; ++k) {
    float a[4], b[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] = A[(ty + 16 * i) * lda + k];
#pragma unroll
    for (int j = 0; j < 4; ++j) b[j] = B[(tx + 16 * j) * ldb + k];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
  }
}

// acc[i][j] += Σ_k A[(ty + 16i), k] B[k, (tx + 16j)], k < K (≤ 64), j < NC
template <int NC>
__device__ __forceinline__ void mm_ab(const float* A, int lda, const float* B, int ldb, int K, int ty, int tx,
                                      float (&acc)[4][NC]) {
  for (int k = 0; k < K; ++k) {
    float a[4], b[NC];
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] = A[(ty + 16 * i) * lda + k];
#pragma unroll
    for (int j = 0; j < NC; ++j) b[j] = B[k * ldb + tx + 16 * j];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < NC; ++j) acc[i][j] += a[i] * b[j];
  }
}

// acc[i][j] += Σ_k A[k, (ty + 16i)] B[k, (tx + 16j)], k < 64
template <int NC>
__device__ __forceinline__ void mm_atb(const float* A, int lda, const float* B, int ldb, int ty, int tx,
                                       float (&acc)[4][NC]) {
  for (int k = 0; k < kTile; ++k) {
    float a[4], b[NC];
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] = A[k * lda + ty + 16 * i];
#pragma unroll
    for (int j = 0; j < NC; ++j) b[j] = B[k * ldb + tx + 16 * j];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < NC; ++j) acc[i][j] += a[i] * b[j];
  }
}

// max / sum over the 16 lanes that share ty (a half warp).
__device__ __forceinline__ float half_warp_max(float v) {
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float half_warp_sum(float v) {
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Shared memory layout: DM = head-dim capacity (64 or 128); rows padded by one float against bank conflicts.
template <int DM>
struct FlashSmem {
  static constexpr int ld = DM + 1;
  static constexpr int ldp = kTile + 1;
  static constexpr size_t floats = 4 * kTile * ld + kTile * ldp + 2 * kTile;
  static constexpr size_t bytes = floats * sizeof(float);
};

template <class T, int DM>
__global__ void __launch_bounds__(kThreads) flash_fwd_kernel(const T* q, const T* k, const T* v, T* out, float* lse,
                                                             int64_t nq, int64_t nk, int d, int e, float scale) {
  constexpr int NC = DM / 16, ld = FlashSmem<DM>::ld, ldp = FlashSmem<DM>::ldp;
  extern __shared__ float smem[];
  float* Qs = smem;
  float* Ks = Qs + kTile * ld;
  float* Vs = Ks + kTile * ld;
  float* Ps = Vs + kTile * ld;
  const int64_t p = blockIdx.y;
  const int64_t q0 = static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * kTile;  // heavy (late) tiles first
  const int64_t off = nk - nq;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  load_tile(Qs, ld, q + p * nq * d, q0, nq, d);
  float m_i[4], l_i[4], o[4][NC];
  int64_t pos[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    m_i[i] = -INFINITY;
    l_i[i] = 0.0f;
    const int64_t qi = q0 + ty + 16 * i;
    pos[i] = qi < nq ? off + qi : 0;  // rows past nq compute garbage against key 0 only; never stored
#pragma unroll
    for (int j = 0; j < NC; ++j) o[i][j] = 0.0f;
  }
  const int64_t last_key = std::min<int64_t>(nk - 1, off + std::min<int64_t>(q0 + kTile, nq) - 1);
  for (int64_t k0 = 0; k0 <= last_key; k0 += kTile) {
    __syncthreads();
    load_tile(Ks, ld, k + p * nk * d, k0, nk, d);
    load_tile(Vs, ld, v + p * nk * e, k0, nk, e);
    __syncthreads();
    float s[4][4] = {};
    mm_abt(Qs, ld, Ks, ld, d, ty, tx, s);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t kj = k0 + tx + 16 * j;
        s[i][j] = kj <= pos[i] ? s[i][j] * scale : -INFINITY;
        mx = fmaxf(mx, s[i][j]);
      }
      const float m_new = fmaxf(m_i[i], half_warp_max(mx));
      const float alpha = expf(m_i[i] - m_new);  // m_i = −inf on the first tile: alpha = 0
      float sum = 0;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        s[i][j] = expf(s[i][j] - m_new);
        sum += s[i][j];
        Ps[(ty + 16 * i) * ldp + tx + 16 * j] = s[i][j];
      }
      l_i[i] = l_i[i] * alpha + half_warp_sum(sum);
      m_i[i] = m_new;
#pragma unroll
      for (int j = 0; j < NC; ++j) o[i][j] *= alpha;
    }
    __syncthreads();
    mm_ab<NC>(Ps, ldp, Vs, ld, kTile, ty, tx, o);
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t qi = q0 + ty + 16 * i;
    if (qi >= nq) continue;
    const float inv = 1.0f / l_i[i];
#pragma unroll
    for (int j = 0; j < NC; ++j) {
      const int c = tx + 16 * j;
      if (c < e) out[(p * nq + qi) * e + c] = from_float<T>(o[i][j] * inv);
    }
    if (tx == 0) lse[p * nq + qi] = m_i[i] + logf(l_i[i]);
  }
}

// delta[row] = Σ_c dO[row, c] O[row, c] (fp32), one warp per row.
template <class T>
__global__ void flash_delta_kernel(const T* dout, const T* out, float* delta, int64_t rows, int e) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  float s = 0;
  for (int c = threadIdx.x % 32; c < e; c += 32) s += to_float(dout[row * e + c]) * to_float(out[row * e + c]);
  s = warp_sum(s);
  if (threadIdx.x % 32 == 0) delta[row] = s;
}

// P (into s, masked to 0) and rows' lse/delta for one (query tile, key tile) pair.
__device__ __forceinline__ void recompute_p(float (&s)[4][4], const float* lse_s, int64_t q0, int64_t k0, int64_t nq,
                                            int64_t nk, int64_t off, float scale, int ty, int tx) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t qi = q0 + ty + 16 * i;
    const float l = lse_s[ty + 16 * i];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t kj = k0 + tx + 16 * j;
      s[i][j] = (qi < nq && kj < nk && kj <= off + qi) ? expf(s[i][j] * scale - l) : 0.0f;
    }
  }
}

// One block per (key tile, sequence): dV = Σ Pᵀ dO, dK = scale Σ dSᵀ Q over the query tiles that see it.
template <class T, int DM>
__global__ void __launch_bounds__(kThreads) flash_bwd_dkdv_kernel(const T* q, const T* k, const T* v, const float* lse,
                                                                  const float* delta, const T* dout, T* dk, T* dv,
                                                                  int64_t nq, int64_t nk, int d, int e, float scale) {
  constexpr int NC = DM / 16, ld = FlashSmem<DM>::ld, ldp = FlashSmem<DM>::ldp;
  extern __shared__ float smem[];
  float* Ks = smem;
  float* Vs = Ks + kTile * ld;
  float* Qs = Vs + kTile * ld;
  float* dOs = Qs + kTile * ld;
  float* Ps = dOs + kTile * ld;
  float* lse_s = Ps + kTile * ldp;
  float* delta_s = lse_s + kTile;
  const int64_t p = blockIdx.y, k0 = static_cast<int64_t>(blockIdx.x) * kTile, off = nk - nq;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  load_tile(Ks, ld, k + p * nk * d, k0, nk, d);
  load_tile(Vs, ld, v + p * nk * e, k0, nk, e);
  float dk_acc[4][NC] = {}, dv_acc[4][NC] = {};
  const int64_t first_q = std::max<int64_t>(0, k0 - off) / kTile * kTile;
  for (int64_t q0 = first_q; q0 < nq; q0 += kTile) {
    __syncthreads();
    load_tile(Qs, ld, q + p * nq * d, q0, nq, d);
    load_tile(dOs, ld, dout + p * nq * e, q0, nq, e);
    for (int i = threadIdx.x; i < kTile; i += blockDim.x) {
      lse_s[i] = q0 + i < nq ? lse[p * nq + q0 + i] : 0.0f;
      delta_s[i] = q0 + i < nq ? delta[p * nq + q0 + i] : 0.0f;
    }
    __syncthreads();
    float s[4][4] = {};
    mm_abt(Qs, ld, Ks, ld, d, ty, tx, s);  // rows: queries, cols: keys
    recompute_p(s, lse_s, q0, k0, nq, nk, off, scale, ty, tx);
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) Ps[(ty + 16 * i) * ldp + tx + 16 * j] = s[i][j];
    __syncthreads();
    mm_atb<NC>(Ps, ldp, dOs, ld, ty, tx, dv_acc);  // dV[key, c] += Σ_q P[q, key] dO[q, c]
    float dp[4][4] = {};
    mm_abt(dOs, ld, Vs, ld, e, ty, tx, dp);  // dP[q, key] = dO_q · V_key
    __syncthreads();
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) Ps[(ty + 16 * i) * ldp + tx + 16 * j] = s[i][j] * (dp[i][j] - delta_s[ty + 16 * i]);
    __syncthreads();
    mm_atb<NC>(Ps, ldp, Qs, ld, ty, tx, dk_acc);  // dK[key, c] += Σ_q dS[q, key] Q[q, c]
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t kj = k0 + ty + 16 * i;
    if (kj >= nk) continue;
#pragma unroll
    for (int j = 0; j < NC; ++j) {
      const int c = tx + 16 * j;
      if (c < d) dk[(p * nk + kj) * d + c] = from_float<T>(scale * dk_acc[i][j]);
      if (c < e) dv[(p * nk + kj) * e + c] = from_float<T>(dv_acc[i][j]);
    }
  }
}

// One block per (query tile, sequence): dQ = scale Σ dS K over the key tiles it sees.
template <class T, int DM>
__global__ void __launch_bounds__(kThreads) flash_bwd_dq_kernel(const T* q, const T* k, const T* v, const float* lse,
                                                                const float* delta, const T* dout, T* dq, int64_t nq,
                                                                int64_t nk, int d, int e, float scale) {
  constexpr int NC = DM / 16, ld = FlashSmem<DM>::ld, ldp = FlashSmem<DM>::ldp;
  extern __shared__ float smem[];
  float* Qs = smem;
  float* dOs = Qs + kTile * ld;
  float* Ks = dOs + kTile * ld;
  float* Vs = Ks + kTile * ld;
  float* Ps = Vs + kTile * ld;
  float* lse_s = Ps + kTile * ldp;
  float* delta_s = lse_s + kTile;
  const int64_t p = blockIdx.y, off = nk - nq;
  const int64_t q0 = static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * kTile;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  load_tile(Qs, ld, q + p * nq * d, q0, nq, d);
  load_tile(dOs, ld, dout + p * nq * e, q0, nq, e);
  for (int i = threadIdx.x; i < kTile; i += blockDim.x) {
    lse_s[i] = q0 + i < nq ? lse[p * nq + q0 + i] : 0.0f;
    delta_s[i] = q0 + i < nq ? delta[p * nq + q0 + i] : 0.0f;
  }
  float dq_acc[4][NC] = {};
  const int64_t last_key = std::min<int64_t>(nk - 1, off + std::min<int64_t>(q0 + kTile, nq) - 1);
  for (int64_t k0 = 0; k0 <= last_key; k0 += kTile) {
    __syncthreads();
    load_tile(Ks, ld, k + p * nk * d, k0, nk, d);
    load_tile(Vs, ld, v + p * nk * e, k0, nk, e);
    __syncthreads();
    float s[4][4] = {}, dp[4][4] = {};
    mm_abt(Qs, ld, Ks, ld, d, ty, tx, s);
    recompute_p(s, lse_s, q0, k0, nq, nk, off, scale, ty, tx);
    mm_abt(dOs, ld, Vs, ld, e, ty, tx, dp);
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) Ps[(ty + 16 * i) * ldp + tx + 16 * j] = s[i][j] * (dp[i][j] - delta_s[ty + 16 * i]);
    __syncthreads();
    mm_ab<NC>(Ps, ldp, Ks, ld, kTile, ty, tx, dq_acc);
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t qi = q0 + ty + 16 * i;
    if (qi >= nq) continue;
#pragma unroll
    for (int j = 0; j < NC; ++j) {
      const int c = tx + 16 * j;
      if (c < d) dq[(p * nq + qi) * d + c] = from_float<T>(scale * dq_acc[i][j]);
    }
  }
}

template <class K>
void set_smem(K kernel, size_t bytes) {
  LAT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

template <class F>
void with_head_capacity(const char* op, int64_t d, int64_t e, F&& f) {
  const int64_t mx = std::max(d, e);
  LAT_CHECK(mx <= 128, op, ": head dims up to 128 are supported on CUDA, got d = ", d, ", e = ", e);
  if (mx <= 64) f(std::integral_constant<int, 64>{});
  else f(std::integral_constant<int, 128>{});
}

// cosFormer's map (dy == nullptr) or its backward; the angle of row i is π/(2M)·(offset + i % n).
void launch_cosine(const char* name, const void* x, const void* dy, void* out, DType dtype, int64_t bh, int64_t n,
                   int64_t d, int64_t max_context, int64_t offset, const int32_t* starts, int64_t heads) {
  if (bh * n * d <= 0) return;
  const double per_pos = 3.141592653589793238 / (2.0 * static_cast<double>(max_context));
  dispatch_float_bf16(name, dtype, [&](auto tag) {
    using T = decltype(tag);
    with_row_vector<T>(d, {x, dy, out}, [&](auto width) {
      constexpr int V = decltype(width)::value;
      cosine_kernel<T, V><<<grid_for(bh * n * d / V, kThreads), kThreads, 0, lat::cuda::stream()>>>(
          static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<T*>(out), bh * n, n, static_cast<int>(d),
          per_pos, offset, dy != nullptr, starts, heads);
      LAT_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace

// ---------------------------------------------------------------- entry points

void elu1_forward(const void* x, void* y, DType dtype, int64_t count) {
  launch_map<1, 1>("elu1_feature_map", dtype, {x}, {y}, count, Elu1Forward{});
}

void elu1_backward(const void* x, const void* dy, void* dx, DType dtype, int64_t count) {
  launch_map<2, 1>("elu1_feature_map backward", dtype, {x, dy}, {dx}, count, Elu1Backward{});
}

void sigmoid_gate_forward(const void* x, const void* gate, void* y, DType dtype, int64_t count) {
  launch_map<2, 1>("sigmoid_gate", dtype, {x, gate}, {y}, count, GateForward{});
}

void sigmoid_gate_backward(const void* x, const void* gate, const void* dy, void* dx, void* dgate, DType dtype,
                           int64_t count) {
  if (dx != nullptr && dgate != nullptr)
    launch_map<3, 2>("sigmoid_gate backward", dtype, {x, gate, dy}, {dx, dgate}, count, GateBackward{});
  else if (dx != nullptr)
    launch_map<2, 1>("sigmoid_gate backward", dtype, {gate, dy}, {dx}, count, GateBackwardX{});
  else if (dgate != nullptr)
    launch_map<3, 1>("sigmoid_gate backward", dtype, {x, gate, dy}, {dgate}, count, GateBackwardGate{});
}

void cosine_feature_forward(const void* x, void* y, DType dtype, int64_t bh, int64_t n, int64_t d,
                            int64_t max_context, int64_t offset, const int32_t* starts, int64_t heads) {
  launch_cosine("cosine_feature_map", x, nullptr, y, dtype, bh, n, d, max_context, offset, starts, heads);
}

void cosine_feature_backward(const void* x, const void* dy, void* dx, DType dtype, int64_t bh, int64_t n,
                             int64_t d, int64_t max_context, int64_t offset, const int32_t* starts, int64_t heads) {
  launch_cosine("cosine_feature_map backward", x, dy, dx, dtype, bh, n, d, max_context, offset, starts, heads);
}

void random_feature_forward(const void* x, const void* w, bool is_query, const void* key_stabilizer, void* y,
                            void* stabilizer, DType dtype, int64_t bh, int64_t n, int64_t d, int64_t m) {
  const int64_t rows = bh * n;
  if (rows <= 0 || m <= 0) return;
  LAT_CHECK(d <= 1024 && m <= (int64_t{1} << 30), "random_feature_map: CUDA kernel supports head_dim ≤ 1024, got ", d);
  const float x_scale = static_cast<float>(std::pow(static_cast<double>(d), -0.25));
  const float y_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(m)));
  dispatch_float_bf16("random_feature_map", dtype, [&](auto tag) {
    using T = decltype(tag);
    Scratch u(static_cast<size_t>(rows * m) * sizeof(float)), row_max(static_cast<size_t>(rows) * sizeof(float));
    const int warps = kThreads / 32;
    const size_t smem = (kRfRows * d + kRfRows + kRfRows * warps) * sizeof(float);
    if (smem > 48 * 1024) set_smem(random_exponent_kernel<T>, smem);
    const int blocks = static_cast<int>((rows + kRfRows - 1) / kRfRows);
    random_exponent_kernel<T><<<blocks, kThreads, smem, lat::cuda::stream()>>>(
        static_cast<const T*>(x), static_cast<const T*>(w), u.as<float>(), row_max.as<float>(), rows,
        static_cast<int>(d), static_cast<int>(m), x_scale);
    LAT_CUDA_CHECK_LAUNCH();
    if (!is_query) {
      key_stabilizer_kernel<T><<<static_cast<int>(bh), kThreads, 0, lat::cuda::stream()>>>(
          row_max.as<float>(), static_cast<const T*>(key_stabilizer), static_cast<T*>(stabilizer), n);
      LAT_CUDA_CHECK_LAUNCH();
    }
    random_exp_kernel<T><<<grid_for(rows * m, kThreads), kThreads, 0, lat::cuda::stream()>>>(
        u.as<float>(), row_max.as<float>(), static_cast<T*>(stabilizer), is_query, static_cast<T*>(y), rows, n,
        static_cast<int>(m), y_scale);
    LAT_CUDA_CHECK_LAUNCH();
  });
}

void random_feature_backward(const void* x, const void* w, const void* y, const void* dy, void* dx, DType dtype,
                             int64_t rows, int64_t d, int64_t m) {
  if (rows <= 0) return;
  LAT_CHECK(m <= 2048, "random_feature_map backward: CUDA kernel supports feature_dim ≤ 2048, got ", m);
  const float x_scale = static_cast<float>(std::pow(static_cast<double>(d), -0.25));
  dispatch_float_bf16("random_feature_map backward", dtype, [&](auto tag) {
    using T = decltype(tag);
    const size_t smem = (kRfRows * m + kRfRows) * sizeof(float);
    if (smem > 48 * 1024) set_smem(random_backward_kernel<T>, smem);
    const int threads = d >= 128 ? 128 : 64;
    random_backward_kernel<T><<<static_cast<int>((rows + kRfRows - 1) / kRfRows), threads, smem, lat::cuda::stream()>>>(
        static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(y), static_cast<const T*>(dy),
        static_cast<T*>(dx), rows, static_cast<int>(d), static_cast<int>(m), x_scale);
    LAT_CUDA_CHECK_LAUNCH();
  });
}

void rope_forward(const void* x, void* y, DType dtype, int64_t bh, int64_t n, int64_t d, int64_t offset, double base,
                  bool inverse, const int32_t* starts, int64_t heads) {
  if (bh * n * d <= 0) return;
  dispatch_float_bf16("rope", dtype, [&](auto tag) {
    using T = decltype(tag);
    with_row_vector<T>(d, {x, y}, [&](auto width) {
      constexpr int V = std::max(2, decltype(width)::value);  // whole pairs (d is even)
      const size_t smem = static_cast<size_t>(d / 2) * sizeof(double);
      if (smem > 48 * 1024) set_smem(rope_kernel<T, V>, smem);
      rope_kernel<T, V><<<grid_for(bh * n * d / V, kThreads), kThreads, smem, lat::cuda::stream()>>>(
          static_cast<const T*>(x), static_cast<T*>(y), bh, n, static_cast<int>(d), offset, std::log(base),
          inverse ? -1.0f : 1.0f, starts, heads);
      LAT_CUDA_CHECK_LAUNCH();
    });
  });
}

void head_rmsnorm_forward(const void* x, float eps, void* y, float* inv_rms, DType dtype, int64_t rows, int64_t e) {
  if (rows <= 0) return;
  dispatch_float_bf16("head_rmsnorm", dtype, [&](auto tag) {
    using T = decltype(tag);
    with_row_vector<T>(e, {x, y}, [&](auto width) {
      constexpr int V = decltype(width)::value;
      with_row_group<V>(e, [&](auto group) {
        constexpr int G = decltype(group)::value;
        head_rmsnorm_fwd_kernel<T, V, G><<<grid_for(rows * G, kThreads, INT32_MAX), kThreads, 0,
                                           lat::cuda::stream()>>>(static_cast<const T*>(x), eps, static_cast<T*>(y),
                                                                  inv_rms, rows, e);
        LAT_CUDA_CHECK_LAUNCH();
      });
    });
  });
}

void head_rmsnorm_backward(const void* y, const float* inv_rms, const void* dy, void* dx, DType dtype, int64_t rows,
                           int64_t e) {
  if (rows <= 0) return;
  dispatch_float_bf16("head_rmsnorm backward", dtype, [&](auto tag) {
    using T = decltype(tag);
    with_row_vector<T>(e, {y, dy, dx}, [&](auto width) {
      constexpr int V = decltype(width)::value;
      with_row_group<V>(e, [&](auto group) {
        constexpr int G = decltype(group)::value;
        head_rmsnorm_bwd_kernel<T, V, G><<<grid_for(rows * G, kThreads, INT32_MAX), kThreads, 0,
                                           lat::cuda::stream()>>>(static_cast<const T*>(y), inv_rms,
                                                                  static_cast<const T*>(dy), static_cast<T*>(dx),
                                                                  rows, e);
        LAT_CUDA_CHECK_LAUNCH();
      });
    });
  });
}

void softmax_attention_forward(const void* q, const void* k, const void* v, void* out, float* lse, DType dtype,
                               int64_t bh, int64_t nq, int64_t nk, int64_t d, int64_t e, float scale) {
  if (bh <= 0 || nq <= 0) return;
  LAT_CHECK(bh <= 65535, "softmax_attention: CUDA kernel supports batch·heads ≤ 65535, got ", bh);
  if (softmax_attention_mma_applies(dtype, d, e)) {
    softmax_attention_mma_forward(q, k, v, out, lse, bh, nq, nk, d, scale);
    return;
  }
  dispatch_float_bf16("softmax_attention", dtype, [&](auto tag) {
    using T = decltype(tag);
    with_head_capacity("softmax_attention", d, e, [&](auto cap) {
      constexpr int DM = decltype(cap)::value;
      const size_t smem = FlashSmem<DM>::bytes;
      set_smem(flash_fwd_kernel<T, DM>, smem);
      const dim3 grid(static_cast<unsigned>((nq + kTile - 1) / kTile), static_cast<unsigned>(bh));
      flash_fwd_kernel<T, DM><<<grid, kThreads, smem, lat::cuda::stream()>>>(
          static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), static_cast<T*>(out), lse, nq,
          nk, static_cast<int>(d), static_cast<int>(e), scale);
      LAT_CUDA_CHECK_LAUNCH();
    });
  });
}

void softmax_attention_backward(const void* q, const void* k, const void* v, const void* out, const float* lse,
                                const void* dout, void* dq, void* dk, void* dv, DType dtype, int64_t bh, int64_t nq,
                                int64_t nk, int64_t d, int64_t e, float scale) {
  if (bh <= 0 || nk <= 0) return;
  LAT_CHECK(bh <= 65535, "softmax_attention backward: CUDA kernel supports batch·heads ≤ 65535, got ", bh);
  dispatch_float_bf16("softmax_attention backward", dtype, [&](auto tag) {
    using T = decltype(tag);
    Scratch delta(static_cast<size_t>(bh * nq) * sizeof(float));
    if (nq > 0) {
      const int per_block = kThreads / 32;
      flash_delta_kernel<T><<<static_cast<int>((bh * nq + per_block - 1) / per_block), kThreads, 0,
                              lat::cuda::stream()>>>(static_cast<const T*>(dout), static_cast<const T*>(out),
                                                     delta.as<float>(), bh * nq, static_cast<int>(e));
      LAT_CUDA_CHECK_LAUNCH();
    }
    if (softmax_attention_mma_applies(dtype, d, e)) {
      softmax_attention_mma_backward(q, k, v, lse, delta.as<float>(), dout, dq, dk, dv, bh, nq, nk, d, scale);
      return;
    }
    with_head_capacity("softmax_attention backward", d, e, [&](auto cap) {
      constexpr int DM = decltype(cap)::value;
      const size_t smem = FlashSmem<DM>::bytes;
      set_smem(flash_bwd_dkdv_kernel<T, DM>, smem);
      set_smem(flash_bwd_dq_kernel<T, DM>, smem);
      const dim3 gk(static_cast<unsigned>((nk + kTile - 1) / kTile), static_cast<unsigned>(bh));
      flash_bwd_dkdv_kernel<T, DM><<<gk, kThreads, smem, lat::cuda::stream()>>>(
          static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), lse, delta.as<float>(),
          static_cast<const T*>(dout), static_cast<T*>(dk), static_cast<T*>(dv), nq, nk, static_cast<int>(d),
          static_cast<int>(e), scale);
      LAT_CUDA_CHECK_LAUNCH();
      if (nq > 0) {
        const dim3 gq(static_cast<unsigned>((nq + kTile - 1) / kTile), static_cast<unsigned>(bh));
        flash_bwd_dq_kernel<T, DM><<<gq, kThreads, smem, lat::cuda::stream()>>>(
            static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), lse, delta.as<float>(),
            static_cast<const T*>(dout), static_cast<T*>(dq), nq, nk, static_cast<int>(d), static_cast<int>(e),
            scale);
        LAT_CUDA_CHECK_LAUNCH();
      }
    });
  });
}

}  // namespace lat::kernels::cuda
