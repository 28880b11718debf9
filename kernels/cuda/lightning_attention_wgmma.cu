// The Lightning Attention-2 sweeps on wgmma: see lightning_attention_wgmma.cuh.
//
// One CTA per (segment, bh): three warpgroups that meet at mbarriers (setmaxnreg moves registers from the
// producer warpgroup to the other two).
// - Producer (warpgroup 2): one lane issues the TMA loads of the q, k, v tiles (two 64-feature boxes each,
//   128-byte swizzle, rows past n zero-filled) into a kStages-deep ring; full[s] completes on the bytes, empty[s]
//   on 256 consumer arrivals. With a feature map its other three warps map the flagged tiles in place and
//   complete ready[s], which the consumers wait on instead of full[s].
// - Output warpgroup (warps 0–3): per tile and result, the scores (m64n64, both operands K-major in shared
//   memory) and the right product with the state's bf16 copy (m64n128; MN-major, or K-major for dk's D_bᵀ) in one
//   wgmma group; rows scaled by λ^{r+shift}; the scores, masked and decayed in registers, become the register A
//   operand of the left product (m64n128, the value operand MN-major); each result is written into the stage's
//   tile that was its A operand (free by then) and leaves by TMA stores (scattered register stores made a CTA's
//   tile about 1.5 × slower: docs/perf/la2.md v11).
// - State warpgroup (warps 4–7): S in fp32 registers (two m64n128 accumulators, rows 0–63 and 64–127);
//   S ← λ^nb S + (diag(λ^{nb−r}) k)ᵀ v with the decayed keys as register A fragments (ldmatrix.trans) and v
//   from shared memory; then S_{b+1}'s bf16 copy goes into the other of two buffers (sfull / sempty hand them
//   over), so this warpgroup runs one tile ahead of the output warpgroup. The dK/dV sweep's four operand tiles
//   leave room for one buffer only: there the state warpgroup writes D_{b+1} once the output warpgroup's right
//   products of tile b are done.
// Tiles are TMA boxes in natural row order; the reverse sweep's tile holds sweep rows r = 63 − ρ at box row ρ, so
// its masks and decay powers are taken in sweep coordinates (sweep_row below).
#include "kernels/cuda/lightning_attention_wgmma.cuh"

#include <cuda.h>
#include <cuda_bf16.h>

#include "core/cuda_context.h"
#include "core/error.h"
#include "kernels/cuda/lightning_attention_state.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/pointwise.cuh"
#include "kernels/cuda/tma.cuh"
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || !defined(__CUDA_ARCH__)
#include "kernels/cuda/wgmma.cuh"
#endif

namespace lat::kernels::cuda {
namespace {

constexpr int kD = 128, kBlk = 64, kStages = 3;
constexpr int kBoxBytes = kBlk * 128;      // one 64-feature box of a tile
constexpr int kTileBytes = 2 * kBoxBytes;  // one operand of one tile
constexpr int kStateBox = kD * 128;        // 64 columns of the bf16 state copy
constexpr int kStateBytes = 2 * kStateBox;
constexpr int kBarriers = 3 * kStages + 4;  // full, empty, ready, sfull, sempty
constexpr int kPowTable = 80;               // λ^x, x ∈ [0, 64] used
constexpr int kRowWeights = 2 * 64;         // positional maps: the weights of a tile's rows, two tiles
constexpr int kThreads = 384;  // three warpgroups: output, state, producer (one lane of it) + mappers
constexpr int kMappers = 96;   // warps 9–11

enum Sweep { kForward = 0, kBackwardKV = 1 };
template <int M>
struct SweepCfg {
  static constexpr int kTensors = M == kForward ? 3 : 4;  // operand tiles per stage
  static constexpr int kStateBufs = M == kForward ? 2 : 1;
  static constexpr int kStageBytes = kTensors * kTileBytes;
  static constexpr int kSmem =
      1024 + kStages * kStageBytes + kStateBufs * kStateBytes + kBarriers * 8 + (kPowTable + kRowWeights) * 4;
  static_assert(kSmem <= 227 * 1024, "shared memory");
};

// The kernel's parameters: the sweep as the host described it (start_mode 0 when there is no start) and the
// tensor-map dimension of token / head / batch of each operand and result (la2_tensor_map).
struct WgParams {
  La2WgmmaSweep sweep;
  int perm[4];
  int out_perm[2];
};

// M: Sweep; F: the feature map code of pointwise.cuh (0: none).
template <int M, int F>
__global__ void __launch_bounds__(kThreads, 1)
    la2_wgmma_kernel(const __grid_constant__ CUtensorMap m0, const __grid_constant__ CUtensorMap m1,
                     const __grid_constant__ CUtensorMap m2, const __grid_constant__ CUtensorMap m3,
                     const __grid_constant__ CUtensorMap r0, const __grid_constant__ CUtensorMap r1,
                     const WgParams params) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using C = SweepCfg<M>;
  const La2WgmmaSweep& p = params.sweep;
  const int pos_cos = p.feature == La2Feature::CosCos ? 1 : 0;
  constexpr int NT = C::kTensors, NB = C::kStateBufs, SHIFT = M == kForward ? 0 : 1;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  const uint32_t tiles = base, states = tiles + kStages * C::kStageBytes, bars = states + NB * kStateBytes;
  float* sPow = reinterpret_cast<float*>(smem_raw + (bars - raw) + kBarriers * 8);
  auto full = [&](int s) { return bars + 8 * s; };
  auto empty = [&](int s) { return bars + 8 * (kStages + s); };
  auto ready = [&](int s) { return bars + 8 * (2 * kStages + s); };  // F ≠ 0: the stage's tiles are mapped
  auto sfull = [&](int s) { return bars + 8 * (3 * kStages + s); };
  auto sempty = [&](int s) { return bars + 8 * (3 * kStages + 2 + s); };
  // The consumers' view of a stage: landed (F = 0) or landed and mapped.
  auto landed = [&](int s) { return F != 0 ? ready(s) : full(s); };
  auto tile = [&](int st, int w) { return tiles + st * C::kStageBytes + w * kTileBytes; };

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int seg = blockIdx.x;
  const int64_t bh = blockIdx.y;
  const float s = p.log_decay[bh % p.heads];
  const int64_t n = p.n;
  const int64_t tb = static_cast<int64_t>(seg) * p.seg_blocks * kBlk;  // sweep coordinates
  const int64_t te = min(n, tb + static_cast<int64_t>(p.seg_blocks) * kBlk);
  const int nblk = te > tb ? static_cast<int>((te - tb + kBlk - 1) / kBlk) : 0;
  // Box row ρ of the tile starting at sweep coordinate t0: its sweep row (the row in the tile in sweep order),
  // and its global row; rows whose sweep row is ≥ nb are padding (zeros).
  auto sweep_row = [&](int rho) { return M == kForward ? rho : kBlk - 1 - rho; };
  auto global_row = [&](int64_t t0, int rho) { return M == kForward ? t0 + rho : n - t0 - kBlk + rho; };
  for (int i = tid; i < kPowTable; i += kThreads) sPow[i] = expf(-s * static_cast<float>(i));
  if (tid == 0) {
    for (int i = 0; i < kStages; ++i) {
      mbar_init(full(i), 1);
      mbar_init(empty(i), 256);
      mbar_init(ready(i), kMappers);
    }
    for (int i = 0; i < 2; ++i) {
      mbar_init(sfull(i), 128);
      mbar_init(sempty(i), 128);
    }
    mbar_init_fence();
  }
  __syncthreads();

  // Registers: the state warpgroup holds S (128 fp32 per thread) plus its A fragments, the output warpgroup
  // one result, the scores and P; the producer needs few. 128 · (208 + 240 + 56) = 64,512 of 65,536.
  if (warp >= 8) {  // producer
    asm volatile("setmaxnreg.dec.sync.aligned.u32 56;\n" ::: "memory");
    if (warp == 8 && lane == 0) {
      const int h = static_cast<int>(bh % p.heads), b = static_cast<int>(bh / p.heads);
      const CUtensorMap* maps[4] = {&m0, &m1, &m2, &m3};
      for (int i = 0; i < nblk; ++i) {
        const int st = i % kStages;
        if (i >= kStages) mbar_wait(empty(st), ((i / kStages) - 1) & 1);
        mbar_arrive_expect_tx(full(st), C::kStageBytes);
        const int row = static_cast<int>(global_row(tb + static_cast<int64_t>(i) * kBlk, 0));  // may be < 0
#pragma unroll
        for (int w = 0; w < NT; ++w) {
          auto coord = [&](int dim) {
            const int pm = params.perm[w];
            return (pm & 3) == dim ? row : ((pm >> 2) & 3) == dim ? h : b;
          };
#pragma unroll
          for (int bx = 0; bx < 2; ++bx)
            tma_load_4d(tile(st, w) + bx * kBoxBytes, maps[w], bx * 64, coord(1), coord(2), coord(3), full(st));
        }
      }
    } else if constexpr (F != 0) {
      // Mappers: φ on every 16-byte chunk of the mapped tiles in place (the swizzle permutes chunks within a
      // 128-byte row, so a chunk's row is its offset / 128 within its box); padding rows stay zero.
      if (warp >= 9) {
        const int mi = tid - 9 * 32;
        for (int i = 0; i < nblk; ++i) {
          const int st = i % kStages;
          const int64_t t0 = tb + static_cast<int64_t>(i) * kBlk;
          const int nb = static_cast<int>(te - t0 < kBlk ? te - t0 : kBlk);
          // Positional maps: the tile's 64 row weights once (double-buffered: a mapper still on tile i − 1
          // reads the other half, and every mapper has left tile i − 1 when the barrier of tile i opens).
          float* wrow = sPow + kPowTable + (i & 1) * 64;
          if constexpr (positional_feature(F)) {
            if (mi < kBlk) wrow[mi] = cosformer_weight(p.pos_offset + global_row(t0, mi), p.pos_scale, pos_cos);
            asm volatile("bar.sync 1, %0;\n" ::"n"(kMappers) : "memory");
          }
          mbar_wait(full(st), (i / kStages) & 1);
#pragma unroll
          for (int w = 0; w < NT; ++w) {
            if (!p.mapped[w]) continue;
            unsigned char* tp = smem_raw + (tile(st, w) - raw);
            for (int c = mi; c < kTileBytes / 16; c += kMappers) {
              const int rho = ((c * 16) % kBoxBytes) / 128;
              if (sweep_row(rho) >= nb) continue;
              const float wt = positional_feature(F) ? wrow[rho] : 1.0f;
              uint4* chunk = reinterpret_cast<uint4*>(tp + c * 16);
              uint4 x = *chunk;
              x.x = feature_map_bf16x2<F>(x.x, wt, wt);
              x.y = feature_map_bf16x2<F>(x.y, wt, wt);
              x.z = feature_map_bf16x2<F>(x.z, wt, wt);
              x.w = feature_map_bf16x2<F>(x.w, wt, wt);
              *chunk = x;
            }
          }
          fence_proxy_async_shared();
          mbar_arrive(ready(st));
        }
      }
    }
    return;
  }

  if (warp >= 4) {  // state warpgroup: rows hf·64 + wq·16 + {g, g + 8} of S in acc[hf]
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n" ::: "memory");
    const int wq = warp - 4;
    float acc[2][64];
#pragma unroll
    for (int hf = 0; hf < 2; ++hf)
#pragma unroll
      for (int j = 0; j < 16; ++j)
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const int i = hf * 64 + wq * 16 + g + (q >> 1) * 8, c = j * 8 + 2 * t4 + (q & 1);
          float x = 0.f;
          if (p.start_mode == 1) {
            x = p.start[bh * kD * kD + i * kD + c];
          } else if (p.start_mode == 2) {
            x = p.start[bh * kD * kD + c * kD + i];
          } else if (p.start_mode >= 3) {
            const float* slot = p.start + (bh * p.start_slots + static_cast<int64_t>(seg) * p.start_step) * kD * kD;
            x = p.start_mode == 3 ? slot[i * kD + c] : slot[c * kD + i];
          }
          acc[hf][j * 4 + q] = x;
        }
    // fn(i, c, x, y) for every pair of adjacent state elements (i, c), (i, c + 1) this thread holds.
    auto each_pair = [&](auto fn) {
#pragma unroll
      for (int hf = 0; hf < 2; ++hf)
#pragma unroll
        for (int j = 0; j < 16; ++j)
#pragma unroll
          for (int hh = 0; hh < 2; ++hh)
            fn(hf * 64 + wq * 16 + g + hh * 8, j * 8 + 2 * t4, acc[hf][j * 4 + 2 * hh], acc[hf][j * 4 + 2 * hh + 1]);
    };
    // S's bf16 copy: element (i, c) of buffer `buf` at box c/64, row i (128-byte swizzle): the MN-major B
    // operand of A S (K = i, N = c), or the K-major B operand of A Sᵀ (N = i, K = c).
    auto write_state = [&](int buf) {
      const uint32_t dst = states + buf * kStateBytes;
      each_pair([&](int i, int c, float x, float y) {
        asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(dst + swz<kD>(i, c) + (c & 7) * 2), "r"(pack_bf16(x, y))
                     : "memory");
      });
      fence_proxy_async_shared();
      mbar_arrive(sfull(buf));
    };
    write_state(0);
    for (int b = 0; b < nblk; ++b) {
      const int st = b % kStages;
      const int64_t t0 = tb + static_cast<int64_t>(b) * kBlk;
      const int nb = static_cast<int>(te - t0 < kBlk ? te - t0 : kBlk);
      const float carry = sPow[nb];
#pragma unroll
      for (int hf = 0; hf < 2; ++hf)
#pragma unroll
        for (int e = 0; e < 64; ++e) acc[hf][e] *= carry;
      mbar_wait(landed(st), (b / kStages) & 1);
      const uint32_t kt = tile(st, 1), vt = tile(st, 2);  // the state's key and value operands
      // A = (diag(w) k')ᵀ, w = λ^{nb − r − shift} of the row's sweep row r (0 for padding): the fragments of
      // both halves of S and all four 16-row steps are built before the first issue (registers of A must stay
      // untouched until the wait).
      auto w = [&](int rho) {
        const int r = sweep_row(rho);
        return r < nb ? sPow[nb - r - SHIFT] : 0.f;
      };
      uint32_t a[2][4][4];
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        const int r = kk * 16 + 2 * t4;
        const float wa = w(r), wb = w(r + 1), wc = w(r + 8), wd = w(r + 9);
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          uint32_t(&f)[4] = a[hf][kk];
          const int rho = kk * 16 + (lane & 7) + (lane >> 4) * 8, i = hf * 64 + wq * 16 + ((lane >> 3) & 1) * 8;
          ldsm_x4_t(f, kt + swz<kBlk>(rho, i));
          f[0] = scale_bf16x2(f[0], wa, wb);
          f[1] = scale_bf16x2(f[1], wa, wb);
          f[2] = scale_bf16x2(f[2], wc, wd);
          f[3] = scale_bf16x2(f[3], wc, wd);
        }
      }
      wgmma_fence();
#pragma unroll
      for (int hf = 0; hf < 2; ++hf)
#pragma unroll
        for (int kk = 0; kk < 4; ++kk)
          wgmma_m64n128k16_rs_tb(acc[hf], a[hf][kk], wgmma_desc(vt + kk * 2048, kBoxBytes, 1024));
      wgmma_commit();
      wgmma_wait<0>();
      wgmma_fence_operands(acc[0]);
      wgmma_fence_operands(acc[1]);
      mbar_arrive(empty(st));
      if (b + 1 < nblk) {
        // S_{b+1} goes to buffer (b + 1) % NB once the output warpgroup is done with S_{b+1−NB} there.
        const int buf = (b + 1) % NB, prior = b + 1 - NB;
        if (prior >= 0) mbar_wait(sempty(buf), (prior / NB) & 1);
        write_state(buf);
      }
    }
    if (p.final_state != nullptr && seg == p.nseg - 1) {
      float* dst = p.final_state + bh * kD * kD;
      each_pair([&](int i, int c, float x, float y) {
        *reinterpret_cast<float2*>(dst + i * kD + c) = make_float2(x, y);
      });
    }
    return;
  }

  // Output warpgroup: box rows rho0 = wo·16 + g and rho1 = rho0 + 8 of the tile.
  asm volatile("setmaxnreg.inc.sync.aligned.u32 208;\n" ::: "memory");
  const int head = static_cast<int>(bh % p.heads), batch = static_cast<int>(bh / p.heads);
  const int rho0 = warp * 16 + g, rho1 = rho0 + 8;
  const int sr0 = sweep_row(rho0), sr1 = sweep_row(rho1);
  auto head_of = [&](const La2View& o) { return head_rows(o, bh, p.heads); };
  // The 16 column pairs of this thread's two rows (hh) of a result-shaped bf16 tensor (zeros for padding rows).
  auto fetch_rows = [&](uint32_t (&dst)[2][16], const __nv_bfloat16* rows, int64_t st, int64_t t0, int nb) {
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const bool ok = (hh ? sr1 : sr0) < nb;
      const int64_t t = global_row(t0, hh ? rho1 : rho0);
#pragma unroll
      for (int j = 0; j < 16; ++j)
        dst[hh][j] = ok ? *reinterpret_cast<const uint32_t*>(rows + t * st + j * 8 + 2 * t4) : 0u;
    }
  };
  constexpr int kChain = M == kForward ? 0 : 1;  // the result the chain rule applies to (o / dq, or dk)
  // Only cosFormer's second core adds to existing results (the host checks); the other maps compile none of it.
  constexpr bool kAccumulate = positional_feature(F);
  float sc[32] = {}, acc[64] = {};
  for (int b = 0; b < nblk; ++b) {
    const int st = b % kStages, buf = b % NB;
    const int64_t t0 = tb + static_cast<int64_t>(b) * kBlk;
    const int nb = static_cast<int>(te - t0 < kBlk ? te - t0 : kBlk);
    const uint32_t sS = states + buf * kStateBytes;
    // One result: scores A Bsᵀ, right product A S (or A Sᵀ), rows × λ^{r+shift}, left product P V; then stored.
    auto result = [&](int which, uint32_t at, uint32_t bs, bool s_transposed, uint32_t vt, bool last) {
      // Values at this thread's output positions that the store needs, loaded before the products: the raw
      // operand of the chain rule, and the result being added to.
      uint32_t chain_raw[F != 0 ? 2 : 1][16];
      uint32_t prev[kAccumulate ? 2 : 1][16];
      const bool chain = F != 0 && which == kChain && p.raw[kChain].data != nullptr;
      if constexpr (F != 0) {
        if (chain) fetch_rows(chain_raw, head_of(p.raw[kChain]), p.raw[kChain].token_stride, t0, nb);
      }
      // A full tile is staged in shared memory and leaves by TMA (below); cosFormer's second core then adds
      // into the first core's results with a TMA reduce-add instead of reading them back here.
      const bool staged = nb == kBlk;
      if constexpr (kAccumulate) {
        if (p.accumulate && !staged) fetch_rows(prev, head_of(p.out[which]), p.out[which].token_stride, t0, nb);
      }
      if (which == 0) {
        mbar_wait(landed(st), (b / kStages) & 1);
        mbar_wait(sfull(buf), (b / NB) & 1);
      }
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < 8; ++kk) {
        const uint32_t koff = (kk >> 2) * kBoxBytes + (kk & 3) * 32;
        wgmma_m64n64k16_ss(sc, wgmma_desc(at + koff, 16, 1024), wgmma_desc(bs + koff, 16, 1024), kk > 0);
      }
#pragma unroll
      for (int kk = 0; kk < 8; ++kk) {
        const uint32_t koff = (kk >> 2) * kBoxBytes + (kk & 3) * 32;
        const uint64_t da = wgmma_desc(at + koff, 16, 1024);
        if (s_transposed)  // Sᵀ: the copy's rows i are N, its columns K (K-major, like a tile)
          wgmma_m64n128k16_ss<0>(acc, da, wgmma_desc(sS + (kk >> 2) * kStateBox + (kk & 3) * 32, 16, 1024), kk > 0);
        else  // S: the copy's rows i are K (16 per step), its columns N (MN-major)
          wgmma_m64n128k16_ss<1>(acc, da, wgmma_desc(sS + kk * 2048, kStateBox, 1024), kk > 0);
      }
      wgmma_commit();
      wgmma_wait<0>();
      wgmma_fence_operands(sc);
      wgmma_fence_operands(acc);
      if (last) mbar_arrive(sempty(buf));  // the state copy of this tile is no longer read
      const float w0 = sPow[sr0 + SHIFT], w1 = sPow[sr1 + SHIFT];
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        acc[j * 4 + 0] *= w0;
        acc[j * 4 + 1] *= w0;
        acc[j * 4 + 2] *= w1;
        acc[j * 4 + 3] *= w1;
      }
      // P = (A Bsᵀ) ⊙ M in bf16 (M = λ^{r−c} for sweep rows r ≥ c), as the A fragments of the four 16-row
      // steps of P V.
      auto masked = [&](int sr, int rho_c, float x) {
        const int d = sr - sweep_row(rho_c);
        return d >= 0 ? sPow[d] * x : 0.f;
      };
      uint32_t pa[4][4];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int c = j * 8 + 2 * t4;
        pa[j >> 1][(j & 1) * 2 + 0] = pack_bf16(masked(sr0, c, sc[j * 4 + 0]), masked(sr0, c + 1, sc[j * 4 + 1]));
        pa[j >> 1][(j & 1) * 2 + 1] = pack_bf16(masked(sr1, c, sc[j * 4 + 2]), masked(sr1, c + 1, sc[j * 4 + 3]));
      }
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) wgmma_m64n128k16_rs_tb(acc, pa[kk], wgmma_desc(vt + kk * 2048, kBoxBytes, 1024));
      wgmma_commit();
      wgmma_wait<0>();
      wgmma_fence_operands(acc);
      // A full tile goes to global memory through shared memory: into operand tile `at`, which no one reads any
      // more (its products are done; the state warpgroup reads other tiles), then one TMA store (or reduce-add)
      // per box. A segment's partial last tile (its box would start before row 0 in the reverse sweep) is stored
      // from registers, skipping the padding rows.
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int64_t t = global_row(t0, hh ? rho1 : rho0);
        const int rho = hh ? rho1 : rho0;
        if (!staged && (hh ? sr1 : sr0) >= nb) continue;
        float y[16][2];
#pragma unroll
        for (int j = 0; j < 16; ++j) {
          y[j][0] = acc[j * 4 + 2 * hh];
          y[j][1] = acc[j * 4 + 2 * hh + 1];
        }
        if constexpr (F != 0) {
          if (chain) {  // chain rule through the map (times a positional map's weight)
            const float wt =
                positional_feature(F) ? cosformer_weight(p.pos_offset + t, p.pos_scale, pos_cos) : 1.0f;
#pragma unroll
            for (int j = 0; j < 16; ++j) {
              const float2 x = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&chain_raw[hh][j]));
              y[j][0] *= feature_map_grad<F>(x.x) * wt;
              y[j][1] *= feature_map_grad<F>(x.y) * wt;
            }
          }
        }
        if constexpr (kAccumulate) {
          if (p.accumulate && !staged) {
#pragma unroll
            for (int j = 0; j < 16; ++j) {
              const float2 x = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&prev[hh][j]));
              y[j][0] += x.x;
              y[j][1] += x.y;
            }
          }
        }
        if (!staged) {
          __nv_bfloat16* dst = head_of(p.out[which]) + t * p.out[which].token_stride + 2 * t4;
#pragma unroll
          for (int j = 0; j < 16; ++j) *reinterpret_cast<uint32_t*>(dst + j * 8) = pack_bf16(y[j][0], y[j][1]);
          continue;
        }
#pragma unroll
        for (int j = 0; j < 16; ++j) {
          const int c = j * 8 + 2 * t4;
          asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(at + swz<kBlk>(rho, c) + (c & 7) * 2),
                       "r"(pack_bf16(y[j][0], y[j][1]))
                       : "memory");
        }
      }
      if (!staged) {
        if (last) mbar_arrive(empty(st));
        return;
      }
      fence_proxy_async_shared();
      asm volatile("bar.sync 2, 128;\n" ::: "memory");  // the output warpgroup's writes of the tile are done
      if (tid == 0) {
        const int row = static_cast<int>(global_row(t0, 0));  // may be < 0
        const int pm = params.out_perm[which];
        auto coord = [&](int dim) { return (pm & 3) == dim ? row : ((pm >> 2) & 3) == dim ? head : batch; };
        const bool add = kAccumulate && p.accumulate;
#pragma unroll
        for (int bx = 0; bx < 2; ++bx) {
          const void* map = which == 0 ? &r0 : &r1;
          if (add) tma_reduce_add_4d(map, at + bx * kBoxBytes, bx * 64, coord(1), coord(2), coord(3));
          else tma_store_4d(map, at + bx * kBoxBytes, bx * 64, coord(1), coord(2), coord(3));
        }
        bulk_commit();
        if (last) bulk_wait_read<0>();  // the stage may be refilled once the stores have read it
      }
      if (last) mbar_arrive(empty(st));
    };
    if constexpr (M == kForward) {
      result(0, tile(st, 0), tile(st, 1), false, tile(st, 2), true);  // o = λ q S + [(q kᵀ) ⊙ M] v
    } else {
      result(0, tile(st, 0), tile(st, 1), false, tile(st, 2), false);  // dv = λ k D + [(k qᵀ) ⊙ M] dO
      result(1, tile(st, 3), tile(st, 2), true, tile(st, 1), true);    // dk = λ v Dᵀ + [(v dOᵀ) ⊙ M] q
    }
  }
  if (tid == 0) bulk_wait<0>();
#endif
}

template <int M, int F>
void launch_wgmma(const CUtensorMap (&maps)[6], const WgParams& p, int nseg, int64_t bh) {
  constexpr int smem = SweepCfg<M>::kSmem;
  static bool configured = false;
  if (!configured) {
    LAT_CUDA_CHECK(cudaFuncSetAttribute(la2_wgmma_kernel<M, F>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured = true;
  }
  la2_wgmma_kernel<M, F><<<dim3(static_cast<unsigned>(nseg), static_cast<unsigned>(bh)), kThreads, smem,
                           ::lat::cuda::stream()>>>(maps[0], maps[1], maps[2], maps[3], maps[4], maps[5], p);
  LAT_CUDA_CHECK_LAUNCH();
}
template <int M>
void launch_wgmma_sweep(const CUtensorMap (&maps)[6], const WgParams& p, La2Feature feature, int nseg, int64_t bh) {
  switch (feature) {
    case La2Feature::Identity: return launch_wgmma<M, 0>(maps, p, nseg, bh);
    case La2Feature::Elu1: return launch_wgmma<M, 1>(maps, p, nseg, bh);
    case La2Feature::Silu: return launch_wgmma<M, 2>(maps, p, nseg, bh);
    case La2Feature::CosSin:
    case La2Feature::CosCos: return launch_wgmma<M, kCosineFeature>(maps, p, nseg, bh);
  }
}

}  // namespace

bool la2_wgmma_available() {
#if defined(LAT_CUDA_SM90A)
  static const bool ok = [] {
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return false;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    return major == 9 && minor == 0;
  }();
  return ok;
#else
  return false;
#endif
}

void la2_wgmma_sweep(const La2WgmmaSweep& a) {
  LAT_CHECK(la2_wgmma_available(), "lightning_attention (CUDA): the wgmma sweep needs an sm_90a build on sm_90");
  const int nt = a.backward_kv ? 4 : 3, nout = a.backward_kv ? 2 : 1;
  for (int i = 0; i < nout; ++i)
    LAT_CHECK(la2_view_supported(a.out[i]), "lightning_attention (CUDA): the wgmma sweep needs 16-byte aligned rows");
  LAT_CHECK(!a.accumulate || a.feature == La2Feature::CosSin || a.feature == La2Feature::CosCos,
            "lightning_attention (CUDA): the wgmma sweep accumulates only cosFormer's second core");
  LAT_CHECK(a.n > 0 && a.n < (int64_t{1} << 31) - 256 && a.bh > 0 && a.bh <= 65535 && a.heads > 0 &&
                a.bh % a.heads == 0 && a.nseg >= 1 && a.seg_blocks >= 1,
            "lightning_attention (CUDA): wgmma sweep shape out of range");
  WgParams p{a, {}, {}};
  const int64_t batch = a.bh / a.heads;
  CUtensorMap maps[6];  // operands, then results
  for (int w = 0; w < 4; ++w)  // unused slots repeat operand 0
    maps[w] = la2_tensor_map(a.in[w < nt ? w : 0], kD, a.n, a.heads, batch, kBlk, p.perm[w]);
  for (int i = 0; i < 2; ++i)
    maps[4 + i] = la2_tensor_map(a.out[i < nout ? i : 0], kD, a.n, a.heads, batch, kBlk, p.out_perm[i]);
  La2WgmmaSweep& k = p.sweep;
  if (k.start == nullptr) k.start_mode = 0;
  for (int w = 0; w < 4; ++w) k.mapped[w] = k.feature != La2Feature::Identity && w < nt && a.mapped[w];
  if (k.feature == La2Feature::Identity) k.raw[0] = k.raw[1] = La2View{};
  if (a.backward_kv) launch_wgmma_sweep<kBackwardKV>(maps, p, a.feature, a.nseg, a.bh);
  else launch_wgmma_sweep<kForward>(maps, p, a.feature, a.nseg, a.bh);
}

}  // namespace lat::kernels::cuda
