// Lightning Attention-2 on sm_90, the tensor-core fast path and its segment machinery: see lightning_attention.cuh
// for the scheme (the generic path is lightning_attention_generic.cu).
#include "kernels/cuda/lightning_attention.cuh"

#include <cuda_bf16.h>

#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "core/cuda_context.h"
#include "core/error.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/lightning_attention_state.cuh"
#include "kernels/cuda/lightning_attention_sweep.cuh"
#include "kernels/cuda/lightning_attention_wgmma.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/pointwise.cuh"

namespace lat::kernels::cuda {
namespace {

constexpr int kBlk = 64;       // rows of one tile along N

// λ^x = exp(−s·x), x ≥ 0.
__device__ __forceinline__ float decay_pow(float s, int x) { return expf(-s * static_cast<float>(x)); }

// ---------------------------------------------------------------------------------------------------------------
// The tensor-core tile kernel. Sweep coordinate t̃ ∈ [0, N); global row = reverse ? N−1−t̃ : t̃.
//
// Two modes of one loop over 64-row tiles (kStages-deep cp.async pipeline, fp32 state S' in registers, a bf16
// copy of S' in shared memory, double-buffered so that the state update of tile b and the output of tile b run
// between the same two barriers):
//   kFwd   (tensors q', k', v'):      o' = diag(λ^{r+shift}) q' S'_b + [(q' k'ᵀ) ⊙ M] v'
//   kBwdKV (tensors k, q, dO, v):     dv = diag(λ^{r+1}) k D_b + [(k qᵀ) ⊙ M] dO,
//                                     dk = diag(λ^{r+1}) v D_bᵀ + [(v dOᵀ) ⊙ M] q      (reverse order, shift 1)
// with, in every mode, S' ← λ^{nb} S' + (diag(λ^{nb−r−shift}) k')ᵀ v' (k' = q, v' = dO in kBwdKV: S' = D).
// Per tile: barrier A (tile b landed; everything of tile b−1 done) → issue the load of tile b+kStages−1 →
// phase 1 (intra-tile scores P into shared memory; state update, bf16 copy into the other buffer) → barrier B →
// phase 2 (outputs from P and the state copy of tile b).
enum Mode { kFwd = 0, kBwdKV = 1 };

// The normalised form (SPEC §1) inside the same loop: the augmented column of V (ones) becomes the decayed key sum
// z, an fp32 vector next to S' (docs/perf/la2.md v8; the formula sheet is "the fused kernel's tile recurrences"
// in tests/attention/test_lightning_core.cpp). The backward's sweeps read G = ∂L/∂o as it is (bf16), the forward's
// o (f32) and den; per token t, c̃_t = −(G_t·o_t) (fp32, from the bf16 G the products use) is formed in shared
// memory when the tile lands, so that G·v_c + c̃_t cancels exactly where o is an average of v. Nothing of size N
// is written between the kernels (the exact gradient of num is G' = G/den, of den c = c̃/den).
//   kAugFwd (kFwd on q, k, v):  z ← λ^nb z + Σ_r λ^{nb−r} k_r (an extra 8-column tile of the state product with
//       B = ones), den_r = λ^r q_r·z_b + Σ_c P_rc (fp32 scores) + eps, o = num / den; den goes to memory.
//   kAugDq (kFwd on G, v, k):  P_rc = λ^{r−c} (G_r·v_c + c̃_r) and dq_r += λ^r c̃_r z_b, z = Σ λ^{nb−r} k_r (the
//       sweep's v' rows; an extra 16-row tile of the state product with A = the decay weights); the row is then
//       divided by den_r and projected so that dq_r·q_r = −eps·c_r, which the exact gradient satisfies (o does not
//       change when q_r is scaled): the sweep's cancelling sums leave their bf16 error mostly along q_r.
//   kAugDkv (kBwdKV on k, q̃ = q/den (each row divided as it lands), G, v):  dk's scores get the column bias c̃,
//       dz ← λ^nb dz + Σ_r λ^{nb−r−1} c̃_r q̃_r (B = c̃), and dk_r += λ^{r+1} dz_b.
// States (initial, final) are [d, d + 1] with z (dz) in the last column; a segment starts from its slot's S and z.
enum Aug { kAugNone = 0, kAugFwd = 1, kAugDq = 2, kAugDkv = 3 };

template <int M>
struct ModeTraits;
template <>
struct ModeTraits<kFwd> {
  static constexpr int kTensors = 3, kStages = 2, kScores = 1, kKey = 1, kVal = 2;
};
template <>
struct ModeTraits<kBwdKV> {
  static constexpr int kTensors = 4, kStages = 2, kScores = 2, kKey = 1, kVal = 2;
};

// The tile kernel's parameters: the sweep (operands bf16; results bf16 or f32, the kernel's OutT) and what only
// this kernel reads.
struct TileParams : La2Sweep {
  const float* start_z;   // kAug* with start_mode 3: z entering every slot, [bh][slots][d]
  int reverse;
  int shift;
  const float* fwd_out;   // kAugDq, kAugDkv: the forward's o, f32 [bh][n][d] contiguous
  const float* fwd_den;   // kAugDq, kAugDkv: its den_t + eps, [bh][n] f32
  float* den;             // den_t + eps, [bh][n] f32 (kAugFwd)
  float eps;
  int pos_cos;            // positional maps (F = kCosineFeature): cos (else sin) as the weight
};

constexpr int kPowTable = 80;  // λ^x for x ∈ [0, kBlk + 1]

constexpr int kProjGroups = 4;  // kAugDq: column groups of the output tile whose row sums the projection adds

template <int D, int M, int AUG>
constexpr int tile_smem_bytes() {
  using T = ModeTraits<M>;
  // kAug*: z of two tiles [2][D], c̃ and 1/den of every stage [2][kStages][kBlk], row sums of two column halves
  // [2][kBlk] (f32). kAugDq also keeps the low bf16 half of its scores P [kBlk][kBlk + 8] and the projection's row
  // sums [kProjGroups][kBlk][2] (f32).
  constexpr int aug = (AUG == kAugNone ? 0 : (2 * D + 2 * T::kStages * kBlk + 2 * kBlk) * 4) +
                      (AUG == kAugDq ? kBlk * (kBlk + 8) * 2 + kProjGroups * kBlk * 2 * 4 : 0);
  return T::kStages * T::kTensors * kBlk * (D + 8) * 2 + 2 * D * (D + 8) * 2 +
         T::kScores * kBlk * (kBlk + 8) * 2 + kPowTable * 4 + aug;
}
// Two bf16 lanes of the hi (part 0) or lo (part 1) half of x, y = hi + lo to ~2^-17: a dot product with the
// pair in two columns is fp32-accurate through bf16 tensor cores.
__device__ __forceinline__ uint32_t split_bf16x2(float x, float y, int part) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
  if (part == 0) return *reinterpret_cast<const uint32_t*>(&h);
  const float2 hf = __bfloat1622float2(h);
  return pack_bf16(x - hf.x, y - hf.y);
}

// F: the feature map (La2Feature code) of the operands p.mapped and of the chain rule through p.raw[0] / p.raw[1];
// the identity kernels (F = 0) compile none of it. OutT: the results' type (bf16, or f32 so that partial gradients
// are summed before they are rounded). AUG: the normalised form (Aug above).
template <int D, int NW, int M, int F, class OutT, int AUG>
__global__ void __launch_bounds__(NW * 32, 1) la2_tile_kernel(const TileParams p) {
  using T = ModeTraits<M>;
  constexpr int NT = T::kTensors, ST = T::kStages, THREADS = NW * 32;
  constexpr bool kZRow = AUG == kAugFwd || AUG == kAugDkv;  // z indexed by the state's rows (k' channels)
  constexpr bool kZCol = AUG == kAugDq;                     // z indexed by its columns (v' channels)
  constexpr bool kBias = AUG == kAugDq || AUG == kAugDkv;   // c̃ and 1/den are formed per tile
  constexpr int SLD = AUG == kAugNone ? D : D + 1;          // row stride of the initial and final states
  constexpr int LD = D + 8, LDP = kBlk + 8, TILE = kBlk * LD;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* sT = reinterpret_cast<bf16*>(smem_raw);            // [ST][NT][kBlk][LD]
  bf16* sS = sT + ST * NT * TILE;                           // [2][D][LD]
  bf16* sP = sS + 2 * D * LD;                               // [kScores][kBlk][LDP]
  float* sPow = reinterpret_cast<float*>(sP + T::kScores * kBlk * LDP);
  float* sZ = sPow + kPowTable;  // kAug*: [2][D] z entering tile b in buffer b & 1
  float* sC = sZ + 2 * D;          // [ST][kBlk] c̃ of each stage's rows
  float* sInv = sC + ST * kBlk;    // [ST][kBlk] 1/den of each stage's rows
  float* sRow = sInv + ST * kBlk;  // [2][kBlk] row sums of the fp32 scores, per column half
  bf16* sPlo = reinterpret_cast<bf16*>(sRow + 2 * kBlk);  // kAugDq: P − bf16(P), [kBlk][LDP]
  float* sProj = reinterpret_cast<float*>(sPlo + kBlk * LDP);  // kAugDq: [kProjGroups][kBlk][2] dq·q, q·q

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int64_t bh = blockIdx.y;
  const int seg = blockIdx.x;
  const float s = p.log_decay[bh % p.heads];
  const int64_t n = p.n;
  const int64_t tb = static_cast<int64_t>(seg) * p.seg_blocks * kBlk;
  const int64_t te = min(n, tb + static_cast<int64_t>(p.seg_blocks) * kBlk);
  const int nblk = te > tb ? static_cast<int>((te - tb + kBlk - 1) / kBlk) : 0;
  const int shift = p.shift;
  for (int i = tid; i < kPowTable; i += THREADS) sPow[i] = decay_pow(s, i);

  auto tile = [&](int stage, int which) { return sT + (stage * NT + which) * TILE; };
  const bf16* src[NT];
#pragma unroll
  for (int w = 0; w < NT; ++w) src[w] = head_rows(p.in[w], bh, p.heads);
  // Each thread loads the 16-byte chunk at column c0 of rows r0, r0 + RSTEP, ... of every operand's tile.
  constexpr int CH = D / 8, RSTEP = THREADS / CH, RPT = kBlk / RSTEP;
  static_assert(THREADS % CH == 0 && kBlk % RSTEP == 0, "tile loads: whole rows per pass");
  const int r0 = tid / CH, c0 = (tid % CH) * 8;
  // kAugDq, kAugDkv: the forward's o at this thread's chunks of the next tile and den of their rows, loaded into
  // registers with the tile (one tile in flight: kStages = 2) and used when it lands (aug_tile below).
  static_assert(!kBias || ST == 2, "the o and den prefetch holds one tile");
  float o_next[kBias ? RPT : 1][8];
  float den_next[kBias ? RPT : 1];
  auto load_tile = [&](int blk, int stage) {
    const int64_t t0 = tb + static_cast<int64_t>(blk) * kBlk + r0;  // sweep coordinate of this thread's first row
    const int64_t row0 = p.reverse ? n - 1 - t0 : t0;
#pragma unroll
    for (int w = 0; w < NT; ++w) {
      const int64_t step = (p.reverse ? -RSTEP : RSTEP) * p.in[w].token_stride;
      const bf16* g = src[w] + row0 * p.in[w].token_stride + c0;
#pragma unroll
      for (int i = 0; i < RPT; ++i) {
        const bool ok = t0 + i * RSTEP < te;
        cp_async16(tile(stage, w) + (r0 + i * RSTEP) * LD + c0, ok ? g + i * step : src[w], ok);
      }
    }
    if constexpr (kBias) {
#pragma unroll
      for (int i = 0; i < RPT; ++i) {
        const int64_t t = t0 + i * RSTEP, row = p.reverse ? n - 1 - t : t;
        float4 lo = make_float4(0.f, 0.f, 0.f, 0.f), hi = lo;
        den_next[i] = 1.f;  // padding rows: G is zero there
        if (t < te) {
          const float4* o = reinterpret_cast<const float4*>(p.fwd_out + (bh * n + row) * D + c0);
          lo = o[0];
          hi = o[1];
          den_next[i] = p.fwd_den[bh * n + row];
        }
        o_next[i][0] = lo.x, o_next[i][1] = lo.y, o_next[i][2] = lo.z, o_next[i][3] = lo.w;
        o_next[i][4] = hi.x, o_next[i][5] = hi.y, o_next[i][6] = hi.z, o_next[i][7] = hi.w;
      }
    }
  };
  // kAugDq, kAugDkv, once the tile has landed (each thread its own chunks): c̃_r = −(G_r·o_r) over the CH threads
  // of row r, and 1/den_r, into shared memory for the next barrier to publish; kAugDkv divides its q rows by den.
  auto aug_tile = [&](int stage) {
    constexpr int kGrad = M == kFwd ? 0 : 2;
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
      const int r = r0 + i * RSTEP;
      const uint4 gx = *reinterpret_cast<const uint4*>(tile(stage, kGrad) + r * LD + c0);
      const uint32_t* gh = reinterpret_cast<const uint32_t*>(&gx);
      float dot = 0.f;
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float2 gf = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&gh[u]));
        dot += gf.x * o_next[i][2 * u] + gf.y * o_next[i][2 * u + 1];
      }
#pragma unroll
      for (int off = CH / 2; off > 0; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
      const float inv = 1.f / den_next[i];
      if constexpr (M == kBwdKV) {
        uint4* chunk = reinterpret_cast<uint4*>(tile(stage, 1) + r * LD + c0);
        uint4 x = *chunk;
        uint32_t* h = reinterpret_cast<uint32_t*>(&x);
#pragma unroll
        for (int u = 0; u < 4; ++u) h[u] = scale_bf16x2(h[u], inv, inv);
        *chunk = x;
      }
      if (tid % CH == 0) {
        sC[stage * kBlk + r] = -dot;
        sInv[stage * kBlk + r] = inv;
      }
    }
  };
  // The feature maps, applied by every thread to the 16-byte chunks it loaded itself (visible to it once its
  // cp.async group has completed; the next barrier publishes them). Padding rows stay zero.
  // Positional maps weigh a row by the weight of its global row's position.
  auto pos_weight = [&](int64_t row) {
    if constexpr (positional_feature(F)) return cosformer_weight(p.pos_offset + row, p.pos_scale, p.pos_cos);
    else return 1.0f;
  };
  auto map_tile = [&](int blk, int stage) {
    const int64_t t0 = tb + static_cast<int64_t>(blk) * kBlk + r0;
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
      const int64_t t = t0 + i * RSTEP;
      if (t >= te) continue;
      const float wt = pos_weight(p.reverse ? n - 1 - t : t);
#pragma unroll
      for (int w = 0; w < NT; ++w) {
        if (!p.mapped[w]) continue;
        uint4* chunk = reinterpret_cast<uint4*>(tile(stage, w) + (r0 + i * RSTEP) * LD + c0);
        uint4 x = *chunk;
        uint32_t* h = reinterpret_cast<uint32_t*>(&x);
#pragma unroll
        for (int u = 0; u < 4; ++u) h[u] = feature_map_bf16x2<F>(h[u], wt, wt);
        *chunk = x;
      }
    }
  };

  // State fragment of this warp: rows srow0..+SR (SMT 16-row tiles), cols scol0..+SCOLS of S'. Warps form a
  // 4 × 2 grid over the D × D state (32 × 64 each at D = 128): per 16-token step a warp loads 2 A and 4 B
  // ldmatrix.x4 fragments (a 8 × 1 grid of 16 × 128 strips needs 1 + 8).
  constexpr int SWR = (D / 16) >= 4 ? 4 : D / 16;
  constexpr int SR = D / SWR, SMT = SR / 16;
  constexpr int SWC = NW / SWR;
  constexpr int SCOLS = D / SWC;
  constexpr int SNT = SCOLS / 8;
  static_assert(SNT % 2 == 0, "state fragment: even number of 8-column tiles");
  const int srow0 = (warp % SWR) * SR, scol0 = (warp / SWR) * SCOLS;
  float st[SMT][SNT][4];
#pragma unroll
  for (int mt = 0; mt < SMT; ++mt)
#pragma unroll
    for (int nt = 0; nt < SNT; ++nt)
#pragma unroll
      for (int h = 0; h < 4; ++h) {
        const int i = srow0 + mt * 16 + g + (h >= 2 ? 8 : 0), j = scol0 + nt * 8 + 2 * t4 + (h & 1);
        float x = 0.f;
        if (p.start_mode == 1) x = p.start[bh * D * SLD + i * SLD + j];
        else if (p.start_mode == 2) x = p.start[bh * D * SLD + j * SLD + i];
        else if (p.start_mode >= 3) {
          const float* slot = p.start + (bh * p.start_slots + static_cast<int64_t>(seg) * p.start_step) * D * D;
          x = p.start_mode == 3 ? slot[i * D + j] : slot[j * D + i];
        }
        st[mt][nt][h] = x;
      }
  auto store_state_bf16 = [&](bf16* dst) {
#pragma unroll
    for (int mt = 0; mt < SMT; ++mt)
#pragma unroll
      for (int nt = 0; nt < SNT; ++nt) {
        const int i = srow0 + mt * 16 + g, j = scol0 + nt * 8 + 2 * t4;
        *reinterpret_cast<uint32_t*>(dst + i * LD + j) = pack_bf16(st[mt][nt][0], st[mt][nt][1]);
        *reinterpret_cast<uint32_t*>(dst + (i + 8) * LD + j) = pack_bf16(st[mt][nt][2], st[mt][nt][3]);
      }
  };
  store_state_bf16(sS);

  // kAug*: z (the last column of the initial state, indexed by i) in fp32 accumulators. kZRow: an extra 8-column
  // tile of the state product in the warps of the first column block (column 0, lanes t4 = 0: rows g, g + 8).
  // kZCol: an extra 16-row tile (row 0, lanes g = 0), its ZNT 8-column tiles split between the warps of a column
  // block by their row block zi.
  constexpr int ZNT = SNT / SWR;
  static_assert(SNT % SWR == 0, "z columns: whole 8-column tiles per warp");
  const int zi = warp % SWR;
  const bool zrow_warp = kZRow && warp / SWR == 0;
  auto z_init = [&](int i) -> float {
    if (p.start == nullptr || p.start_mode == 0) return 0.f;
    if (p.start_mode >= 3) return p.start_z[(bh * p.start_slots + static_cast<int64_t>(seg) * p.start_step) * D + i];
    return p.start[bh * D * SLD + i * SLD + D];
  };
  float zr[kZRow ? SMT : 1][4] = {};
  float zc[kZCol ? ZNT : 1][4] = {};
  if constexpr (kZRow) {
    if (zrow_warp && t4 == 0)
#pragma unroll
      for (int mt = 0; mt < SMT; ++mt) {
        zr[mt][0] = z_init(srow0 + mt * 16 + g);
        zr[mt][2] = z_init(srow0 + mt * 16 + g + 8);
      }
  }
  if constexpr (kZCol) {
    if (g == 0)
#pragma unroll
      for (int u = 0; u < ZNT; ++u) {
        const int col = scol0 + (zi * ZNT + u) * 8 + 2 * t4;
        zc[u][0] = z_init(col);
        zc[u][1] = z_init(col + 1);
      }
  }
  auto store_z = [&](float* dst) {
    if constexpr (kZRow) {
      if (zrow_warp && t4 == 0)
#pragma unroll
        for (int mt = 0; mt < SMT; ++mt) {
          dst[srow0 + mt * 16 + g] = zr[mt][0];
          dst[srow0 + mt * 16 + g + 8] = zr[mt][2];
        }
    }
    if constexpr (kZCol) {
      if (g == 0)
#pragma unroll
        for (int u = 0; u < ZNT; ++u) {
          const int col = scol0 + (zi * ZNT + u) * 8 + 2 * t4;
          dst[col] = zc[u][0];
          dst[col + 1] = zc[u][1];
        }
    }
  };
  if constexpr (AUG != kAugNone) store_z(sZ);

  // Scores P = (A Bᵀ) ⊙ M of one tile: warp (rt, ch) owns rows rt·16.., cols ch·PC..
  constexpr int PC = kBlk / (NW / 4), PNT = PC / 8;
  static_assert(PNT % 2 == 0, "score tile: even number of 8-column tiles");
  const int rt = warp & 3, ch = warp >> 2;
  // bias (kAug*): 1 adds cv[r] to row r, 2 adds cv[c] to column c, before the decay; rowsum (non-null) receives
  // the sums of each row's masked scores as rounded to bf16, [2][kBlk] by column half; dstLo (non-null) the low
  // bf16 halves.
  auto scores = [&](const bf16* A, const bf16* B, bf16* dstP, int bias, const float* cv, float* rowsum,
                    bf16* dstLo) {
    float acc[PNT][4];
#pragma unroll
    for (int a = 0; a < PNT; ++a)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[a][c] = 0.f;
    if (ch * PC <= rt * 16 + 15) {
#pragma unroll
      for (int k0 = 0; k0 < D; k0 += 16) {
        uint32_t a[4];
        ldsm_x4(a, A + (rt * 16 + (lane & 15)) * LD + k0 + (lane >> 4) * 8);
#pragma unroll
        for (int np = 0; np < PNT / 2; ++np) {
          uint32_t bb[4];
          ldsm_x4(bb, B + (ch * PC + np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD + k0 + ((lane >> 3) & 1) * 8);
          mma16816(acc[2 * np], a, bb[0], bb[1]);
          mma16816(acc[2 * np + 1], a, bb[2], bb[3]);
        }
      }
    }
    float rs[2] = {0.f, 0.f};
#pragma unroll
    for (int nt = 0; nt < PNT; ++nt)
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int r = rt * 16 + g + hh * 8, c = ch * PC + nt * 8 + 2 * t4;
        float a0 = acc[nt][2 * hh], a1 = acc[nt][2 * hh + 1];
        if (bias == 1) {
          a0 += cv[r];
          a1 += cv[r];
        } else if (bias == 2) {
          a0 += cv[c];
          a1 += cv[c + 1];
        }
        const float v0 = r >= c ? sPow[r - c] * a0 : 0.f;
        const float v1 = r >= c + 1 ? sPow[r - c - 1] * a1 : 0.f;
        const uint32_t hi = pack_bf16(v0, v1);
        const float2 h = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&hi));
        rs[hh] += h.x + h.y;  // the rounded weights that P·V uses: o stays a weighted average of v
        *reinterpret_cast<uint32_t*>(dstP + r * LDP + c) = hi;
        if (dstLo != nullptr) *reinterpret_cast<uint32_t*>(dstLo + r * LDP + c) = pack_bf16(v0 - h.x, v1 - h.y);
      }
    if (rowsum != nullptr)
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        float x = rs[hh];
        x += __shfl_xor_sync(0xffffffffu, x, 1);
        x += __shfl_xor_sync(0xffffffffu, x, 2);
        if (t4 == 0) rowsum[ch * kBlk + rt * 16 + g + hh * 8] = x;
      }
  };

  // Output rows orow0..+32 (two 16-row tiles), cols oc0..+OC: diag(λ^{r+shift}) A S (or A Sᵀ) + P Vt, stored
  // to global rows. Warps form a 2 × 4 grid over the 64 × D output (32 × 32 each at D = 128).
  constexpr int OMT = 2, OWR = kBlk / (16 * OMT), OWC = NW / OWR;
  constexpr int OC = D / OWC, ONT = OC / 8;
  static_assert(ONT % 2 == 0, "output tile: even number of 8-column tiles");
  const int orow0 = (warp % OWR) * 16 * OMT, oc0 = (warp / OWR) * OC;
  // Result rows of this (batch, head).
  OutT* const out_base[2] = {p.out[0].data ? head_rows<OutT>(p.out[0], bh, p.heads) : nullptr,
                             p.out[1].data ? head_rows<OutT>(p.out[1], bh, p.heads) : nullptr};
  const int64_t out_st[2] = {p.out[0].token_stride, p.out[1].token_stride};
  // With a feature map, the chain rule scales one result (kFwd: out0 = dq; kBwdKV: out1 = dk) by F'(raw) at the
  // raw operand's values for this thread's output positions, fetched at the start of the tile (registers);
  // kAugDq's projection reads q there the same way.
  constexpr int CHAIN = M == kBwdKV ? 1 : 0;
  constexpr bool kRaw = F != 0 || AUG == kAugDq;
  const La2View& raw = p.raw[CHAIN];
  const bf16* const raw_base = kRaw && raw.data ? head_rows(raw, bh, p.heads) : nullptr;
  // This thread's output positions of tile t0 (rows orow0 + mt·16 + g + hh·8, column pairs oc0 + nt·8 + 2·t4) of a
  // result-shaped tensor (token stride st), read into registers as two-element units U (zero past the end).
  auto fetch_outputs = [&](auto& dst, const auto* base, int64_t st, int64_t t0) {
    using U = std::remove_reference_t<decltype(dst[0][0][0])>;
#pragma unroll
    for (int mt = 0; mt < OMT; ++mt)
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int64_t t = t0 + orow0 + mt * 16 + g + hh * 8;
        const int64_t row = p.reverse ? n - 1 - t : t;
#pragma unroll
        for (int nt = 0; nt < ONT; ++nt)
          dst[mt][hh][nt] = t < te ? *reinterpret_cast<const U*>(base + row * st + oc0 + nt * 8 + 2 * t4) : U{};
      }
  };
  uint32_t chain_raw[OMT][2][ONT];
  // kAug*: cv = c̃ of this tile's rows, iv = their 1/den, zb = z entering it (fp32, shared memory).
  auto output = [&](const bf16* A, const bf16* S, bool transposed, const bf16* P, const bf16* Vt, int which,
                    int64_t t0, const float* cv, const float* iv, const float* zb) {
    OutT* go = out_base[which];
    const int64_t ost = out_st[which];
    // cosFormer's second core adds to the first core's results (p.accumulate): their values are loaded here, so
    // that the loads' latency hides behind the products below.
    using Prev = std::conditional_t<sizeof(OutT) == 4, float2, uint32_t>;
    Prev prev[OMT][2][ONT];
    if constexpr (positional_feature(F))
      if (p.accumulate) fetch_outputs(prev, go, ost, t0);
    float oacc[OMT][ONT][4];
    float dacc[OMT][4] = {};  // kAugFwd: q·z in columns 0 (z's hi part) and 1 (lo part)
#pragma unroll
    for (int mt = 0; mt < OMT; ++mt)
#pragma unroll
      for (int a = 0; a < ONT; ++a)
#pragma unroll
        for (int c = 0; c < 4; ++c) oacc[mt][a][c] = 0.f;
#pragma unroll
    for (int k0 = 0; k0 < D; k0 += 16) {
      uint32_t a[OMT][4];
#pragma unroll
      for (int mt = 0; mt < OMT; ++mt)
        ldsm_x4(a[mt], A + (orow0 + mt * 16 + (lane & 15)) * LD + k0 + (lane >> 4) * 8);
      if constexpr (AUG == kAugFwd) {
        uint32_t b0 = 0u, b1 = 0u;
        if (g < 2) {
          const int kk = k0 + 2 * t4;
          b0 = split_bf16x2(zb[kk], zb[kk + 1], g);
          b1 = split_bf16x2(zb[kk + 8], zb[kk + 9], g);
        }
#pragma unroll
        for (int mt = 0; mt < OMT; ++mt) mma16816(dacc[mt], a[mt], b0, b1);
      }
#pragma unroll
      for (int np = 0; np < ONT / 2; ++np) {
        uint32_t bb[4];
        if (transposed)
          ldsm_x4(bb, S + (oc0 + np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD + k0 + ((lane >> 3) & 1) * 8);
        else
          ldsm_x4_t(bb, S + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + oc0 + np * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int mt = 0; mt < OMT; ++mt) {
          mma16816(oacc[mt][2 * np], a[mt], bb[0], bb[1]);
          mma16816(oacc[mt][2 * np + 1], a[mt], bb[2], bb[3]);
        }
      }
    }
#pragma unroll
    for (int mt = 0; mt < OMT; ++mt) {
      const int r0 = orow0 + mt * 16 + g;
      const float w0 = sPow[r0 + shift], w1 = sPow[r0 + 8 + shift];
#pragma unroll
      for (int nt = 0; nt < ONT; ++nt) {
        oacc[mt][nt][0] *= w0;
        oacc[mt][nt][1] *= w0;
        oacc[mt][nt][2] *= w1;
        oacc[mt][nt][3] *= w1;
      }
      // dq += λ^r c̃_r z_b (kAugDq), dk += λ^{r+1} dz_b (kAugDkv).
      if ((AUG == kAugDq && which == 0) || (AUG == kAugDkv && which == 1)) {
        const float f0 = AUG == kAugDq ? w0 * cv[r0] : w0, f1 = AUG == kAugDq ? w1 * cv[r0 + 8] : w1;
#pragma unroll
        for (int nt = 0; nt < ONT; ++nt) {
          const float2 z = *reinterpret_cast<const float2*>(zb + oc0 + nt * 8 + 2 * t4);
          oacc[mt][nt][0] += f0 * z.x;
          oacc[mt][nt][1] += f0 * z.y;
          oacc[mt][nt][2] += f1 * z.x;
          oacc[mt][nt][3] += f1 * z.y;
        }
      }
    }
#pragma unroll
    for (int k0 = 0; k0 < kBlk; k0 += 16) {
      if (k0 <= orow0 + 16 * (OMT - 1)) {
        uint32_t bb[ONT / 2][4];
#pragma unroll
        for (int np = 0; np < ONT / 2; ++np)
          ldsm_x4_t(bb[np], Vt + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + oc0 + np * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int mt = 0; mt < OMT; ++mt) {
          if (k0 <= orow0 + mt * 16) {
            uint32_t a[4];
            ldsm_x4(a, P + (orow0 + mt * 16 + (lane & 15)) * LDP + k0 + (lane >> 4) * 8);
#pragma unroll
            for (int np = 0; np < ONT / 2; ++np) {
              mma16816(oacc[mt][2 * np], a, bb[np][0], bb[np][1]);
              mma16816(oacc[mt][2 * np + 1], a, bb[np][2], bb[np][3]);
            }
            if constexpr (AUG == kAugDq) {  // P's low half: the cancelling sum Σ P k is taken to ~2^-17
              ldsm_x4(a, sPlo + (orow0 + mt * 16 + (lane & 15)) * LDP + k0 + (lane >> 4) * 8);
#pragma unroll
              for (int np = 0; np < ONT / 2; ++np) {
                mma16816(oacc[mt][2 * np], a, bb[np][0], bb[np][1]);
                mma16816(oacc[mt][2 * np + 1], a, bb[np][2], bb[np][3]);
              }
            }
          }
        }
      }
    }
    // kAugDq: dq_r = (the sums above) / den_r, then dq_r −= f q_r with f = (dq_r·q_r + eps·c_r) / (q_r·q_r),
    // c_r = c̃_r / den_r; the row sums of the OWC column groups meet in shared memory.
    if constexpr (AUG == kAugDq) {
      static_assert(OWC <= kProjGroups, "projection row sums: one slot per column group");
      float part[OMT][2][2];
#pragma unroll
      for (int mt = 0; mt < OMT; ++mt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const float inv = iv[orow0 + mt * 16 + g + hh * 8];
          float gq = 0.f, qq = 0.f;
#pragma unroll
          for (int nt = 0; nt < ONT; ++nt) {
            const float2 x = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&chain_raw[mt][hh][nt]));
            float& y0 = oacc[mt][nt][2 * hh];
            float& y1 = oacc[mt][nt][2 * hh + 1];
            y0 *= inv;
            y1 *= inv;
            gq += y0 * x.x + y1 * x.y;
            qq += x.x * x.x + x.y * x.y;
          }
          part[mt][hh][0] = gq;
          part[mt][hh][1] = qq;
        }
#pragma unroll
      for (int mt = 0; mt < OMT; ++mt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh)
#pragma unroll
          for (int u = 0; u < 2; ++u) {
            float x = part[mt][hh][u];
            x += __shfl_xor_sync(0xffffffffu, x, 1);
            x += __shfl_xor_sync(0xffffffffu, x, 2);
            if (t4 == 0) sProj[((warp / OWR) * kBlk + orow0 + mt * 16 + g + hh * 8) * 2 + u] = x;
          }
      __syncthreads();  // every thread runs output() once per tile in kFwd
#pragma unroll
      for (int mt = 0; mt < OMT; ++mt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int r = orow0 + mt * 16 + g + hh * 8;
          float gq = 0.f, qq = 0.f;
#pragma unroll
          for (int w = 0; w < OWC; ++w) {
            gq += sProj[(w * kBlk + r) * 2];
            qq += sProj[(w * kBlk + r) * 2 + 1];
          }
          const float f = qq > 0.f ? (gq + p.eps * cv[r] * iv[r]) / qq : 0.f;
#pragma unroll
          for (int nt = 0; nt < ONT; ++nt) {
            const float2 x = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&chain_raw[mt][hh][nt]));
            oacc[mt][nt][2 * hh] -= f * x.x;
            oacc[mt][nt][2 * hh + 1] -= f * x.y;
          }
        }
    }
    // kAugFwd: den_r = λ^r q_r·z_b + Σ_c P_rc + eps (the q·z of row g sits in lane 4g: broadcast to the quad);
    // the output is num / den.
    float den[OMT][2] = {};
    if constexpr (AUG == kAugFwd) {
#pragma unroll
      for (int mt = 0; mt < OMT; ++mt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int r = orow0 + mt * 16 + g + hh * 8;
          const float qz = __shfl_sync(0xffffffffu, dacc[mt][2 * hh] + dacc[mt][2 * hh + 1], lane & ~3);
          den[mt][hh] = sPow[r + shift] * qz + sRow[r] + sRow[kBlk + r] + p.eps;
          const float inv = 1.f / den[mt][hh];
#pragma unroll
          for (int nt = 0; nt < ONT; ++nt) {
            oacc[mt][nt][2 * hh] *= inv;
            oacc[mt][nt][2 * hh + 1] *= inv;
          }
        }
    }
#pragma unroll
    for (int mt = 0; mt < OMT; ++mt)
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int r = orow0 + mt * 16 + g + hh * 8;
        const int64_t t = t0 + r;
        if (t < te) {
          const int64_t row = p.reverse ? n - 1 - t : t;
          if (AUG == kAugFwd && oc0 == 0 && t4 == 0) p.den[bh * n + row] = den[mt][hh];
          const bool chain = F != 0 && which == CHAIN && raw_base != nullptr;
          const float wt = chain ? pos_weight(row) : 1.0f;
#pragma unroll
          for (int nt = 0; nt < ONT; ++nt) {
            const int c = oc0 + nt * 8 + 2 * t4;
            float y0 = oacc[mt][nt][2 * hh], y1 = oacc[mt][nt][2 * hh + 1];
            if (chain) {  // chain rule through the feature map (times the positional weight of a positional map)
              const float2 x = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&chain_raw[mt][hh][nt]));
              y0 *= feature_map_grad<F>(x.x) * wt;
              y1 *= feature_map_grad<F>(x.y) * wt;
            }
            OutT* dst = go + row * ost + c;
            if constexpr (sizeof(OutT) == 4) {
              if (positional_feature(F) && p.accumulate) {
                const float2 before = prev[mt][hh][nt];
                y0 += before.x;
                y1 += before.y;
              }
              *reinterpret_cast<float2*>(dst) = make_float2(y0, y1);
            } else {
              if (positional_feature(F) && p.accumulate) {
                const float2 before = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&prev[mt][hh][nt]));
                y0 += before.x;
                y1 += before.y;
              }
              *reinterpret_cast<uint32_t*>(dst) = pack_bf16(y0, y1);
            }
          }
        }
      }
  };

#pragma unroll
  for (int i = 0; i < ST - 1; ++i) {
    if (i < nblk) load_tile(i, i);
    cp_async_commit();
  }
  for (int b = 0; b < nblk; ++b) {
    cp_async_wait<ST - 2>();
    if constexpr (F != 0) map_tile(b, b % ST);
    if constexpr (kBias) aug_tile(b % ST);
    __syncthreads();  // A
    {
      const int nxt = b + ST - 1;
      if (nxt < nblk) load_tile(nxt, nxt % ST);
      cp_async_commit();
    }
    const int stg = b % ST;
    const int64_t t0 = tb + static_cast<int64_t>(b) * kBlk;
    const int nb = static_cast<int>(te - t0 < kBlk ? te - t0 : kBlk);
    if constexpr (kRaw)
      if (raw_base != nullptr)  // consumed at the end of phase 2
        fetch_outputs(chain_raw, raw_base, raw.token_stride, t0);

    // Phase 1: scores.
    const float* cv = sC + stg * kBlk;
    const float* iv = sInv + stg * kBlk;
    if constexpr (M == kFwd)
      scores(tile(stg, 0), tile(stg, 1), sP, AUG == kAugDq ? 1 : 0, cv, AUG == kAugFwd ? sRow : nullptr,
             AUG == kAugDq ? sPlo : nullptr);
    if constexpr (M == kBwdKV) {
      scores(tile(stg, 0), tile(stg, 1), sP, 0, cv, nullptr, nullptr);                                   // (k qᵀ) ⊙ M
      scores(tile(stg, 3), tile(stg, 2), sP + kBlk * LDP, AUG == kAugDkv ? 2 : 0, cv, nullptr, nullptr);  // (v dOᵀ) ⊙ M
    }
    // Phase 1: S' ← λ^nb S' + (diag(λ^{nb−r−shift}) K')ᵀ V'.
    {
      const bf16* cK = tile(stg, T::kKey);
      const bf16* cV = tile(stg, T::kVal);
      const float carry = sPow[nb];
#pragma unroll
      for (int mt = 0; mt < SMT; ++mt)
#pragma unroll
        for (int nt = 0; nt < SNT; ++nt)
#pragma unroll
          for (int h = 0; h < 4; ++h) st[mt][nt][h] *= carry;
#pragma unroll
      for (int h = 0; h < 4; ++h) {
#pragma unroll
        for (int mt = 0; mt < (kZRow ? SMT : 1); ++mt) zr[mt][h] *= carry;
#pragma unroll
        for (int u = 0; u < (kZCol ? ZNT : 1); ++u) zc[u][h] *= carry;
      }
#pragma unroll
      for (int k0 = 0; k0 < kBlk; k0 += 16) {
        if (k0 < nb) {
          const int r = k0 + 2 * t4;
          auto w = [&](int rr) { return rr < nb ? sPow[nb - rr - shift] : 0.f; };
          const float wa = w(r), wb = w(r + 1), wc = w(r + 8), wd = w(r + 9);
          uint32_t a[SMT][4];
#pragma unroll
          for (int mt = 0; mt < SMT; ++mt) {
            ldsm_x4_t(a[mt], cK + (k0 + (lane & 7) + (lane >> 4) * 8) * LD + srow0 + mt * 16 + ((lane >> 3) & 1) * 8);
            a[mt][0] = scale_bf16x2(a[mt][0], wa, wb);
            a[mt][1] = scale_bf16x2(a[mt][1], wa, wb);
            a[mt][2] = scale_bf16x2(a[mt][2], wc, wd);
            a[mt][3] = scale_bf16x2(a[mt][3], wc, wd);
          }
          if constexpr (kZRow) {  // z += (W K')ᵀ x with x = 1 (kAugFwd) or c (kAugDkv) in column 0
            if (zrow_warp) {
              uint32_t b0 = 0u, b1 = 0u;
              if (g == 0) {
                if constexpr (AUG == kAugFwd) {
                  b0 = b1 = 0x3F803F80u;  // bf16 1.0, 1.0
                } else {
                  b0 = pack_bf16(cv[r], cv[r + 1]);
                  b1 = pack_bf16(cv[r + 8], cv[r + 9]);
                }
              }
#pragma unroll
              for (int mt = 0; mt < SMT; ++mt) mma16816(zr[mt], a[mt], b0, b1);
            }
          }
          // kZCol: z += wᵀ V' (row 0 of the A tile holds the decay weights of the tile's rows).
          const uint32_t aw[4] = {kZCol && g == 0 ? pack_bf16(wa, wb) : 0u, 0u, kZCol && g == 0 ? pack_bf16(wc, wd) : 0u,
                                  0u};
#pragma unroll
          for (int np = 0; np < SNT / 2; ++np) {
            uint32_t bb[4];
            ldsm_x4_t(bb, cV + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + scol0 + np * 16 + (lane >> 4) * 8);
#pragma unroll
            for (int mt = 0; mt < SMT; ++mt) {
              mma16816(st[mt][2 * np], a[mt], bb[0], bb[1]);
              mma16816(st[mt][2 * np + 1], a[mt], bb[2], bb[3]);
            }
            if constexpr (kZCol) {
#pragma unroll
              for (int u = 0; u < 2; ++u)
                if ((2 * np + u) / ZNT == zi) mma16816(zc[(2 * np + u) % ZNT], aw, bb[2 * u], bb[2 * u + 1]);
            }
          }
        }
      }
      store_state_bf16(sS + ((b + 1) & 1) * D * LD);
      if constexpr (AUG != kAugNone) store_z(sZ + ((b + 1) & 1) * D);
    }
    __syncthreads();  // B
    // Phase 2: outputs from P and the state copy entering tile b.
    const bf16* cS = sS + (b & 1) * D * LD;
    const float* zb = sZ + (b & 1) * D;
    if constexpr (M == kFwd) output(tile(stg, 0), cS, false, sP, tile(stg, 2), 0, t0, cv, iv, zb);
    if constexpr (M == kBwdKV) {
      output(tile(stg, 0), cS, false, sP, tile(stg, 2), 0, t0, cv, iv, zb);              // dv
      output(tile(stg, 3), cS, true, sP + kBlk * LDP, tile(stg, 1), 1, t0, cv, iv, zb);  // dk
    }
  }
  cp_async_wait<0>();

  float* dst = nullptr;
  if (p.final_state != nullptr && seg == p.nseg - 1) dst = p.final_state + bh * D * SLD;
  if (dst != nullptr) {
#pragma unroll
    for (int mt = 0; mt < SMT; ++mt)
#pragma unroll
      for (int nt = 0; nt < SNT; ++nt) {
        const int i = srow0 + mt * 16 + g, j = scol0 + nt * 8 + 2 * t4;
        dst[i * SLD + j] = st[mt][nt][0];
        dst[i * SLD + j + 1] = st[mt][nt][1];
        dst[(i + 8) * SLD + j] = st[mt][nt][2];
        dst[(i + 8) * SLD + j + 1] = st[mt][nt][3];
      }
    if constexpr (kZRow) {
      if (zrow_warp && t4 == 0)
#pragma unroll
        for (int mt = 0; mt < SMT; ++mt) {
          dst[(srow0 + mt * 16 + g) * SLD + D] = zr[mt][0];
          dst[(srow0 + mt * 16 + g + 8) * SLD + D] = zr[mt][2];
        }
    }
  }
}

// Entering states of every slot: ws[bh][slot] holds the local state L_slot (rows × cols floats) on entry (slots
// 0..nslots−2, each seg_len tokens long), the state entering the slot on exit (all nslots). The initial state
// (nullable) is read at init[bh·init_bh + i·init_ld + j] (j·init_ld + i when transposed). Loads are batched ahead
// of the dependent recurrence.
__global__ void la2_prefix_kernel(float* ws, int rows, int cols, const float* init, int64_t init_bh, int init_ld,
                                  int init_transposed, int nslots, int seg_len, const float* log_decay, int heads) {
  const int64_t bh = blockIdx.y;
  const int elems = rows * cols;
  const int el = blockIdx.x * blockDim.x + threadIdx.x;
  if (el >= elems) return;
  const int i = el / cols, j = el % cols;
  float S = init ? init[bh * init_bh + (init_transposed ? j * init_ld + i : i * init_ld + j)] : 0.f;
  const float carry = decay_pow(log_decay[bh % heads], seg_len);
  float* base = ws + bh * static_cast<int64_t>(nslots) * elems + el;
  for (int s0 = 0; s0 < nslots; s0 += 8) {
    float L[8];
#pragma unroll
    for (int u = 0; u < 8; ++u) L[u] = s0 + u < nslots - 1 ? base[static_cast<int64_t>(s0 + u) * elems] : 0.f;
#pragma unroll
    for (int u = 0; u < 8; ++u)
      if (s0 + u < nslots) {
        base[static_cast<int64_t>(s0 + u) * elems] = S;
        S = carry * S + L[u];
      }
  }
}

// The normalised form's key sums of slots 0..gridDim.x−1 (each slot_len tokens, a multiple of 64, in sweep order):
// z[bh][slot][j] = Σ_r λ^{slot_len − r − shift} w_r x_r[j] in fp32, with w_r = 1, or (the dK/dV sweep's dz, when
// w.grad is set) w_r = c_r = −(G_r·o_r) / den_r from the backward's G and the forward's o and den. Each slot is cut
// into kKeySumSplit pieces, one CTA each (enough loads in flight to stream x): part[bh][slot][piece][j] holds the
// piece's sum weighted relative to the piece's end; la2_key_sum_combine_kernel adds the pieces. 8 warps, one row
// at a time each (lanes own D/32 channels; a row's c is a warp sum), each warp running its rows' recurrence with
// step λ^8; then the warps are summed in shared memory. Pieces wholly before the slot's decay window write zeros
// without reading x.
constexpr int kKeySumSplit = 8;
struct KeySumWeights {
  La2View grad{};              // G (bf16), or data null: w = 1
  const float* out = nullptr;  // o, f32 [bh][n][D] contiguous
  const float* den = nullptr;  // den + eps, [bh][n]
};
template <int D>
__global__ void __launch_bounds__(256) la2_key_sum_kernel(La2View x, KeySumWeights w, const float* log_decay,
                                                          int heads, int64_t n, int slot_len, int reverse, int shift,
                                                          int window_bits, float* part_out) {
  constexpr int kGroups = 8, VPL = D / 32;  // warps; channels per lane (2 or 4)
  static_assert(VPL == 2 || VPL == 4, "key sums: d ∈ {64, 128}");
  __shared__ float part[kGroups * D];
  const int64_t bh = blockIdx.y;
  const int slot = blockIdx.x, piece = blockIdx.z, tid = threadIdx.x, grp = tid / 32, lane = tid % 32;
  const int piece_len = slot_len / kKeySumSplit;
  const float s = log_decay[bh % heads];
  float* dst = part_out + ((bh * gridDim.x + slot) * kKeySumSplit + piece) * D;
  // A piece wholly before the slot's decay window (lightning_attention_state.cuh) adds nothing.
  if (static_cast<double>((kKeySumSplit - 1 - piece) * piece_len) >= la2_decay_window(s, window_bits)) {
    if (tid < D) dst[tid] = 0.f;
    return;
  }
  const float step = decay_pow(s, kGroups);
  const int c0 = lane * VPL;
  const bf16* xb = head_rows(x, bh, heads) + c0;
  const bool weighted = w.grad.data != nullptr;
  const bf16* gb = weighted ? head_rows(w.grad, bh, heads) + c0 : nullptr;
  const int64_t t0 = static_cast<int64_t>(slot) * slot_len + static_cast<int64_t>(piece) * piece_len;
  // VPL bf16 of a row as floats.
  auto load = [](const bf16* p, float* f) {
    if constexpr (VPL == 4) {
      const uint2 u = *reinterpret_cast<const uint2*>(p);
      const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
      const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
      f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y;
    } else {
      const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
      f[0] = a.x, f[1] = a.y;
    }
  };
  float acc[VPL] = {};
#pragma unroll 4
  for (int r = grp; r < piece_len; r += kGroups) {
    const int64_t t = t0 + r, row = reverse ? n - 1 - t : t;
    float xv[VPL];
    load(xb + row * x.token_stride, xv);
    float wr = 1.f;
    if (weighted) {
      float gv[VPL];
      load(gb + row * w.grad.token_stride, gv);
      const float* o = w.out + (bh * n + row) * D + c0;
      float dot = 0.f;
#pragma unroll
      for (int j = 0; j < VPL; ++j) dot += gv[j] * o[j];
      wr = -warp_sum(dot) / w.den[bh * n + row];
    }
#pragma unroll
    for (int j = 0; j < VPL; ++j) acc[j] = step * acc[j] + wr * xv[j];
  }
  const float tail = decay_pow(s, kGroups - grp - shift);  // rows r = 8·i + grp: λ^{8·(I−1−i)} · tail
#pragma unroll
  for (int j = 0; j < VPL; ++j) part[grp * D + c0 + j] = acc[j] * tail;
  __syncthreads();
  if (tid < D) {
    float z = 0.f;
    for (int g2 = 0; g2 < kGroups; ++g2) z += part[g2 * D + tid];
    dst[tid] = z;
  }
}
// z[bh][slot] = Σ_p λ^{(kKeySumSplit − 1 − p)·piece_len} part[bh][slot][p] for the slots la2_key_sum_kernel summed.
__global__ void la2_key_sum_combine_kernel(const float* part, const float* log_decay, int heads, int slot_len,
                                           int nslots_total, int d, float* z) {
  const int64_t bh = blockIdx.y;
  const int slot = blockIdx.x, j = threadIdx.x;
  const float step = decay_pow(log_decay[bh % heads], slot_len / kKeySumSplit);
  const float* p = part + (bh * gridDim.x + slot) * kKeySumSplit * d + j;
  float acc = 0.f;
  for (int i = 0; i < kKeySumSplit; ++i) acc = step * acc + p[i * d];
  z[(bh * nslots_total + slot) * d + j] = acc;
}

int sm_count() {
  static int count = [] {
    int dev = 0, c = 132;
    if (cudaGetDevice(&dev) == cudaSuccess) cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, dev);
    return c;
  }();
  return count;
}

// Segments of the main pass (nseg × seg_blocks tiles, one wave of CTAs) and slots of the state-only pass:
// every segment but the last is cut into `sub` slots of sub_blocks tiles (seg_blocks = sub · sub_blocks) so that
// the state pass (2 CTAs per SM) fills the GPU even when (nseg − 1)·B·H is small; the prefix then runs over
// nslots = (nseg − 1)·sub + 1 slots and segment s starts from slot s·sub.
struct SegPlan {
  int nseg, seg_blocks, sub, sub_blocks;
  int nslots() const { return (nseg - 1) * sub + 1; }
};
SegPlan plan_segments(int64_t bh, int64_t n) {
  const int64_t nblocks = (n + kBlk - 1) / kBlk;
  if (nblocks <= 1) {
    const int one = static_cast<int>(nblocks < 1 ? 1 : nblocks);
    return {1, one, 1, one};
  }
  const int64_t sms = sm_count();
  // LAT_LA2_SEGMENTS forces the segments per head (measurement: lat-bench la2 --shape).
  static const int64_t forced = [] {
    const char* e = std::getenv("LAT_LA2_SEGMENTS");
    return e == nullptr ? int64_t{0} : static_cast<int64_t>(std::atoi(e));
  }();
  const int64_t target = forced > 0 ? forced : bh >= sms ? 1 : sms / bh;  // one wave of CTAs (1 CTA / SM)
  int64_t seg_blocks = (nblocks + target - 1) / target;
  int64_t nseg = (nblocks + seg_blocks - 1) / seg_blocks;
  if (nseg == 1) return {1, static_cast<int>(seg_blocks), 1, static_cast<int>(seg_blocks)};
  int64_t sub = (2 * sms) / ((nseg - 1) * bh);  // at most one wave of 2 CTAs per SM
  sub = sub < 1 ? 1 : (sub < seg_blocks ? sub : seg_blocks);
  const int64_t sub_blocks = (seg_blocks + sub - 1) / sub;
  seg_blocks = sub * sub_blocks;
  nseg = (nblocks + seg_blocks - 1) / seg_blocks;
  if (nseg == 1) return {1, static_cast<int>(seg_blocks), 1, static_cast<int>(seg_blocks)};
  return {static_cast<int>(nseg), static_cast<int>(seg_blocks), static_cast<int>(sub), static_cast<int>(sub_blocks)};
}

template <int D, int NW, int M, int F, class OutT, int AUG = kAugNone>
void launch_tile_as(const TileParams& p, int grid_x, int64_t bh) {
  constexpr int smem = tile_smem_bytes<D, M, AUG>();
  static bool configured = false;
  if (!configured) {
    LAT_CUDA_CHECK(cudaFuncSetAttribute(la2_tile_kernel<D, NW, M, F, OutT, AUG>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured = true;
  }
  la2_tile_kernel<D, NW, M, F, OutT, AUG>
      <<<dim3(grid_x, static_cast<unsigned>(bh)), NW * 32, smem, ::lat::cuda::stream()>>>(p);
  LAT_CUDA_CHECK_LAUNCH();
}
template <int D, int NW, int M, class OutT>
void launch_tile_out(const TileParams& p, La2Feature feature, int grid_x, int64_t bh) {
  switch (feature) {
    case La2Feature::Identity: return launch_tile_as<D, NW, M, 0, OutT>(p, grid_x, bh);
    case La2Feature::Elu1: return launch_tile_as<D, NW, M, 1, OutT>(p, grid_x, bh);
    case La2Feature::Silu: return launch_tile_as<D, NW, M, 2, OutT>(p, grid_x, bh);
    case La2Feature::CosSin:
    case La2Feature::CosCos: return launch_tile_as<D, NW, M, kCosineFeature, OutT>(p, grid_x, bh);
  }
}
template <int D, int NW, int M>
void launch_tile(const TileParams& p, La2Feature feature, bool f32_results, int aug, int grid_x, int64_t bh) {
  if (aug != kAugNone) {  // the normalised form: identity map (applied before the core); o in f32
    LAT_CHECK(feature == La2Feature::Identity && (f32_results || aug != kAugFwd),
              "lightning_attention (CUDA): the normalised form takes mapped operands and writes o in f32");
    if constexpr (M == kFwd) {
      if (aug == kAugFwd) return launch_tile_as<D, NW, M, 0, float, kAugFwd>(p, grid_x, bh);
      if (f32_results) return launch_tile_as<D, NW, M, 0, float, kAugDq>(p, grid_x, bh);
      return launch_tile_as<D, NW, M, 0, bf16, kAugDq>(p, grid_x, bh);
    } else {
      if (f32_results) return launch_tile_as<D, NW, M, 0, float, kAugDkv>(p, grid_x, bh);
      return launch_tile_as<D, NW, M, 0, bf16, kAugDkv>(p, grid_x, bh);
    }
  }
  if (f32_results) launch_tile_out<D, NW, M, float>(p, feature, grid_x, bh);
  else launch_tile_out<D, NW, M, bf16>(p, feature, grid_x, bh);
}

// One sweep: the main pass in `mode` over operands t[0..3] (outputs o0, o1), preceded for small B·H by the
// segment machinery (state-only pass over the state operands t[key], t[val], prefix over segments) unless
// `entering` already holds the slot states (the forward's, transposed, for the backward's dQ sweep).
struct SweepArgs {
  int mode;
  La2View t[4];
  La2View o0, o1;
  const float* log_decay;
  int64_t heads, bh, n;
  const float* init;
  bool init_transposed;
  float* final_state;
  bool reverse;
  int shift;
  float* ws;
  const float* entering;  // [bh][slots][d][d] states entering every slot of this sweep's plan, transposed
  bool f32_results;       // o0, o1 hold f32 (else bf16)
  La2Feature feature;     // the map of the operands flagged in `mapped` and of the chain rule through raw0/raw1
  int mapped[4];
  La2View raw0, raw1;
  int aug;               // Aug: the normalised form's sweep
  const float* fwd_out;  // kAugDq, kAugDkv: the forward's o (f32, contiguous) and den + eps
  const float* fwd_den;
  float* den;
  float eps;
  int64_t max_context, position_offset;  // CosSin / CosCos
  bool accumulate;                       // add into o0, o1
};

// The wgmma kernels (lightning_attention_wgmma.cuh) take the sweeps with bf16 results and no normalisation: the
// forward, the backward's dQ sweep and its reverse dK/dV sweep, with or without a pointwise or cosFormer feature
// map. LAT_LA2_WGMMA=0 turns them off (measurement: the mma.sync tile kernel in the same binary).
bool wgmma_covers(const SweepArgs& a) {
  static const bool enabled = [] {
    const char* e = std::getenv("LAT_LA2_WGMMA");
    return la2_wgmma_available() && !(e != nullptr && e[0] == '0');
  }();
  const bool forward_order = a.mode == kFwd && !a.reverse && a.shift == 0;
  const bool dkdv = a.mode == kBwdKV && a.reverse && a.shift == 1;
  // An empty sequence (n = 0) stays on the tile kernel, which writes the final state from the initial one.
  if (!enabled || a.n <= 0 || !(forward_order || dkdv) || a.aug != kAugNone || a.f32_results) return false;
  const int operands = dkdv ? 4 : 3;
  for (int i = 0; i < operands; ++i)
    if (!la2_view_supported(a.t[i])) return false;
  return la2_view_supported(a.o0) && (!dkdv || la2_view_supported(a.o1));
}

template <int D, int NW>
void run_sweep(const SweepArgs& a) {
  const SegPlan plan = plan_segments(a.bh, a.n);
  La2Sweep s;
  for (int i = 0; i < 4; ++i) {
    s.in[i] = a.t[i];
    s.mapped[i] = a.mapped[i] != 0;
  }
  s.out[0] = a.o0;
  s.out[1] = a.o1;
  s.log_decay = a.log_decay;
  s.heads = static_cast<int>(a.heads);
  s.bh = a.bh;
  s.n = a.n;
  s.seg_blocks = plan.seg_blocks;
  s.nseg = plan.nseg;
  s.final_state = a.final_state;
  s.feature = a.feature;
  s.raw[0] = a.raw0;
  s.raw[1] = a.raw1;
  const bool positional = a.feature == La2Feature::CosSin || a.feature == La2Feature::CosCos;
  s.pos_offset = a.position_offset;
  s.pos_scale = positional ? static_cast<float>(3.14159265358979323846 / (2.0 * static_cast<double>(a.max_context)))
                           : 0.0f;
  s.accumulate = a.accumulate;
  const float* start_z = nullptr;  // the normalised form's z entering every slot (tile kernel)
  if (plan.nseg > 1 && a.entering != nullptr) {
    s.start = a.entering;
    s.start_mode = 4;
    s.start_slots = plan.nslots();
    s.start_step = plan.sub;
  } else if (plan.nseg > 1) {
    LAT_CHECK(a.ws != nullptr, "lightning_attention (CUDA): segmented sweep needs a workspace");
    // Local states of every slot but the last (kernels/cuda/lightning_attention_state.cu), then the prefix.
    const int key = a.mode == kFwd ? ModeTraits<kFwd>::kKey : ModeTraits<kBwdKV>::kKey;
    const int val = a.mode == kFwd ? ModeTraits<kFwd>::kVal : ModeTraits<kBwdKV>::kVal;
    const La2View& kt = a.t[key];
    const La2View& vt = a.t[val];
    // The normalised dK/dV sweep's keys are q̃ = q / den.
    la2_state_pass(D, kt, vt, a.log_decay, static_cast<int>(a.heads), a.bh, a.n, plan.sub_blocks * kBlk,
                   plan.nslots() - 1, plan.nslots(), a.reverse, a.shift, a.ws,
                   {a.feature, a.mapped[key] != 0, a.mapped[val] != 0, s.pos_offset, s.pos_scale,
                    a.aug == kAugDkv ? a.fwd_den : nullptr});
    const int threads = 256, gx = (D * D + threads - 1) / threads, slot_len = plan.sub_blocks * kBlk;
    const int sld = a.aug == kAugNone ? D : D + 1;  // the initial state's row stride ([d, d + 1] with z: kAug*)
    la2_prefix_kernel<<<dim3(gx, static_cast<unsigned>(a.bh)), threads, 0, ::lat::cuda::stream()>>>(
        a.ws, D, D, a.init, static_cast<int64_t>(D) * sld, sld, a.init_transposed ? 1 : 0, plan.nslots(), slot_len,
        a.log_decay, static_cast<int>(a.heads));
    LAT_CUDA_CHECK_LAUNCH();
    if (a.aug != kAugNone) {
      // z of every slot: the key sums of the operand z is indexed by (the key operand's rows, or the value
      // operand's in the dQ sweep), weighted by c in the dK/dV sweep; then their prefix from the initial z.
      float* ws_z = a.ws + a.bh * plan.nslots() * D * D;
      float* ws_part = ws_z + a.bh * plan.nslots() * D;
      const La2View& x = a.aug == kAugDq ? vt : kt;
      KeySumWeights w;
      if (a.aug == kAugDkv) w = {vt, a.fwd_out, a.fwd_den};  // dz: c_r = −(G_r·o_r) / den_r
      const dim3 slots(static_cast<unsigned>(plan.nslots() - 1), static_cast<unsigned>(a.bh));
      la2_key_sum_kernel<D><<<dim3(slots.x, slots.y, kKeySumSplit), 256, 0, ::lat::cuda::stream()>>>(
          x, w, a.log_decay, static_cast<int>(a.heads), a.n, slot_len, a.reverse ? 1 : 0, a.shift,
          la2_decay_window_bits(), ws_part);
      LAT_CUDA_CHECK_LAUNCH();
      la2_key_sum_combine_kernel<<<slots, D, 0, ::lat::cuda::stream()>>>(
          ws_part, a.log_decay, static_cast<int>(a.heads), slot_len, plan.nslots(), D, ws_z);
      LAT_CUDA_CHECK_LAUNCH();
      la2_prefix_kernel<<<dim3(1, static_cast<unsigned>(a.bh)), D, 0, ::lat::cuda::stream()>>>(
          ws_z, D, 1, a.init != nullptr ? a.init + D : nullptr, static_cast<int64_t>(D) * sld, sld, 0, plan.nslots(),
          slot_len, a.log_decay, static_cast<int>(a.heads));
      LAT_CUDA_CHECK_LAUNCH();
      start_z = ws_z;
    }
    s.start = a.ws;
    s.start_mode = 3;
    s.start_slots = plan.nslots();
    s.start_step = plan.sub;
  } else {
    s.start = a.init;
    s.start_mode = a.init == nullptr ? 0 : (a.init_transposed ? 2 : 1);
  }
  if (D == 128 && wgmma_covers(a)) {
    La2WgmmaSweep w;
    static_cast<La2Sweep&>(w) = s;
    w.backward_kv = a.mode == kBwdKV;
    return la2_wgmma_sweep(w);
  }
  TileParams p{};
  static_cast<La2Sweep&>(p) = s;
  p.start_z = start_z;
  p.reverse = a.reverse ? 1 : 0;
  p.shift = a.shift;
  p.fwd_out = a.fwd_out;
  p.fwd_den = a.fwd_den;
  p.den = a.den;
  p.eps = a.eps;
  p.pos_cos = a.feature == La2Feature::CosCos ? 1 : 0;
  if (a.mode == kFwd) launch_tile<D, NW, kFwd>(p, a.feature, a.f32_results, a.aug, plan.nseg, a.bh);
  else launch_tile<D, NW, kBwdKV>(p, a.feature, a.f32_results, a.aug, plan.nseg, a.bh);
}

void run_sweep_d(int64_t d, const SweepArgs& a) {
  if (d == 64) run_sweep<64, 8>(a);
  else if (d == 128) run_sweep<128, 8>(a);
  else LAT_THROW("lightning_attention (CUDA): fast path needs d = e ∈ {64, 128}, got d = ", d);
}

}  // namespace

bool la2_fast_supported(int64_t m, int64_t e) { return m == e && (m == 64 || m == 128); }

int64_t la2_workspace_floats(int64_t bh, int64_t n, int64_t d) {
  const SegPlan plan = plan_segments(bh, n);
  return plan.nseg > 1 ? bh * plan.nslots() * d * d : 0;
}

int64_t la2_normalized_workspace_floats(int64_t bh, int64_t n, int64_t d) {
  return la2_workspace_floats(bh, n, d) / d * (d + 1 + kKeySumSplit);  // states, key sums, their pieces
}

bool la2_view_supported(const La2View& v) {
  return reinterpret_cast<uintptr_t>(v.data) % 16 == 0 && v.batch_stride % 8 == 0 && v.head_stride % 8 == 0 &&
         v.token_stride % 8 == 0;
}

// A sweep in `mode` of one call's (batch, heads, n), with its log-decay, feature map and workspace.
SweepArgs sweep_of(int mode, const float* log_decay, int64_t batch, int64_t heads, int64_t n, La2Feature feature,
                   bool f32_results, float* ws, int64_t max_context, int64_t position_offset, bool accumulate) {
  const bool positional = feature == La2Feature::CosSin || feature == La2Feature::CosCos;
  LAT_CHECK(!positional || (max_context > 0 && position_offset >= 0 && position_offset + n <= max_context),
            "lightning_attention (CUDA): cosFormer positions [", position_offset, ", ", position_offset + n,
            ") outside [0, max_context = ", max_context, ")");
  SweepArgs a{};
  a.max_context = max_context;
  a.position_offset = position_offset;
  a.accumulate = accumulate;
  a.mode = mode;
  a.f32_results = f32_results;
  a.log_decay = log_decay;
  a.heads = heads;
  a.bh = batch * heads;
  a.n = n;
  a.feature = feature;
  a.ws = ws;
  return a;
}

void la2_forward_bf16(const La2Forward& f) {
  SweepArgs a = sweep_of(kFwd, f.log_decay, f.batch, f.heads, f.n, f.feature, f.f32_results, f.workspace,
                         f.max_context, f.position_offset, f.accumulate);
  a.t[0] = f.q;
  a.t[1] = f.k;
  a.t[2] = f.v;
  a.o0 = f.o;
  a.init = f.initial_state;
  a.final_state = f.final_state;
  a.mapped[0] = a.mapped[1] = 1;  // φ(q), φ(k)
  if (f.denominator != nullptr) {
    a.aug = kAugFwd;
    a.den = f.denominator;
    a.eps = f.eps;
  }
  run_sweep_d(f.d, a);
}

void la2_backward_bf16(const La2Backward& g) {
  // dQ: forward order with q' = dO, k' = V, v' = K and S' = Sᵀ (so the forward's slot states, transposed, are
  // this sweep's entering states).
  SweepArgs a = sweep_of(kFwd, g.log_decay, g.batch, g.heads, g.n, g.feature, g.f32_results, g.workspace,
                         g.max_context, g.position_offset, g.accumulate);
  a.t[0] = g.grad_out;
  a.t[1] = g.v;
  a.t[2] = g.k;
  a.o0 = g.grad_q;
  a.init = g.initial_state;
  a.init_transposed = true;
  a.entering = g.forward_states;
  a.mapped[2] = 1;        // φ(k)
  a.raw0 = g.q;           // dq = dφ(q) ⊙ φ'(q); kAugDq: the projection's q
  const bool normalized = g.denominator != nullptr;
  LAT_CHECK(!normalized || (g.forward_states == nullptr && g.out != nullptr),
            "lightning_attention (CUDA): the normalised form's backward takes o and no forward segment states");
  if (normalized) {
    a.aug = kAugDq;
    a.fwd_out = g.out;
    a.fwd_den = g.denominator;
    a.eps = g.eps;
  }
  run_sweep_d(g.d, a);
  // dV and dK in one reverse sweep with S' = D (shift 1); its final state is d(initial state).
  SweepArgs b = sweep_of(kBwdKV, g.log_decay, g.batch, g.heads, g.n, g.feature, g.f32_results, g.workspace,
                         g.max_context, g.position_offset, g.accumulate);
  b.t[0] = g.k;
  b.t[1] = g.q;
  b.t[2] = g.grad_out;
  b.t[3] = g.v;
  b.o0 = g.grad_v;
  b.o1 = g.grad_k;
  b.init = g.grad_final_state;
  b.final_state = g.grad_initial_state;
  b.reverse = true;
  b.shift = 1;
  b.mapped[0] = b.mapped[1] = 1;  // φ(k), φ(q)
  b.raw1 = g.k;                   // dk = dφ(k) ⊙ φ'(k)
  if (normalized) {
    b.aug = kAugDkv;
    b.fwd_out = g.out;
    b.fwd_den = g.denominator;
  }
  run_sweep_d(g.d, b);
}

}  // namespace lat::kernels::cuda
