// The state-only pass of the segmented Lightning Attention-2 sweep: see lightning_attention_state.cuh.
//
// One CTA per (slot, bh), two CTAs per SM. The slot's k', v' stream in stages of TOK tokens through an NST-deep
// ring of shared-memory buffers, loaded by TMA (one 64-feature × TOK-token box per operand and 64 features,
// 128-byte swizzle, out-of-range rows zero-filled) with an mbarrier per buffer; no CTA-wide barrier in the loop:
// the warp that finishes a buffer last (a shared counter per buffer) refills it. CW warps own a WR × WC grid of
// blocks of the fp32 d × d state in registers and run mma.sync m16n8k16 (A = k'ᵀ through ldmatrix.trans,
// B = v'). Decay: the tokens of a group of G tokens (G = 128,
// or 64 when the slot length is not a multiple of 128) are weighted by λ^{G − r − shift} (r = position in the
// group), taken from a per-CTA table as bf16 hi + lo pairs (k·w = fma(k, hi, k·lo): one bf16 rounding of the
// product, two instructions per pair), and the accumulators are multiplied by λ^G once per group. A group cut by
// n (the slot's last) computes its weights relative to n instead.
#include "kernels/cuda/lightning_attention_state.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/pointwise.cuh"

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "core/cuda_context.h"
#include "core/error.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/tma.cuh"

namespace lat::kernels::cuda {
namespace {

constexpr int kMaxGroup = 128;  // tokens between two rescalings of the accumulators

// x · (hi + lo) for two bf16 lanes with one rounding of the (dominant) product: fma(x, hi, round(x · lo)).
__device__ __forceinline__ uint32_t weigh(uint32_t x, uint32_t hi, uint32_t lo) {
  uint32_t t, r;
  asm("fma.rn.bf16x2 %0, %1, %2, %3;\n" : "=r"(t) : "r"(x), "r"(lo), "r"(0x80008000u));
  asm("fma.rn.bf16x2 %0, %1, %2, %3;\n" : "=r"(r) : "r"(x), "r"(hi), "r"(t));
  return r;
}
// Weights (w0, w1) of two consecutive tokens as bf16x2 hi and lo parts (w ≈ hi + lo to ~2^-17).
__device__ __forceinline__ void split_weights(float w0, float w1, uint32_t& hi, uint32_t& lo) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(w0, w1);
  const float2 hf = __bfloat1622float2(h);
  const __nv_bfloat162 l = __floats2bfloat162_rn(w0 - hf.x, w1 - hf.y);
  hi = *reinterpret_cast<const uint32_t*>(&h);
  lo = *reinterpret_cast<const uint32_t*>(&l);
}

struct StateParams {
  const float* log_decay;
  float* out;
  int64_t n;
  int heads, slot_tokens, slots_total, group, reverse, shift;
  int window_bits;  // the decay window (see la2_state_pass); 0: every token of the slot
  int perm_k, perm_v;  // tensor-map dimension (1..3) of token, head, batch: bits 0-1, 2-3, 4-5
  int map_key, map_val;  // apply the kernel's feature map F to this operand's fragments
  int64_t pos_offset;    // positional maps (F = kCosineFeature): absolute position of global row 0,
  float pos_scale;       // π/(2M),
  int pos_cos;           // and cos (else sin) as the weight
  const float* key_divisor;  // kernels with DIV: key row r divided by key_divisor[bh·n + r] (La2StateMap)
};

template <int D, int CW, int TOK, int NST>
struct StateCfg {
  static constexpr int kBoxes = D / 64;                    // 64-feature (128-byte) TMA boxes per operand row
  static constexpr int kOperandBytes = TOK * D * 2;        // one operand of one stage
  static constexpr int kStageBytes = 2 * kOperandBytes;    // k' and v'
  static constexpr int kThreads = CW * 32;
  static constexpr int kWR = CW >= 8 ? 4 : 2, kWC = CW / kWR;  // warp grid over the state
  static constexpr int kWM = D / kWR, kWN = D / kWC;       // state block of one warp
  static constexpr int kMT = kWM / 16, kNP = kWN / 16;     // 16-row tiles, pairs of 8-column tiles
  static constexpr int kTable = (kMaxGroup / 16) * 4 * 16;  // bytes of one weight table
  static constexpr int kSmem = 1024 + NST * kStageBytes + ((12 * NST + 15) & ~15) + 2 * kTable;
  static_assert(TOK % 16 == 0 && kMaxGroup % TOK == 0 && 64 % TOK == 0, "stage tokens");
  static_assert(kWR * kWC == CW && kWM % 16 == 0 && kWN % 16 == 0, "warp grid");
};

// Weight-table entry (k-step kk, t4) of a group starting at sweep token g0: hi/lo of the buffer rows
// kk·16 + 2·t4 + {0, 1} and + {8, 9} (the rows of one A fragment), weight λ^{end − t − shift} of the row's sweep
// token t (0 for t ≥ te).
template <int TOK>
__device__ uint4 weight_entry(int idx, float s, int64_t g0, int64_t end, int64_t te, int reverse, int shift) {
  const int kk = idx >> 2, q4 = idx & 3;
  uint32_t hw[2], lw[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float w[2];
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int pos = kk * 16 + 2 * q4 + half * 8 + e, qs = pos / TOK, j = pos % TOK;
      const int64_t t = g0 + qs * TOK + (reverse ? TOK - 1 - j : j);
      w[e] = t < te ? expf(-s * static_cast<float>(end - t - shift)) : 0.f;
    }
    split_weights(w[0], w[1], hw[half], lw[half]);
  }
  return make_uint4(hw[0], lw[0], hw[1], lw[1]);
}

// F: the feature map (pointwise.cuh code) of the operands flagged in p.map_key / p.map_val, applied to their
// fragments after ldmatrix (a pointwise map does not care about the layout; a positional one weighs the two tokens
// of each bf16x2 register, the same tokens in the A (k'ᵀ) and B (v') fragments); F = 0 compiles none of it.
// DIV: each key row's decay weight is divided by p.key_divisor at its global row (so the key is still rounded once).
template <int D, int CW, int TOK, int NST, int F, bool DIV = false>
__global__ void __launch_bounds__(StateCfg<D, CW, TOK, NST>::kThreads, 2)
    la2_state_kernel(const __grid_constant__ CUtensorMap mk, const __grid_constant__ CUtensorMap mv,
                     const StateParams p) {
  using C = StateCfg<D, CW, TOK, NST>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int slot = blockIdx.x;
  const int64_t bh = blockIdx.y;
  int64_t ts = static_cast<int64_t>(slot) * p.slot_tokens;
  const int64_t te = min(p.n, ts + p.slot_tokens);
  float* dst = p.out + (bh * p.slots_total + slot) * D * D;
  if (te <= ts) {  // the slot starts at or past n: empty
    for (int i = tid; i < D * D / 4; i += C::kThreads)
      reinterpret_cast<float4*>(dst)[i] = make_float4(0.f, 0.f, 0.f, 0.f);
    return;
  }
  const float s = p.log_decay[bh % p.heads];
  const int G = p.group;
  // The decay window: whole groups before it are skipped; the groups kept start where they did, so every weight
  // is the one the full slot would use.
  const double window = la2_decay_window(s, p.window_bits);
  if (window < static_cast<double>(te - ts)) ts += (te - ts - static_cast<int64_t>(window)) / G * G;
  const int nstage = static_cast<int>((te - ts + TOK - 1) / TOK);
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t pad = ((raw + 1023u) & ~1023u) - raw;
  const uint32_t tiles = raw + pad;
  const uint32_t full0 = tiles + NST * C::kStageBytes;
  unsigned char* aux = smem_raw + pad + NST * C::kStageBytes;  // 1024-byte aligned
  unsigned* done = reinterpret_cast<unsigned*>(aux + 8 * NST);   // [NST] warps done with each buffer, cumulative
  uint4* sW = reinterpret_cast<uint4*>(aux + ((12 * NST + 15) & ~15));  // [2][G/16][4]: full groups, cut group
  const int h = static_cast<int>(bh % p.heads), b = static_cast<int>(bh / p.heads);

  // Stage i (sweep tokens ts + i·TOK ..) into buffer i % NST, completing on its mbarrier.
  auto issue = [&](int i) {
    const int st = i % NST;
    const uint32_t fb = full0 + 8 * st;
    mbar_arrive_expect_tx(fb, C::kStageBytes);
    const int64_t t0 = ts + static_cast<int64_t>(i) * TOK;
    const int row = static_cast<int>(p.reverse ? p.n - t0 - TOK : t0);  // may be < 0: zero-filled rows
    auto coord = [&](int perm, int dim) { return (perm & 3) == dim ? row : ((perm >> 2) & 3) == dim ? h : b; };
    const uint32_t kdst = tiles + st * C::kStageBytes, vdst = kdst + C::kOperandBytes;
#pragma unroll
    for (int bx = 0; bx < C::kBoxes; ++bx) {
      tma_load_4d(kdst + bx * TOK * 128, &mk, bx * 64, coord(p.perm_k, 1), coord(p.perm_k, 2), coord(p.perm_k, 3),
                  fb);
      tma_load_4d(vdst + bx * TOK * 128, &mv, bx * 64, coord(p.perm_v, 1), coord(p.perm_v, 2), coord(p.perm_v, 3),
                  fb);
    }
  };

  if (tid == 0) {
    for (int i = 0; i < NST; ++i) {
      mbar_init(full0 + 8 * i, 1);
      done[i] = 0;
    }
    mbar_init_fence();
  }
  // Weights of a full group: λ^{G − r − shift}, r = position in the group in sweep order.
  for (int idx = tid; idx < (G / 16) * 4; idx += C::kThreads)
    sW[idx] = weight_entry<TOK>(idx, s, 0, G, G, p.reverse, p.shift);
  __syncthreads();
  if (tid == 0)
    for (int i = 0; i < NST && i < nstage; ++i) issue(i);

  constexpr int MT = C::kMT, NP = C::kNP;
  const int g = lane >> 2, t4 = lane & 3;
  const int srow0 = (warp % C::kWR) * C::kWM, scol0 = (warp / C::kWR) * C::kWN;
  uint32_t offA[MT], offB[NP];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
    offA[mt] = swz<TOK>((lane & 7) + (lane >> 4) * 8, srow0 + mt * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
  for (int np = 0; np < NP; ++np)
    offB[np] = swz<TOK>((lane & 7) + ((lane >> 3) & 1) * 8, scol0 + np * 16 + (lane >> 4) * 8);
  float acc[MT][2 * NP][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < 2 * NP; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.f;
  const float carry_full = expf(-s * static_cast<float>(G));
  const uint4* table = sW;
  int gpos = 0;  // tokens of the current group before this stage
  for (int i = 0; i < nstage; ++i) {
    const int st = i % NST;
    if (gpos == 0) {
      // A new group: S ← λ^len S. The group cut by n (at most one, the slot's last) gets its own weight table,
      // relative to n; rows past n hold zeros and weigh 0.
      const int64_t g0 = ts + static_cast<int64_t>(i) * TOK, gend = min(g0 + G, te);
      float c = carry_full;
      if (gend - g0 < G) {
        uint4* cut = sW + (kMaxGroup / 16) * 4;
        for (int idx = tid; idx < (G / 16) * 4; idx += C::kThreads)
          cut[idx] = weight_entry<TOK>(idx, s, g0, gend, te, p.reverse, p.shift);
        asm volatile("bar.sync 1, %0;\n" ::"n"(C::kThreads) : "memory");
        table = cut;
        c = expf(-s * static_cast<float>(gend - g0));
      }
      if (i > 0) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int nt = 0; nt < 2 * NP; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[mt][nt][e] *= c;
      }
    }
    mbar_wait(full0 + 8 * st, (i / NST) & 1);
    const uint32_t kb = tiles + st * C::kStageBytes, vb = kb + C::kOperandBytes;
    // Global row of this stage's buffer row 0 (as in issue(); rows outside [0, n) hold zeros).
    const int64_t row_base = p.reverse ? p.n - (ts + static_cast<int64_t>(i) * TOK) - TOK
                                       : ts + static_cast<int64_t>(i) * TOK;
#pragma unroll
    for (int kk = 0; kk < TOK / 16; ++kk) {
      // Positional weights of this thread's fragment tokens: buffer rows kk·16 + 2·t4 + {0, 1} and + {8, 9}.
      float pw[4] = {1.f, 1.f, 1.f, 1.f};
      if constexpr (positional_feature(F)) {
        const int64_t r = p.pos_offset + row_base + kk * 16 + 2 * t4;
        pw[0] = cosformer_weight(r, p.pos_scale, p.pos_cos);
        pw[1] = cosformer_weight(r + 1, p.pos_scale, p.pos_cos);
        pw[2] = cosformer_weight(r + 8, p.pos_scale, p.pos_cos);
        pw[3] = cosformer_weight(r + 9, p.pos_scale, p.pos_cos);
      }
      uint4 w = table[((gpos >> 4) + kk) * 4 + t4];
      if constexpr (DIV) {  // w / divisor of rows kk·16 + 2·t4 + {0, 1, 8, 9} (rows outside [0, n) weigh 0)
        float x[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const int64_t row = row_base + kk * 16 + 2 * t4 + (r & 1) + (r & 2) * 4;
          x[r] = row >= 0 && row < p.n ? 1.f / p.key_divisor[bh * p.n + row] : 0.f;
        }
        auto redo = [](uint32_t hi, uint32_t lo, float x0, float x1, uint32_t& nh, uint32_t& nl) {
          const float2 h = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&hi));
          const float2 l = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&lo));
          split_weights((h.x + l.x) * x0, (h.y + l.y) * x1, nh, nl);
        };
        redo(w.x, w.y, x[0], x[1], w.x, w.y);
        redo(w.z, w.w, x[2], x[3], w.z, w.w);
      }
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        ldsm_x4_t(a[mt], kb + kk * 16 * 128 + offA[mt]);
        if constexpr (F != 0) {
          if (p.map_key) {
#pragma unroll
            for (int r = 0; r < 4; ++r) a[mt][r] = feature_map_bf16x2<F>(a[mt][r], pw[r & 2], pw[(r & 2) + 1]);
          }
        }
        a[mt][0] = weigh(a[mt][0], w.x, w.y);
        a[mt][1] = weigh(a[mt][1], w.x, w.y);
        a[mt][2] = weigh(a[mt][2], w.z, w.w);
        a[mt][3] = weigh(a[mt][3], w.z, w.w);
      }
#pragma unroll
      for (int np = 0; np < NP; ++np) {
        uint32_t bb[4];
        ldsm_x4_t(bb, vb + kk * 16 * 128 + offB[np]);
        if constexpr (F != 0) {
          if (p.map_val) {
#pragma unroll
            for (int r = 0; r < 4; ++r) bb[r] = feature_map_bf16x2<F>(bb[r], pw[(r & 1) * 2], pw[(r & 1) * 2 + 1]);
          }
        }
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma16816(acc[mt][2 * np], a[mt], bb[0], bb[1]);
          mma16816(acc[mt][2 * np + 1], a[mt], bb[2], bb[3]);
        }
      }
    }
    // The last warp done with this buffer refills it with stage i + NST.
    __syncwarp();
    if (lane == 0 && i + NST < nstage) {
      __threadfence_block();
      const unsigned before = atomicAdd(done + st, 1u);
      if (before == static_cast<unsigned>(CW * (i / NST + 1) - 1)) {
        __threadfence_block();
        fence_proxy_async_shared();
        issue(i + NST);
      }
    }
    gpos += TOK;
    if (gpos == G) gpos = 0;
  }
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < 2 * NP; ++nt) {
      const int i = srow0 + mt * 16 + g, j = scol0 + nt * 8 + 2 * t4;
      *reinterpret_cast<float2*>(dst + i * D + j) = make_float2(acc[mt][nt][0], acc[mt][nt][1]);
      *reinterpret_cast<float2*>(dst + (i + 8) * D + j) = make_float2(acc[mt][nt][2], acc[mt][nt][3]);
    }
}

template <int D, int CW, int TOK, int NST, int F, bool DIV = false>
void launch_state_as(const La2View& key, const La2View& val, StateParams p, int64_t bh,
                     int nslots) {
  using C = StateCfg<D, CW, TOK, NST>;
  static bool configured = false;
  if (!configured) {
    LAT_CUDA_CHECK(cudaFuncSetAttribute(la2_state_kernel<D, CW, TOK, NST, F, DIV>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmem));
    configured = true;
  }
  const int64_t batch = bh / p.heads;
  const CUtensorMap mk = la2_tensor_map(key, D, p.n, p.heads, batch, TOK, p.perm_k);
  const CUtensorMap mv = la2_tensor_map(val, D, p.n, p.heads, batch, TOK, p.perm_v);
  la2_state_kernel<D, CW, TOK, NST, F, DIV><<<dim3(static_cast<unsigned>(nslots), static_cast<unsigned>(bh)),
                                         C::kThreads, C::kSmem, ::lat::cuda::stream()>>>(mk, mv, p);
  LAT_CUDA_CHECK_LAUNCH();
}
template <int D, int CW, int TOK, int NST>
void launch_state(const La2View& key, const La2View& val, const StateParams& p, int64_t bh,
                  int nslots, La2Feature feature) {
  if (p.key_divisor != nullptr) return launch_state_as<D, CW, TOK, NST, 0, true>(key, val, p, bh, nslots);
  switch (feature) {
    case La2Feature::Identity: return launch_state_as<D, CW, TOK, NST, 0>(key, val, p, bh, nslots);
    case La2Feature::Elu1: return launch_state_as<D, CW, TOK, NST, 1>(key, val, p, bh, nslots);
    case La2Feature::Silu: return launch_state_as<D, CW, TOK, NST, 2>(key, val, p, bh, nslots);
    case La2Feature::CosSin:
    case La2Feature::CosCos: return launch_state_as<D, CW, TOK, NST, kCosineFeature>(key, val, p, bh, nslots);
  }
}

}  // namespace

namespace {
PFN_cuTensorMapEncodeTiled_v12000 encode_tiled() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
    LAT_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q));
    LAT_CHECK(f != nullptr && q == cudaDriverEntryPointSuccess,
              "lightning_attention (CUDA): cuTensorMapEncodeTiled is not available");
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
  }();
  return fn;
}
}  // namespace

// Tensor map of one operand: dims (feature, then token / head / batch in ascending stride), box 64 × TOK × 1 × 1,
// 128-byte swizzle, out-of-range elements read as zero, L2 promotion 128 B (the box row; measured 3.70 TB/s
// against 3.60 with 256 B, docs/perf/la2.md v6).
CUtensorMap la2_tensor_map(const La2View& op, int d, int64_t n, int64_t heads, int64_t batch, int tok,
                           int& perm) {
  LAT_CHECK(la2_view_supported(op),
            "lightning_attention (CUDA): TMA operands need 16-byte aligned rows (strides multiples of 8 elements)");
  struct Axis {
    int which;  // 0 token, 1 head, 2 batch
    int64_t size, stride;
  } ax[3] = {{0, n, op.token_stride}, {1, heads, op.head_stride}, {2, batch, op.batch_stride}};
  int64_t extent = d;
  for (const Axis& a : ax)
    if (a.size > 1) extent = std::max(extent, a.stride * a.size);
  for (Axis& a : ax)
    if (a.size == 1) a.stride = extent;  // any stride will do; keep them ascending
  std::stable_sort(ax, ax + 3, [](const Axis& x, const Axis& y) { return x.stride < y.stride; });
  cuuint64_t dims[4] = {static_cast<cuuint64_t>(d), 0, 0, 0};
  cuuint64_t strides[3];
  cuuint32_t box[4] = {64, 1, 1, 1}, estr[4] = {1, 1, 1, 1};
  perm = 0;
  for (int k = 0; k < 3; ++k) {
    dims[k + 1] = static_cast<cuuint64_t>(ax[k].size);
    strides[k] = static_cast<cuuint64_t>(ax[k].stride) * 2;
    if (ax[k].which == 0) box[k + 1] = static_cast<cuuint32_t>(tok);
    perm |= (k + 1) << (2 * ax[k].which);
  }
  CUtensorMap map;
  const CUresult r = encode_tiled()(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, op.data, dims,
                                    strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                    CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  LAT_CHECK(r == CUDA_SUCCESS, "lightning_attention (CUDA): cuTensorMapEncodeTiled failed (", static_cast<int>(r),
            ")");
  return map;
}

int la2_decay_window_bits() {
  // LAT_LA2_DECAY_WINDOW=0 reads every token of every slot (measurement: the same binary without the window).
  static const int bits = [] {
    const char* e = std::getenv("LAT_LA2_DECAY_WINDOW");
    return e != nullptr && e[0] == '0' ? 0 : 40;
  }();
  return bits;
}

void la2_state_pass(int d, const La2View& key, const La2View& val, const float* log_decay,
                    int heads, int64_t bh, int64_t n, int slot_tokens, int nslots_computed, int slots_total,
                    bool reverse, int shift, float* out, const La2StateMap& map) {
  if (nslots_computed <= 0 || bh <= 0) return;
  LAT_CHECK(d == 64 || d == 128, "lightning_attention (CUDA): state pass needs d ∈ {64, 128}, got ", d);
  LAT_CHECK(slot_tokens > 0 && slot_tokens % 64 == 0, "lightning_attention (CUDA): slot length ", slot_tokens,
            " is not a multiple of 64");
  LAT_CHECK(n > 0 && n < (int64_t{1} << 31) - 256 && bh <= 65535 && heads > 0 && bh % heads == 0 &&
                nslots_computed <= slots_total,
            "lightning_attention (CUDA): state pass shape out of range");
  StateParams p{};
  p.log_decay = log_decay;
  p.out = out;
  p.n = n;
  p.heads = heads;
  p.slot_tokens = slot_tokens;
  p.slots_total = slots_total;
  p.group = slot_tokens % kMaxGroup == 0 ? kMaxGroup : 64;
  p.reverse = reverse ? 1 : 0;
  p.shift = shift;
  p.window_bits = la2_decay_window_bits();
  const La2Feature feature = map.key || map.val ? map.feature : La2Feature::Identity;
  p.map_key = map.key ? 1 : 0;
  p.map_val = map.val ? 1 : 0;
  p.pos_offset = map.position_offset;
  p.pos_scale = map.scale;
  p.pos_cos = feature == La2Feature::CosCos ? 1 : 0;
  LAT_CHECK(map.key_divisor == nullptr || feature == La2Feature::Identity,
            "lightning_attention (CUDA): the state pass divides identity keys only");
  p.key_divisor = map.key_divisor;
  // Measured at d = 128 (docs/perf/la2.md, v6): 8 warps × 64-token stages × 3, 8 warps × 32 × 6 and 4 warps
  // (64 × 64 blocks) × 64 × 3 all ran at ≈ 3.6 TB/s.
  if (d == 64) launch_state<64, 4, 64, 6>(key, val, p, bh, nslots_computed, feature);
  else launch_state<128, 8, 64, 3>(key, val, p, bh, nslots_computed, feature);
}

}  // namespace lat::kernels::cuda
