// The forward-order Lightning Attention-2 sweep on wgmma: see lightning_attention_wgmma.cuh.
//
// One CTA per (segment, bh), three warpgroups in three roles that meet at mbarriers (setmaxnreg moves registers
// from the producer to the other two):
//   producer (warpgroup 2, one lane): TMA loads of the q, k, v tiles (two 64-feature boxes each, 128-byte swizzle,
//     rows past n zero-filled) into a kStages-deep ring; full[s] completes on the bytes, empty[s] on 256 arrivals.
//   output warpgroup (warps 0–3): per tile, scores q kᵀ (m64n64, both operands K-major in shared memory) and the
//     right product q S_b (m64n128, S_b's bf16 copy MN-major in shared memory) in one wgmma group; rows scaled by
//     λ^r; the scores masked and decayed in registers become the A operand of P v (m64n128, v MN-major); o stored
//     from registers.
//   state warpgroup (warps 4–7): the fp32 state in registers (two m64n128 accumulators: rows 0–63 and 64–127 of S),
//     S ← λ^nb S + (diag(λ^{nb−r}) k)ᵀ v with the decayed keys as register A fragments (ldmatrix.trans) and v from
//     shared memory; then S_{b+1}'s bf16 copy into the other of two buffers (sfull / sempty hand them over), so
//     the state warpgroup runs one tile ahead of the output warpgroup.
#include "kernels/cuda/lightning_attention_wgmma.cuh"

#include <cuda.h>
#include <cuda_bf16.h>

#include "core/cuda_context.h"
#include "core/error.h"
#include "kernels/cuda/lightning_attention_state.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/tma.cuh"
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || !defined(__CUDA_ARCH__)
#include "kernels/cuda/wgmma.cuh"
#endif

namespace lat::kernels::cuda {
namespace {

constexpr int kD = 128, kBlk = 64, kStages = 3;
constexpr int kBoxBytes = kBlk * 128;                    // one 64-feature box of a tile
constexpr int kTileBytes = 2 * kBoxBytes;                // q, k or v of one tile
constexpr int kStageBytes = 3 * kTileBytes;
constexpr int kStateBox = kD * 128;                      // 64 columns of the bf16 state copy
constexpr int kStateBytes = 2 * kStateBox;
constexpr int kBarriers = 2 * kStages + 4;               // full, empty, sfull, sempty
constexpr int kPowTable = 80;                            // λ^x, x ∈ [0, 64]
constexpr int kSmem = 1024 + kStages * kStageBytes + 2 * kStateBytes + kBarriers * 8 + kPowTable * 4;
constexpr int kThreads = 384;  // three warpgroups: output, state, producer (one lane of it)

struct WgParams {
  int perm[3];
  void* o;
  int64_t o_sb, o_sh, o_st;
  const float* log_decay;
  int heads;
  int64_t n;
  int seg_blocks, nseg;
  const float* start;
  int start_mode, start_slots, start_step;
  float* final_state;
};

__device__ __forceinline__ uint32_t scale_bf16x2(uint32_t x, float wlo, float whi) {
  const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&x));
  return pack_bf16(f.x * wlo, f.y * whi);
}

__global__ void __launch_bounds__(kThreads, 1)
    la2_wgmma_kernel(const __grid_constant__ CUtensorMap mq, const __grid_constant__ CUtensorMap mk,
                     const __grid_constant__ CUtensorMap mv, const WgParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  const uint32_t tiles = base, states = tiles + kStages * kStageBytes, bars = states + 2 * kStateBytes;
  float* sPow = reinterpret_cast<float*>(smem_raw + (bars - raw) + kBarriers * 8);
  auto full = [&](int s) { return bars + 8 * s; };
  auto empty = [&](int s) { return bars + 8 * (kStages + s); };
  auto sfull = [&](int s) { return bars + 8 * (2 * kStages + s); };
  auto sempty = [&](int s) { return bars + 8 * (2 * kStages + 2 + s); };

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int seg = blockIdx.x;
  const int64_t bh = blockIdx.y;
  const float s = p.log_decay[bh % p.heads];
  const int64_t tb = static_cast<int64_t>(seg) * p.seg_blocks * kBlk;
  const int64_t te = min(p.n, tb + static_cast<int64_t>(p.seg_blocks) * kBlk);
  const int nblk = te > tb ? static_cast<int>((te - tb + kBlk - 1) / kBlk) : 0;
  for (int i = tid; i < kPowTable; i += kThreads) sPow[i] = expf(-s * static_cast<float>(i));
  if (tid == 0) {
    for (int i = 0; i < kStages; ++i) {
      mbar_init(full(i), 1);
      mbar_init(empty(i), 256);
    }
    for (int i = 0; i < 2; ++i) {
      mbar_init(sfull(i), 128);
      mbar_init(sempty(i), 128);
    }
    mbar_init_fence();
  }
  __syncthreads();

  // Registers: the state warpgroup holds S (128 fp32 per thread) plus its A fragments, the output warpgroup o, the
  // scores and P; the producer needs few. 128 · (208 + 240 + 56) = 64,512 of 65,536.
  if (warp >= 8) {  // producer
    asm volatile("setmaxnreg.dec.sync.aligned.u32 56;\n" ::: "memory");
    if (warp == 8 && lane == 0) {
      const int h = static_cast<int>(bh % p.heads), b = static_cast<int>(bh / p.heads);
      const CUtensorMap* maps[3] = {&mq, &mk, &mv};
      for (int i = 0; i < nblk; ++i) {
        const int st = i % kStages;
        if (i >= kStages) mbar_wait(empty(st), ((i / kStages) - 1) & 1);
        mbar_arrive_expect_tx(full(st), kStageBytes);
        const int row = static_cast<int>(tb + static_cast<int64_t>(i) * kBlk);
#pragma unroll
        for (int w = 0; w < 3; ++w) {
          auto coord = [&](int dim) {
            const int pm = p.perm[w];
            return (pm & 3) == dim ? row : ((pm >> 2) & 3) == dim ? h : b;
          };
#pragma unroll
          for (int bx = 0; bx < 2; ++bx)
            tma_load_4d(tiles + st * kStageBytes + w * kTileBytes + bx * kBoxBytes, maps[w], bx * 64, coord(1),
                        coord(2), coord(3), full(st));
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
          if (p.start_mode == 1) x = p.start[bh * kD * kD + i * kD + c];
          else if (p.start_mode == 2) x = p.start[bh * kD * kD + c * kD + i];
          else if (p.start_mode >= 3) {
            const float* slot = p.start + (bh * p.start_slots + static_cast<int64_t>(seg) * p.start_step) * kD * kD;
            x = p.start_mode == 3 ? slot[i * kD + c] : slot[c * kD + i];
          }
          acc[hf][j * 4 + q] = x;
        }
    // S's bf16 copy: element (i, c) of buffer `buf` at box c/64, row i (128-byte swizzle), read by wgmma as the
    // MN-major B operand of q S (K = i, N = c).
    auto write_state = [&](int buf) {
      const uint32_t dst = states + buf * kStateBytes;
#pragma unroll
      for (int hf = 0; hf < 2; ++hf)
#pragma unroll
        for (int j = 0; j < 16; ++j)
#pragma unroll
          for (int hh = 0; hh < 2; ++hh) {
            const int i = hf * 64 + wq * 16 + g + hh * 8, c = j * 8 + 2 * t4;
            const uint32_t v = pack_bf16(acc[hf][j * 4 + 2 * hh], acc[hf][j * 4 + 2 * hh + 1]);
            asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(dst + swz<kD>(i, c) + (c & 7) * 2), "r"(v) : "memory");
          }
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
      mbar_wait(full(st), (b / kStages) & 1);
      const uint32_t kt = tiles + st * kStageBytes + kTileBytes, vt = kt + kTileBytes;
      // A = (diag(w) k)ᵀ, w_r = λ^{nb−r} (0 past nb): the fragments of both halves of S and all four 16-token steps
      // are built before the first issue (registers of A must stay untouched until the wait).
      uint32_t a[2][4][4];
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        const int r = kk * 16 + 2 * t4;
        auto w = [&](int rr) { return rr < nb ? sPow[nb - rr] : 0.f; };
        const float wa = w(r), wb = w(r + 1), wc = w(r + 8), wd = w(r + 9);
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          uint32_t(&f)[4] = a[hf][kk];
          ldsm_x4_t(f, kt + swz<kBlk>(kk * 16 + (lane & 7) + (lane >> 4) * 8, hf * 64 + wq * 16 + ((lane >> 3) & 1) * 8));
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
        const int buf = (b + 1) & 1;
        if (b >= 1) mbar_wait(sempty(buf), ((b - 1) >> 1) & 1);  // the output warpgroup is done with S_{b−1}
        write_state(buf);
      }
    }
    if (p.final_state != nullptr && seg == p.nseg - 1) {
      float* dst = p.final_state + bh * kD * kD;
#pragma unroll
      for (int hf = 0; hf < 2; ++hf)
#pragma unroll
        for (int j = 0; j < 16; ++j)
#pragma unroll
          for (int hh = 0; hh < 2; ++hh) {
            const int i = hf * 64 + wq * 16 + g + hh * 8, c = j * 8 + 2 * t4;
            *reinterpret_cast<float2*>(dst + i * kD + c) = make_float2(acc[hf][j * 4 + 2 * hh], acc[hf][j * 4 + 2 * hh + 1]);
          }
    }
    return;
  }

  // Output warpgroup: rows wo·16 + {g, g + 8} of the tile.
  asm volatile("setmaxnreg.inc.sync.aligned.u32 208;\n" ::: "memory");
  const int wo = warp;
  const int r0 = wo * 16 + g, r1 = r0 + 8;
  __nv_bfloat16* const out = static_cast<__nv_bfloat16*>(p.o) + (bh / p.heads) * p.o_sb + (bh % p.heads) * p.o_sh;
  float sc[32] = {}, o[64] = {};
  for (int b = 0; b < nblk; ++b) {
    const int st = b % kStages, buf = b & 1;
    const int64_t t0 = tb + static_cast<int64_t>(b) * kBlk;
    const uint32_t qt = tiles + st * kStageBytes, kt = qt + kTileBytes, vt = kt + kTileBytes;
    const uint32_t sS = states + buf * kStateBytes;
    mbar_wait(full(st), (b / kStages) & 1);
    mbar_wait(sfull(buf), (b >> 1) & 1);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 8; ++kk) {
      const uint32_t koff = (kk >> 2) * kBoxBytes + (kk & 3) * 32;
      wgmma_m64n64k16_ss(sc, wgmma_desc(qt + koff, 16, 1024), wgmma_desc(kt + koff, 16, 1024), kk > 0);
    }
#pragma unroll
    for (int kk = 0; kk < 8; ++kk) {
      const uint32_t koff = (kk >> 2) * kBoxBytes + (kk & 3) * 32;
      wgmma_m64n128k16_ss_tb(o, wgmma_desc(qt + koff, 16, 1024), wgmma_desc(sS + kk * 2048, kStateBox, 1024), kk > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_fence_operands(sc);
    wgmma_fence_operands(o);
    mbar_arrive(sempty(buf));
    const float w0 = sPow[r0], w1 = sPow[r1];
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      o[j * 4 + 0] *= w0;
      o[j * 4 + 1] *= w0;
      o[j * 4 + 2] *= w1;
      o[j * 4 + 3] *= w1;
    }
    // P = (q kᵀ) ⊙ M in bf16, laid out as the A fragments of the four 16-key steps of P v.
    uint32_t pa[4][4];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int c = j * 8 + 2 * t4;
      const float v00 = r0 >= c ? sPow[r0 - c] * sc[j * 4 + 0] : 0.f;
      const float v01 = r0 >= c + 1 ? sPow[r0 - c - 1] * sc[j * 4 + 1] : 0.f;
      const float v10 = r1 >= c ? sPow[r1 - c] * sc[j * 4 + 2] : 0.f;
      const float v11 = r1 >= c + 1 ? sPow[r1 - c - 1] * sc[j * 4 + 3] : 0.f;
      pa[j >> 1][(j & 1) * 2 + 0] = pack_bf16(v00, v01);
      pa[j >> 1][(j & 1) * 2 + 1] = pack_bf16(v10, v11);
    }
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) wgmma_m64n128k16_rs_tb(o, pa[kk], wgmma_desc(vt + kk * 2048, kBoxBytes, 1024));
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_fence_operands(o);
    mbar_arrive(empty(st));
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const int64_t t = t0 + (hh ? r1 : r0);
      if (t < te) {
        __nv_bfloat16* dst = out + t * p.o_st + 2 * t4;
#pragma unroll
        for (int j = 0; j < 16; ++j)
          *reinterpret_cast<uint32_t*>(dst + j * 8) = pack_bf16(o[j * 4 + 2 * hh], o[j * 4 + 2 * hh + 1]);
      }
    }
  }
#endif
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
  LAT_CHECK(la2_view_supported(a.o), "lightning_attention (CUDA): the wgmma sweep needs 16-byte aligned o rows");
  LAT_CHECK(a.n > 0 && a.n < (int64_t{1} << 31) - 256 && a.bh > 0 && a.bh <= 65535 && a.heads > 0 &&
                a.bh % a.heads == 0 && a.nseg >= 1 && a.seg_blocks >= 1,
            "lightning_attention (CUDA): wgmma sweep shape out of range");
  static bool configured = false;
  if (!configured) {
    LAT_CUDA_CHECK(cudaFuncSetAttribute(la2_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    configured = true;
  }
  WgParams p{};
  const int64_t batch = a.bh / a.heads;
  const CUtensorMap mq = la2_tensor_map(a.q, kD, a.n, a.heads, batch, kBlk, p.perm[0]);
  const CUtensorMap mk = la2_tensor_map(a.k, kD, a.n, a.heads, batch, kBlk, p.perm[1]);
  const CUtensorMap mv = la2_tensor_map(a.v, kD, a.n, a.heads, batch, kBlk, p.perm[2]);
  p.o = a.o.data;
  p.o_sb = a.o.batch_stride;
  p.o_sh = a.o.head_stride;
  p.o_st = a.o.token_stride;
  p.log_decay = a.log_decay;
  p.heads = a.heads;
  p.n = a.n;
  p.seg_blocks = a.seg_blocks;
  p.nseg = a.nseg;
  p.start = a.start;
  p.start_mode = a.start == nullptr ? 0 : a.start_mode;
  p.start_slots = a.start_slots;
  p.start_step = a.start_step;
  p.final_state = a.final_state;
  la2_wgmma_kernel<<<dim3(static_cast<unsigned>(a.nseg), static_cast<unsigned>(a.bh)), kThreads, kSmem,
                     ::lat::cuda::stream()>>>(mq, mk, mv, p);
  LAT_CUDA_CHECK_LAUNCH();
}

}  // namespace lat::kernels::cuda
