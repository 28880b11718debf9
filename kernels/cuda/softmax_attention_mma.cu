// Causal flash attention on tensor cores (see softmax_attention_mma.cuh). One CTA of four warps takes 64 rows
// (queries in the forward and dQ kernels, keys in the dK/dV kernel), 16 per warp; the other operand streams
// through shared memory in 64-row tiles, double-buffered with cp.async. Tiles are row-major bf16 padded by 8
// elements per row, so the eight rows of every ldmatrix land in distinct banks. Scores live in registers: the
// m16n8 accumulators of two adjacent key (or query) columns are, once rounded to bf16, the A operand of the next
// product, so P and dS never touch shared memory. Softmax runs in base 2 (scale · log2 e folded into the scores).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/softmax_attention_mma.cuh"

namespace lat::kernels::cuda {
namespace {

constexpr int kRows = 64;  // rows per CTA and per streamed tile
constexpr int kWarps = kRows / 16;
constexpr int kBlock = 32 * kWarps;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

template <int D>
struct Tile {
  static constexpr int ld = D + 8;  // elements per padded row
  static constexpr int elems = kRows * ld;
  static constexpr size_t bytes = elems * sizeof(bf16);
};

// Rows [row0, row0 + 64) of a [rows, D] bf16 matrix into a padded tile by cp.async; rows past the end are zero.
// Thread i always copies 16-byte piece i % (D / 8) of rows i / (D / 8) + u · (128 / (D / 8)).
template <int D>
__device__ __forceinline__ void stage_rows(bf16* dst, const bf16* src, int64_t row0, int64_t rows) {
  constexpr int pieces = D / 8, step = kBlock / pieces;
  const int r = threadIdx.x / pieces, c = threadIdx.x % pieces * 8;
  const int64_t left = rows - row0;  // rows of this tile that exist
  const bf16* from = src + (row0 + r) * D + c;
  bf16* to = dst + r * Tile<D>::ld + c;
#pragma unroll
  for (int u = 0; u < kRows / step; ++u) {
    const bool valid = r + u * step < left;
    cp_async16(to + u * step * Tile<D>::ld, valid ? from + u * step * D : src, valid);
  }
}

// 64 floats of a per-row statistic (lse or delta) from row row0 on; zero past the end.
__device__ __forceinline__ void stage_stat(float* dst, const float* src, int64_t row0, int64_t rows) {
  for (int i = threadIdx.x; i < kRows; i += kBlock) {
    const bool valid = row0 + i < rows;
    cp_async4(dst + i, valid ? src + row0 + i : src, valid);
  }
}

// ldmatrix addressing for mma16816 operands from padded row-major tiles (lane l supplies one row address).
// A: rows [r0, r0 + 16) × cols [c0, c0 + 16) → a0..a3.
template <int LD>
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const bf16* tile, int r0, int c0) {
  const int l = threadIdx.x % 32;
  ldsm_x4(a, tile + (r0 + l % 8 + 8 * (l / 8 % 2)) * LD + c0 + 8 * (l / 16));
}
// B of n-tiles [n0, n0 + 8) and [n0 + 8, n0 + 16) over k in [k0, k0 + 16), from a tile stored [n][k]:
// b[0], b[1] for the first n-tile, b[2], b[3] for the second.
template <int LD>
__device__ __forceinline__ void load_b_rows_n(uint32_t (&b)[4], const bf16* tile, int n0, int k0) {
  const int l = threadIdx.x % 32;
  ldsm_x4(b, tile + (n0 + l % 8 + 8 * (l / 16)) * LD + k0 + 8 * (l / 8 % 2));
}
// The same from a tile stored [k][n] (transposed ldmatrix).
template <int LD>
__device__ __forceinline__ void load_b_rows_k(uint32_t (&b)[4], const bf16* tile, int k0, int n0) {
  const int l = threadIdx.x % 32;
  ldsm_x4_t(b, tile + (k0 + l % 8 + 8 * (l / 8 % 2)) * LD + n0 + 8 * (l / 16));
}

// acc[j] (16 × 8, n-tile j) += A[r0.., 0..K) · B[n0 + 8j.., 0..K)ᵀ, both tiles stored with K along the row.
template <int K, int NT, int LD>
__device__ __forceinline__ void mma_abt(float (&acc)[NT][4], const bf16* a_tile, int r0, const bf16* b_tile, int n0) {
#pragma unroll
  for (int kk = 0; kk < K; kk += 16) {
    uint32_t a[4];
    load_a<LD>(a, a_tile, r0, kk);
#pragma unroll
    for (int j = 0; j < NT; j += 2) {
      uint32_t b[4];
      load_b_rows_n<LD>(b, b_tile, n0 + 8 * j, kk);
      mma16816(acc[j], a, b[0], b[1]);
      mma16816(acc[j + 1], a, b[2], b[3]);
    }
  }
}

// acc[j] += P · B[k0.., 8j..), P given as register A fragments over KT steps of 16, B stored [k][n].
template <int KT, int NT, int LD>
__device__ __forceinline__ void mma_pb(float (&acc)[NT][4], const uint32_t (&p)[KT][4], const bf16* b_tile, int k0) {
#pragma unroll
  for (int kk = 0; kk < KT; ++kk)
#pragma unroll
    for (int j = 0; j < NT; j += 2) {
      uint32_t b[4];
      load_b_rows_k<LD>(b, b_tile, k0 + 16 * kk, 8 * j);
      mma16816(acc[j], p[kk], b[0], b[1]);
      mma16816(acc[j + 1], p[kk], b[2], b[3]);
    }
}

// Accumulators of n-tiles (2kk, 2kk + 1) rounded to bf16 as the A operand over k in [16kk, 16kk + 16).
template <int NT>
__device__ __forceinline__ void to_a(uint32_t (&a)[NT / 2][4], const float (&c)[NT][4]) {
#pragma unroll
  for (int kk = 0; kk < NT / 2; ++kk) {
    a[kk][0] = pack_bf16(c[2 * kk][0], c[2 * kk][1]);
    a[kk][1] = pack_bf16(c[2 * kk][2], c[2 * kk][3]);
    a[kk][2] = pack_bf16(c[2 * kk + 1][0], c[2 * kk + 1][1]);
    a[kk][3] = pack_bf16(c[2 * kk + 1][2], c[2 * kk + 1][3]);
  }
}

// Rows (g, g + 8) of a warp's 16 × D accumulator, times `mul`, to bf16 rows of `dst` ([rows, D]) below `rows`.
template <int D>
__device__ __forceinline__ void store_rows(bf16* dst, const float (&acc)[D / 8][4], int64_t row0, int64_t rows,
                                           float mul0, float mul1) {
  const int g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t r = row0 + g + 8 * h;
    if (r >= rows) continue;
    const float mul = h ? mul1 : mul0;
#pragma unroll
    for (int j = 0; j < D / 8; ++j)
      *reinterpret_cast<uint32_t*>(dst + r * D + 8 * j + 2 * t) =
          pack_bf16(acc[j][2 * h] * mul, acc[j][2 * h + 1] * mul);
  }
}

// 2^x in one MUFU instruction (flush-to-zero; ex2(−inf) = 0). P is rounded to bf16 right after.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// A row's column bound relative to a tile's first column, clamped into [−1, kRows].
__device__ __forceinline__ int tile_bound(int64_t x) { return static_cast<int>(std::clamp<int64_t>(x, -1, kRows)); }

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Last key any of the query rows [q0, q0 + 64) sees.
__device__ __forceinline__ int64_t last_key_of(int64_t q0, int64_t nq, int64_t nk) {
  return std::min<int64_t>(nk - 1, nk - nq + std::min<int64_t>(q0 + kRows, nq) - 1);
}

// The key/value stream of the forward and dQ kernels: K and V tiles double-buffered in Ks, Vs (two stages
// each). next(it) waits for tile it, issues the prefetch of tile it + 1 into the other stage and returns tile it.
template <int D>
struct KeyValueStream {
  bf16* Ks;
  bf16* Vs;
  const bf16* k;  // this sequence's [nk, D] keys and values
  const bf16* v;
  int64_t nk;
  int tiles;

  __device__ __forceinline__ void start() const {
    stage_rows<D>(Ks, k, 0, nk);
    stage_rows<D>(Vs, v, 0, nk);
  }
  __device__ __forceinline__ void next(int it, const bf16*& Kt, const bf16*& Vt) const {
    cp_async_wait<0>();
    __syncthreads();  // tile it landed; every warp is done with the stage the prefetch overwrites
    if (it + 1 < tiles) {
      const int s = (it + 1) % 2;
      stage_rows<D>(Ks + s * Tile<D>::elems, k, int64_t{it + 1} * kRows, nk);
      stage_rows<D>(Vs + s * Tile<D>::elems, v, int64_t{it + 1} * kRows, nk);
    }
    cp_async_commit();
    Kt = Ks + it % 2 * Tile<D>::elems;
    Vt = Vs + it % 2 * Tile<D>::elems;
  }
};

// ---------------------------------------------------------------- forward

template <int D>
__global__ void __launch_bounds__(kBlock) flash_mma_fwd_kernel(const bf16* q, const bf16* k, const bf16* v, bf16* out,
                                                               float* lse, int64_t nq, int64_t nk, float scale2) {
  constexpr int LD = Tile<D>::ld, NT = D / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* Qs = reinterpret_cast<bf16*>(smem);
  bf16* Ks = Qs + Tile<D>::elems;  // two stages each
  bf16* Vs = Ks + 2 * Tile<D>::elems;
  const int64_t p = blockIdx.y, off = nk - nq;
  const int64_t q0 = static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * kRows;  // heavy (late) tiles first
  const int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
  const KeyValueStream<D> kv{Ks, Vs, k + p * nk * D, v + p * nk * D, nk,
                             static_cast<int>(last_key_of(q0, nq, nk) / kRows) + 1};
  stage_rows<D>(Qs, q + p * nq * D, q0, nq);
  kv.start();
  cp_async_commit();
  // Rows past nq keep their position unmasked (never stored); every row sees key 0, so its max is finite.
  const int64_t pos0 = off + q0 + 16 * warp + g;  // positions of rows g and g + 8
  float o[NT][4] = {}, m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  for (int it = 0; it < kv.tiles; ++it) {
    const bf16 *Kt, *Vt;
    kv.next(it, Kt, Vt);
    float s[8][4] = {};
    mma_abt<D, 8, LD>(s, Qs, 16 * warp, Kt, 0);
    const int64_t k0 = int64_t{it} * kRows;
    if (k0 + kRows - 1 > off + q0 + 16 * warp || k0 + kRows > nk) {  // the diagonal or the last key tile
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int last = tile_bound(std::min(pos0 + 8 * h, nk - 1) - k0);  // last visible key, tile-relative
#pragma unroll
        for (int j = 0; j < 8; ++j)
#pragma unroll
          for (int c = 0; c < 2; ++c)
            if (8 * j + 2 * t + c > last) s[j][2 * h + c] = -INFINITY;
      }
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < 8; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * h], s[j][2 * h + 1]));
      const float m_new = fmaxf(m[h], quad_max(mx) * scale2);  // in units of log2, like m
      const float alpha = fast_exp2(m[h] - m_new);              // 0 on the first tile (m = −inf)
      m[h] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const float e = fast_exp2(fmaf(s[j][2 * h + c], scale2, -m_new));
          s[j][2 * h + c] = e;
          sum += e;
        }
      l[h] = l[h] * alpha + sum;  // this lane's columns; the quad's sum is taken at the end
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        o[j][2 * h] *= alpha;
        o[j][2 * h + 1] *= alpha;
      }
    }
    uint32_t pa[4][4];
    to_a<8>(pa, s);
    mma_pb<4, NT, LD>(o, pa, Vt, 0);
  }
  const float l0 = quad_sum(l[0]), l1 = quad_sum(l[1]);
  const int64_t r0 = q0 + 16 * warp;
  store_rows<D>(out + p * nq * D, o, r0, nq, 1.0f / l0, 1.0f / l1);
  if (t == 0) {
    if (r0 + g < nq) lse[p * nq + r0 + g] = m[0] * kLn2 + logf(l0);
    if (r0 + g + 8 < nq) lse[p * nq + r0 + g + 8] = m[1] * kLn2 + logf(l1);
  }
}

// ---------------------------------------------------------------- backward

// P = exp(scale·s − lse) and dS = P (dP − delta), both written back in place. On an edge tile, entry (row
// half r, n-tile j, column c) counts only when its tile-relative column 8j + 2t + c lies in [lo[r], hi[r]).
template <int NT, class Stat>
__device__ __forceinline__ void scores_to_ds(float (&s)[NT][4], float (&dp)[NT][4], float scale2, bool edge,
                                             const int (&lo)[2], const int (&hi)[2], Stat lse2_delta) {
  const int t = threadIdx.x % 4;
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const float2 ld = lse2_delta(j, r, c);  // (lse · log2 e, delta) of this entry's query
        const int i = 2 * r + c, col = 8 * j + 2 * t + c;
        float pr = fast_exp2(fmaf(s[j][i], scale2, -ld.x));
        if (edge && (col < lo[r] || col >= hi[r])) pr = 0.0f;
        s[j][i] = pr;
        dp[j][i] = pr * (dp[j][i] - ld.y);
      }
}

// One CTA per (query tile, sequence): dQ = scale Σ_keys dS K.
template <int D>
__global__ void __launch_bounds__(kBlock) flash_mma_dq_kernel(const bf16* q, const bf16* k, const bf16* v,
                                                              const float* lse, const float* delta, const bf16* dout,
                                                              bf16* dq, int64_t nq, int64_t nk, float scale,
                                                              float scale2) {
  constexpr int LD = Tile<D>::ld, NT = D / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* Qs = reinterpret_cast<bf16*>(smem);
  bf16* dOs = Qs + Tile<D>::elems;
  bf16* Ks = dOs + Tile<D>::elems;  // two stages each
  bf16* Vs = Ks + 2 * Tile<D>::elems;
  const int64_t p = blockIdx.y, off = nk - nq;
  const int64_t q0 = static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * kRows;
  const int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4;
  const KeyValueStream<D> kv{Ks, Vs, k + p * nk * D, v + p * nk * D, nk,
                             static_cast<int>(last_key_of(q0, nq, nk) / kRows) + 1};
  stage_rows<D>(Qs, q + p * nq * D, q0, nq);
  stage_rows<D>(dOs, dout + p * nq * D, q0, nq);
  kv.start();
  cp_async_commit();
  const int64_t r0 = q0 + 16 * warp;
  float2 stat[2];  // (lse · log2 e, delta) of rows g and g + 8
  int64_t last[2];  // the last key each row sees; rows past nq see none
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t r = r0 + g + 8 * h;
    stat[h] = r < nq ? make_float2(lse[p * nq + r] * kLog2e, delta[p * nq + r]) : make_float2(0.0f, 0.0f);
    last[h] = r < nq ? std::min(off + r, nk - 1) : -1;
  }
  float acc[NT][4] = {};
  for (int it = 0; it < kv.tiles; ++it) {
    const bf16 *Kt, *Vt;
    kv.next(it, Kt, Vt);
    float s[8][4] = {}, dp[8][4] = {};
    mma_abt<D, 8, LD>(s, Qs, 16 * warp, Kt, 0);
    mma_abt<D, 8, LD>(dp, dOs, 16 * warp, Vt, 0);
    const int64_t k0 = int64_t{it} * kRows;
    const bool edge = k0 + kRows - 1 > off + r0 || k0 + kRows > nk || r0 + 16 > nq;
    const int lo[2] = {0, 0}, hi[2] = {tile_bound(last[0] - k0) + 1, tile_bound(last[1] - k0) + 1};
    scores_to_ds<8>(s, dp, scale2, edge, lo, hi, [&](int, int r, int) { return stat[r]; });
    uint32_t da[4][4];
    to_a<8>(da, dp);
    mma_pb<4, NT, LD>(acc, da, Kt, 0);
  }
  store_rows<D>(dq + p * nq * D, acc, r0, nq, scale, scale);
}

// One CTA per (key tile, sequence): dV = Σ_queries Pᵀ dO, dK = scale Σ_queries dSᵀ Q. The scores are formed
// transposed (keys as rows), so Pᵀ and dSᵀ are already the A operands; each 64-query tile is taken in two
// halves of 32 to keep the registers for the two 16 × D accumulators.
template <int D>
__global__ void __launch_bounds__(kBlock) flash_mma_dkdv_kernel(const bf16* q, const bf16* k, const bf16* v,
                                                                const float* lse, const float* delta,
                                                                const bf16* dout, bf16* dk, bf16* dv, int64_t nq,
                                                                int64_t nk, float scale, float scale2) {
  constexpr int LD = Tile<D>::ld, NT = D / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* Ks = reinterpret_cast<bf16*>(smem);
  bf16* Vs = Ks + Tile<D>::elems;
  bf16* Qs = Vs + Tile<D>::elems;  // two stages each
  bf16* dOs = Qs + 2 * Tile<D>::elems;
  float* lse_s = reinterpret_cast<float*>(dOs + 2 * Tile<D>::elems);  // [2][64]
  float* delta_s = lse_s + 2 * kRows;                                  // [2][64]
  const int64_t p = blockIdx.y, off = nk - nq, k0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
  const bf16* qh = q + p * nq * D;
  const bf16* oh = dout + p * nq * D;
  const float* lh = lse + p * nq;
  const float* dh = delta + p * nq;
  const int64_t first_q = std::max<int64_t>(0, k0 - off) / kRows * kRows;  // < nq: key k0 ≤ nk − 1 = off + nq − 1
  stage_rows<D>(Ks, k + p * nk * D, k0, nk);
  stage_rows<D>(Vs, v + p * nk * D, k0, nk);
  stage_rows<D>(Qs, qh, first_q, nq);
  stage_rows<D>(dOs, oh, first_q, nq);
  stage_stat(lse_s, lh, first_q, nq);
  stage_stat(delta_s, dh, first_q, nq);
  cp_async_commit();
  const int64_t key0 = k0 + 16 * warp + g;  // this lane's rows: key0 and key0 + 8
  float dk_acc[NT][4] = {}, dv_acc[NT][4] = {};
  for (int64_t q_0 = first_q, it = 0; q_0 < nq; q_0 += kRows, ++it) {
    cp_async_wait<0>();
    __syncthreads();
    if (q_0 + kRows < nq) {
      const int s = static_cast<int>((it + 1) % 2);
      stage_rows<D>(Qs + s * Tile<D>::elems, qh, q_0 + kRows, nq);
      stage_rows<D>(dOs + s * Tile<D>::elems, oh, q_0 + kRows, nq);
      stage_stat(lse_s + s * kRows, lh, q_0 + kRows, nq);
      stage_stat(delta_s + s * kRows, dh, q_0 + kRows, nq);
    }
    cp_async_commit();
    const int st = static_cast<int>(it % 2);
    const bf16* Qt = Qs + st * Tile<D>::elems;
    const bf16* dOt = dOs + st * Tile<D>::elems;
    const float* ls = lse_s + st * kRows;
    const float* dl = delta_s + st * kRows;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int c0 = 32 * half;  // first query column of this half within the tile
      float s[4][4] = {}, dp[4][4] = {};
      mma_abt<D, 4, LD>(s, Ks, 16 * warp, Qt, c0);
      mma_abt<D, 4, LD>(dp, Vs, 16 * warp, dOt, c0);
      const int64_t qa = q_0 + c0;  // first query of this half
      const bool edge = k0 + 16 * warp + 15 > off + qa || qa + 32 > nq || k0 + 16 * warp + 16 > nk;
      // Key row r sees the queries at or after its position (key − off) and before nq; a key past nk sees none.
      int lo[2], hi[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int64_t key = key0 + 8 * r;
        lo[r] = key < nk ? tile_bound(key - off - qa) : kRows;
        hi[r] = tile_bound(nq - qa);
      }
      scores_to_ds<4>(s, dp, scale2, edge, lo, hi, [&](int j, int, int c) {
        const int col = c0 + 8 * j + 2 * t + c;
        return make_float2(ls[col] * kLog2e, dl[col]);
      });
      uint32_t pa[2][4], da[2][4];
      to_a<4>(pa, s);
      to_a<4>(da, dp);
      mma_pb<2, NT, LD>(dv_acc, pa, dOt, c0);
      mma_pb<2, NT, LD>(dk_acc, da, Qt, c0);
    }
  }
  store_rows<D>(dk + p * nk * D, dk_acc, k0 + 16 * warp, nk, scale, scale);
  store_rows<D>(dv + p * nk * D, dv_acc, k0 + 16 * warp, nk, 1.0f, 1.0f);
}

template <class K>
void allow_smem(K kernel, size_t bytes) {
  LAT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

template <class F>
void with_head_dim(int64_t d, F&& f) {
  if (d == 64) f(std::integral_constant<int, 64>{});
  else f(std::integral_constant<int, 128>{});
}

unsigned tiles_of(int64_t n) { return static_cast<unsigned>((n + kRows - 1) / kRows); }

}  // namespace

bool softmax_attention_mma_applies(DType dtype, int64_t d, int64_t e) {
  static const bool enabled = [] {
    const char* env = std::getenv("LAT_SOFTMAX_MMA");
    return env == nullptr || std::string(env) != "0";
  }();
  return enabled && dtype == DType::BF16 && d == e && (d == 64 || d == 128);
}

void softmax_attention_mma_forward(const void* q, const void* k, const void* v, void* out, float* lse, int64_t bh,
                                   int64_t nq, int64_t nk, int64_t d, float scale) {
  with_head_dim(d, [&](auto dim) {
    constexpr int D = decltype(dim)::value;
    const size_t smem = 5 * Tile<D>::bytes;
    allow_smem(flash_mma_fwd_kernel<D>, smem);
    flash_mma_fwd_kernel<D><<<dim3(tiles_of(nq), static_cast<unsigned>(bh)), kBlock, smem, lat::cuda::stream()>>>(
        static_cast<const bf16*>(q), static_cast<const bf16*>(k), static_cast<const bf16*>(v), static_cast<bf16*>(out),
        lse, nq, nk, scale * kLog2e);
    LAT_CUDA_CHECK_LAUNCH();
  });
}

void softmax_attention_mma_backward(const void* q, const void* k, const void* v, const float* lse, const float* delta,
                                    const void* dout, void* dq, void* dk, void* dv, int64_t bh, int64_t nq, int64_t nk,
                                    int64_t d, float scale) {
  with_head_dim(d, [&](auto dim) {
    constexpr int D = decltype(dim)::value;
    const auto* qb = static_cast<const bf16*>(q);
    const auto* kb = static_cast<const bf16*>(k);
    const auto* vb = static_cast<const bf16*>(v);
    const auto* ob = static_cast<const bf16*>(dout);
    const size_t smem_kv = 6 * Tile<D>::bytes + 4 * kRows * sizeof(float);
    allow_smem(flash_mma_dkdv_kernel<D>, smem_kv);
    flash_mma_dkdv_kernel<D><<<dim3(tiles_of(nk), static_cast<unsigned>(bh)), kBlock, smem_kv,
                               lat::cuda::stream()>>>(qb, kb, vb, lse, delta, ob, static_cast<bf16*>(dk),
                                                      static_cast<bf16*>(dv), nq, nk, scale, scale * kLog2e);
    LAT_CUDA_CHECK_LAUNCH();
    const size_t smem_q = 6 * Tile<D>::bytes;
    allow_smem(flash_mma_dq_kernel<D>, smem_q);
    flash_mma_dq_kernel<D><<<dim3(tiles_of(nq), static_cast<unsigned>(bh)), kBlock, smem_q, lat::cuda::stream()>>>(
        qb, kb, vb, lse, delta, ob, static_cast<bf16*>(dq), nq, nk, scale, scale * kLog2e);
    LAT_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lat::kernels::cuda
