// Lightning Attention-2 on sm_90: see lightning_attention.cuh for the scheme.
#include "kernels/cuda/lightning_attention.cuh"

#include <cuda_bf16.h>

#include <cstdint>

#include "core/cuda_context.h"
#include "core/error.h"
#include "kernels/cuda/common.cuh"

namespace lat::kernels::cuda {
namespace {

constexpr int kBlk = 64;       // rows of one tile along N
constexpr int kThreads = 256;  // 8 warps

// ---------------------------------------------------------------------------------------------------------------
// PTX helpers
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  const int bytes = valid ? 16 : 0;  // 0: zero-fill
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const bf16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const bf16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}
__device__ __forceinline__ uint32_t scale_bf16x2(uint32_t x, float wlo, float whi) {
  __nv_bfloat162 h = *reinterpret_cast<__nv_bfloat162*>(&x);
  const float2 f = __bfloat1622float2(h);
  return pack_bf16(f.x * wlo, f.y * whi);
}
// λ^x = exp(−s·x), x ≥ 0.
__device__ __forceinline__ float decay_pow(float s, int x) { return expf(-s * static_cast<float>(x)); }

// ---------------------------------------------------------------------------------------------------------------
// The tensor-core sweep. Sweep coordinate t̃ ∈ [0, N); global row = reverse ? N−1−t̃ : t̃.
struct SweepParams {
  const bf16* q;
  const bf16* k;
  const bf16* v;
  bf16* o;
  const float* log_decay;
  int heads;
  int64_t n;
  int seg_blocks;  // tiles per segment
  int nseg;
  const float* start;  // see start_mode
  int start_mode;      // 0 zeros, 1 start[bh] (d×d), 2 start[bh] transposed, 3 start[bh·nseg + seg]
  float* final_state;  // [bh][d][d], written by the last segment (nullable)
  float* local_out;    // STATE_ONLY: [bh·nseg + seg][d][d]
  int reverse;
  int shift;
};

template <int D>
constexpr int sweep_smem_bytes() {
  return (3 * 2 * kBlk * (D + 8) + D * (D + 8) + kBlk * (kBlk + 8)) * 2;
}

template <int D, bool STATE_ONLY>
__global__ void __launch_bounds__(kThreads, 1) la2_sweep_kernel(const SweepParams p) {
  constexpr int LD = D + 8, LDP = kBlk + 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* sQ = reinterpret_cast<bf16*>(smem_raw);
  bf16* sK = sQ + 2 * kBlk * LD;
  bf16* sV = sK + 2 * kBlk * LD;
  bf16* sS = sV + 2 * kBlk * LD;
  bf16* sP = sS + D * LD;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int64_t bh = blockIdx.y;
  const int seg = blockIdx.x;
  const float s = p.log_decay[bh % p.heads];
  const int64_t n = p.n;
  const int64_t tb = static_cast<int64_t>(seg) * p.seg_blocks * kBlk;
  const int64_t te = min(n, tb + static_cast<int64_t>(p.seg_blocks) * kBlk);
  const int nblk = te > tb ? static_cast<int>((te - tb + kBlk - 1) / kBlk) : 0;
  const bf16* gq = p.q + bh * n * D;
  const bf16* gk = p.k + bh * n * D;
  const bf16* gv = p.v + bh * n * D;

  auto load_tile = [&](int blk, int stage) {
    const int64_t t0 = tb + static_cast<int64_t>(blk) * kBlk;
    constexpr int CH = D / 8;
    for (int idx = tid; idx < kBlk * CH; idx += kThreads) {
      const int r = idx / CH, c = (idx % CH) * 8;
      const int64_t t = t0 + r;
      const bool ok = t < te;
      const int64_t row = ok ? (p.reverse ? n - 1 - t : t) : 0;
      const int off = stage * kBlk * LD + r * LD + c;
      if (!STATE_ONLY) cp_async16(sQ + off, gq + row * D + c, ok);
      cp_async16(sK + off, gk + row * D + c, ok);
      cp_async16(sV + off, gv + row * D + c, ok);
    }
  };

  // State fragment of this warp: rows srow0..+15, cols scol0..+SCOLS.
  constexpr int SWR = (D / 16) >= 8 ? 8 : D / 16;
  constexpr int SWC = 8 / SWR;
  constexpr int SCOLS = D / SWC;
  constexpr int SNT = SCOLS / 8;
  const int srow0 = (warp % SWR) * 16, scol0 = (warp / SWR) * SCOLS;
  float st[SNT][4];
#pragma unroll
  for (int nt = 0; nt < SNT; ++nt)
#pragma unroll
    for (int h = 0; h < 4; ++h) {
      const int i = srow0 + g + (h >= 2 ? 8 : 0), j = scol0 + nt * 8 + 2 * t4 + (h & 1);
      float x = 0.f;
      if (!STATE_ONLY) {
        if (p.start_mode == 1) x = p.start[bh * D * D + i * D + j];
        else if (p.start_mode == 2) x = p.start[bh * D * D + j * D + i];
        else if (p.start_mode == 3) x = p.start[(bh * p.nseg + seg) * D * D + i * D + j];
      }
      st[nt][h] = x;
    }
  auto store_state_bf16 = [&]() {
#pragma unroll
    for (int nt = 0; nt < SNT; ++nt) {
      const int i = srow0 + g, j = scol0 + nt * 8 + 2 * t4;
      *reinterpret_cast<uint32_t*>(sS + i * LD + j) = pack_bf16(st[nt][0], st[nt][1]);
      *reinterpret_cast<uint32_t*>(sS + (i + 8) * LD + j) = pack_bf16(st[nt][2], st[nt][3]);
    }
  };
  if (!STATE_ONLY) store_state_bf16();

  if (nblk > 0) load_tile(0, 0);
  cp_async_commit();
  for (int b = 0; b < nblk; ++b) {
    if (b + 1 < nblk) load_tile(b + 1, (b + 1) & 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const int stg = b & 1;
    const bf16* cQ = sQ + stg * kBlk * LD;
    const bf16* cK = sK + stg * kBlk * LD;
    const bf16* cV = sV + stg * kBlk * LD;
    const int64_t t0 = tb + static_cast<int64_t>(b) * kBlk;
    const int nb = static_cast<int>(te - t0 < kBlk ? te - t0 : kBlk);

    if (!STATE_ONLY) {
      const int rt = warp & 3, ch = warp >> 2;
      // Intra-block scores A = Q' K'ᵀ for rows rt·16.., cols ch·32.., masked with the decay: P = A ⊙ M.
      {
        float acc[4][4];
#pragma unroll
        for (int a = 0; a < 4; ++a)
#pragma unroll
          for (int c = 0; c < 4; ++c) acc[a][c] = 0.f;
        if (ch * 32 <= rt * 16 + 15) {
#pragma unroll
          for (int k0 = 0; k0 < D; k0 += 16) {
            uint32_t a[4];
            ldsm_x4(a, cQ + (rt * 16 + (lane & 15)) * LD + k0 + (lane >> 4) * 8);
#pragma unroll
            for (int np = 0; np < 2; ++np) {
              uint32_t bb[4];
              ldsm_x4(bb, cK + (ch * 32 + np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD + k0 + ((lane >> 3) & 1) * 8);
              mma16816(acc[2 * np], a, bb[0], bb[1]);
              mma16816(acc[2 * np + 1], a, bb[2], bb[3]);
            }
          }
        }
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
          for (int hh = 0; hh < 2; ++hh) {
            const int r = rt * 16 + g + hh * 8, c = ch * 32 + nt * 8 + 2 * t4;
            const float v0 = r >= c ? decay_pow(s, r - c) * acc[nt][2 * hh] : 0.f;
            const float v1 = r >= c + 1 ? decay_pow(s, r - c - 1) * acc[nt][2 * hh + 1] : 0.f;
            *reinterpret_cast<uint32_t*>(sP + r * LDP + c) = pack_bf16(v0, v1);
          }
      }
      __syncthreads();
      // O = diag(λ^{r+shift}) Q' S' + P V', rows rt·16.., cols oc0..+D/2.
      constexpr int ONT = D / 16;
      const int oc0 = ch * (D / 2);
      float oacc[ONT][4];
#pragma unroll
      for (int a = 0; a < ONT; ++a)
#pragma unroll
        for (int c = 0; c < 4; ++c) oacc[a][c] = 0.f;
#pragma unroll
      for (int k0 = 0; k0 < D; k0 += 16) {
        uint32_t a[4];
        ldsm_x4(a, cQ + (rt * 16 + (lane & 15)) * LD + k0 + (lane >> 4) * 8);
#pragma unroll
        for (int np = 0; np < ONT / 2; ++np) {
          uint32_t bb[4];
          ldsm_x4_t(bb, sS + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + oc0 + np * 16 + (lane >> 4) * 8);
          mma16816(oacc[2 * np], a, bb[0], bb[1]);
          mma16816(oacc[2 * np + 1], a, bb[2], bb[3]);
        }
      }
      {
        const int r0 = rt * 16 + g;
        const float w0 = decay_pow(s, r0 + p.shift), w1 = decay_pow(s, r0 + 8 + p.shift);
#pragma unroll
        for (int nt = 0; nt < ONT; ++nt) {
          oacc[nt][0] *= w0;
          oacc[nt][1] *= w0;
          oacc[nt][2] *= w1;
          oacc[nt][3] *= w1;
        }
      }
#pragma unroll
      for (int k0 = 0; k0 < kBlk; k0 += 16) {
        if (k0 <= rt * 16) {
          uint32_t a[4];
          ldsm_x4(a, sP + (rt * 16 + (lane & 15)) * LDP + k0 + (lane >> 4) * 8);
#pragma unroll
          for (int np = 0; np < ONT / 2; ++np) {
            uint32_t bb[4];
            ldsm_x4_t(bb, cV + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + oc0 + np * 16 + (lane >> 4) * 8);
            mma16816(oacc[2 * np], a, bb[0], bb[1]);
            mma16816(oacc[2 * np + 1], a, bb[2], bb[3]);
          }
        }
      }
      bf16* go = p.o + bh * n * D;
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int r = rt * 16 + g + hh * 8;
        const int64_t t = t0 + r;
        if (t < te) {
          const int64_t row = p.reverse ? n - 1 - t : t;
#pragma unroll
          for (int nt = 0; nt < ONT; ++nt) {
            const int c = oc0 + nt * 8 + 2 * t4;
            *reinterpret_cast<uint32_t*>(go + row * D + c) = pack_bf16(oacc[nt][2 * hh], oacc[nt][2 * hh + 1]);
          }
        }
      }
      __syncthreads();  // every read of sS is done before it is overwritten
    }

    // S' ← λ^nb S' + (diag(λ^{nb−r−shift}) K')ᵀ V'
    const float carry = decay_pow(s, nb);
#pragma unroll
    for (int nt = 0; nt < SNT; ++nt)
#pragma unroll
      for (int h = 0; h < 4; ++h) st[nt][h] *= carry;
#pragma unroll
    for (int k0 = 0; k0 < kBlk; k0 += 16) {
      if (k0 < nb) {
        uint32_t a[4];
        ldsm_x4_t(a, cK + (k0 + (lane & 7) + (lane >> 4) * 8) * LD + srow0 + ((lane >> 3) & 1) * 8);
        const int r = k0 + 2 * t4;
        auto w = [&](int rr) { return rr < nb ? decay_pow(s, nb - rr - p.shift) : 0.f; };
        const float wa = w(r), wb = w(r + 1), wc = w(r + 8), wd = w(r + 9);
        a[0] = scale_bf16x2(a[0], wa, wb);
        a[1] = scale_bf16x2(a[1], wa, wb);
        a[2] = scale_bf16x2(a[2], wc, wd);
        a[3] = scale_bf16x2(a[3], wc, wd);
#pragma unroll
        for (int np = 0; np < SNT / 2; ++np) {
          uint32_t bb[4];
          ldsm_x4_t(bb, cV + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + scol0 + np * 16 + (lane >> 4) * 8);
          mma16816(st[2 * np], a, bb[0], bb[1]);
          mma16816(st[2 * np + 1], a, bb[2], bb[3]);
        }
      }
    }
    if (!STATE_ONLY) store_state_bf16();
    __syncthreads();
  }
  cp_async_wait<0>();

  float* dst = nullptr;
  if (STATE_ONLY) dst = p.local_out + (bh * p.nseg + seg) * D * D;
  else if (p.final_state != nullptr && seg == p.nseg - 1) dst = p.final_state + bh * D * D;
  if (dst != nullptr) {
#pragma unroll
    for (int nt = 0; nt < SNT; ++nt) {
      const int i = srow0 + g, j = scol0 + nt * 8 + 2 * t4;
      *reinterpret_cast<float2*>(dst + i * D + j) = make_float2(st[nt][0], st[nt][1]);
      *reinterpret_cast<float2*>(dst + (i + 8) * D + j) = make_float2(st[nt][2], st[nt][3]);
    }
  }
}

// Start states of every segment: ws[bh][seg] holds the local state L_seg on entry, the entering state on exit.
__global__ void la2_prefix_kernel(float* ws, const float* init, int init_transposed, int d, int nseg,
                                  int seg_len, const float* log_decay, int heads) {
  const int64_t bh = blockIdx.y;
  const int el = blockIdx.x * blockDim.x + threadIdx.x;
  if (el >= d * d) return;
  const int i = el / d, j = el % d;
  float S = init ? init[bh * d * d + (init_transposed ? j * d + i : el)] : 0.f;
  const float carry = decay_pow(log_decay[bh % heads], seg_len);
  for (int sg = 0; sg < nseg; ++sg) {
    float* slot = ws + (bh * nseg + sg) * d * d + el;
    const float L = sg < nseg - 1 ? *slot : 0.f;
    *slot = S;
    S = carry * S + L;
  }
}

int sm_count() {
  static int count = [] {
    int dev = 0, c = 132;
    if (cudaGetDevice(&dev) == cudaSuccess) cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, dev);
    return c;
  }();
  return count;
}

struct SegPlan {
  int nseg, seg_blocks;
};
SegPlan plan_segments(int64_t bh, int64_t n) {
  const int64_t nblocks = (n + kBlk - 1) / kBlk;
  if (nblocks <= 1) return {1, static_cast<int>(nblocks < 1 ? 1 : nblocks)};
  const int64_t target = bh >= sm_count() ? 1 : sm_count() / bh;  // one wave of CTAs (1 CTA / SM)
  const int64_t seg_blocks = (nblocks + target - 1) / target;
  const int64_t nseg = (nblocks + seg_blocks - 1) / seg_blocks;
  return {static_cast<int>(nseg), static_cast<int>(seg_blocks)};
}

template <int D, bool STATE_ONLY>
void launch_sweep(const SweepParams& p, int grid_x, int64_t bh) {
  constexpr int smem = sweep_smem_bytes<D>();
  static bool configured = false;
  if (!configured) {
    LAT_CUDA_CHECK(cudaFuncSetAttribute(la2_sweep_kernel<D, STATE_ONLY>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured = true;
  }
  la2_sweep_kernel<D, STATE_ONLY><<<dim3(grid_x, static_cast<unsigned>(bh)), kThreads, smem, ::lat::cuda::stream()>>>(p);
  LAT_CUDA_CHECK_LAUNCH();
}

template <int D>
void run_sweep(const bf16* q, const bf16* k, const bf16* v, bf16* o, const float* log_decay, int64_t heads,
               int64_t bh, int64_t n, const float* init, bool init_transposed, float* final_state, bool reverse,
               int shift, float* ws) {
  const SegPlan plan = plan_segments(bh, n);
  SweepParams p{};
  p.q = q;
  p.k = k;
  p.v = v;
  p.o = o;
  p.log_decay = log_decay;
  p.heads = static_cast<int>(heads);
  p.n = n;
  p.seg_blocks = plan.seg_blocks;
  p.nseg = plan.nseg;
  p.final_state = final_state;
  p.reverse = reverse ? 1 : 0;
  p.shift = shift;
  if (plan.nseg > 1) {
    LAT_CHECK(ws != nullptr, "lightning_attention (CUDA): segmented sweep needs a workspace");
    p.local_out = ws;
    launch_sweep<D, true>(p, plan.nseg - 1, bh);
    const int threads = 256, gx = (D * D + threads - 1) / threads;
    la2_prefix_kernel<<<dim3(gx, static_cast<unsigned>(bh)), threads, 0, ::lat::cuda::stream()>>>(
        ws, init, init_transposed ? 1 : 0, D, plan.nseg, plan.seg_blocks * kBlk, log_decay, static_cast<int>(heads));
    LAT_CUDA_CHECK_LAUNCH();
    p.start = ws;
    p.start_mode = 3;
  } else {
    p.start = init;
    p.start_mode = init == nullptr ? 0 : (init_transposed ? 2 : 1);
  }
  launch_sweep<D, false>(p, plan.nseg, bh);
}

void run_sweep_d(int64_t d, const void* q, const void* k, const void* v, void* o, const float* log_decay,
                 int64_t heads, int64_t bh, int64_t n, const float* init, bool init_transposed, float* final_state,
                 bool reverse, int shift, float* ws) {
  auto cq = static_cast<const bf16*>(q);
  auto ck = static_cast<const bf16*>(k);
  auto cv = static_cast<const bf16*>(v);
  auto co = static_cast<bf16*>(o);
  if (d == 64)
    run_sweep<64>(cq, ck, cv, co, log_decay, heads, bh, n, init, init_transposed, final_state, reverse, shift, ws);
  else if (d == 128)
    run_sweep<128>(cq, ck, cv, co, log_decay, heads, bh, n, init, init_transposed, final_state, reverse, shift, ws);
  else
    LAT_THROW("lightning_attention (CUDA): fast path needs d = e ∈ {64, 128}, got d = ", d);
}

// ---------------------------------------------------------------------------------------------------------------
// Generic per-token recurrence (fp32 state in shared memory, row stride odd to avoid bank conflicts).
// U_t = S(t) + k_t v_tᵀ, o_t = q_tᵀ U_t, S(t+1) = λ U_t.
template <class T>
__global__ void la2_generic_fwd_kernel(const T* q, const T* k, const T* v, const float* log_decay, int heads,
                                       const float* init, T* o, float* final_state, int64_t n, int m, int e) {
  extern __shared__ float gsm[];
  const int ld = e | 1;
  float* S = gsm;
  float* sq = S + m * ld;
  float* sk = sq + m;
  const int64_t bh = blockIdx.x;
  const float lam = expf(-log_decay[bh % heads]);
  for (int idx = threadIdx.x; idx < m * e; idx += blockDim.x)
    S[(idx / e) * ld + idx % e] = init ? init[bh * m * e + idx] : 0.f;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t rq = (bh * n + t) * m, rv = (bh * n + t) * e;
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
      sq[i] = to_float(q[rq + i]);
      sk[i] = to_float(k[rq + i]);
    }
    __syncthreads();
    for (int j = threadIdx.x; j < e; j += blockDim.x) {
      const float vj = to_float(v[rv + j]);
      float acc = 0.f;
      for (int i = 0; i < m; ++i) {
        const float u = S[i * ld + j] + sk[i] * vj;
        acc += sq[i] * u;
        S[i * ld + j] = lam * u;
      }
      o[rv + j] = from_float<T>(acc);
    }
    __syncthreads();
  }
  if (final_state)
    for (int idx = threadIdx.x; idx < m * e; idx += blockDim.x)
      final_state[bh * m * e + idx] = S[(idx / e) * ld + idx % e];
}

// dq_t = U_t g_t; reverse: dU_t = q_t g_tᵀ + λ dS(t+1), dk_t = dU_t v_t, dv_t = dU_tᵀ k_t, dS(t) = dU_t.
template <class T>
__global__ void la2_generic_bwd_kernel(const T* q, const T* k, const T* v, const float* log_decay, int heads,
                                       const float* init, const T* go, const float* gfinal, T* dq, T* dk, T* dv,
                                       float* ginit, int64_t n, int m, int e) {
  extern __shared__ float gsm[];
  const int ld = e | 1;
  float* S = gsm;
  float* sq = S + m * ld;
  float* sk = sq + m;
  float* sv = sk + m;
  float* sg = sv + e;
  const int64_t bh = blockIdx.x;
  const float lam = expf(-log_decay[bh % heads]);
  for (int idx = threadIdx.x; idx < m * e; idx += blockDim.x)
    S[(idx / e) * ld + idx % e] = init ? init[bh * m * e + idx] : 0.f;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t rq = (bh * n + t) * m, rv = (bh * n + t) * e;
    for (int i = threadIdx.x; i < m; i += blockDim.x) sk[i] = to_float(k[rq + i]);
    for (int j = threadIdx.x; j < e; j += blockDim.x) {
      sv[j] = to_float(v[rv + j]);
      sg[j] = to_float(go[rv + j]);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
      float acc = 0.f;
      for (int j = 0; j < e; ++j) {
        const float u = S[i * ld + j] + sk[i] * sv[j];
        acc += u * sg[j];
        S[i * ld + j] = lam * u;
      }
      dq[rq + i] = from_float<T>(acc);
    }
    __syncthreads();
  }
  for (int idx = threadIdx.x; idx < m * e; idx += blockDim.x)
    S[(idx / e) * ld + idx % e] = gfinal ? gfinal[bh * m * e + idx] : 0.f;
  __syncthreads();
  for (int64_t t = n - 1; t >= 0; --t) {
    const int64_t rq = (bh * n + t) * m, rv = (bh * n + t) * e;
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
      sq[i] = to_float(q[rq + i]);
      sk[i] = to_float(k[rq + i]);
    }
    for (int j = threadIdx.x; j < e; j += blockDim.x) {
      sv[j] = to_float(v[rv + j]);
      sg[j] = to_float(go[rv + j]);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
      float acc = 0.f;
      for (int j = 0; j < e; ++j) {
        const float du = sq[i] * sg[j] + lam * S[i * ld + j];
        acc += du * sv[j];
        S[i * ld + j] = du;
      }
      dk[rq + i] = from_float<T>(acc);
    }
    __syncthreads();
    for (int j = threadIdx.x; j < e; j += blockDim.x) {
      float acc = 0.f;
      for (int i = 0; i < m; ++i) acc += S[i * ld + j] * sk[i];
      dv[rv + j] = from_float<T>(acc);
    }
    __syncthreads();
  }
  if (ginit)
    for (int idx = threadIdx.x; idx < m * e; idx += blockDim.x) ginit[bh * m * e + idx] = S[(idx / e) * ld + idx % e];
}

size_t generic_smem(int64_t m, int64_t e) {
  const size_t bytes = static_cast<size_t>(m * (e | 1) + 2 * m + 2 * e) * sizeof(float);
  LAT_CHECK(bytes <= 220 * 1024, "lightning_attention (CUDA): state ", m, "x", e, " does not fit in shared memory");
  return bytes;
}

}  // namespace

bool la2_fast_supported(int64_t m, int64_t e) { return m == e && (m == 64 || m == 128); }

int64_t la2_workspace_floats(int64_t bh, int64_t n, int64_t d) {
  const SegPlan plan = plan_segments(bh, n);
  return plan.nseg > 1 ? bh * plan.nseg * d * d : 0;
}

void la2_forward_bf16(const void* q, const void* k, const void* v, const float* log_decay,
                      const float* initial_state, void* o, float* final_state, int64_t batch, int64_t heads,
                      int64_t n, int64_t d, float* workspace) {
  run_sweep_d(d, q, k, v, o, log_decay, heads, batch * heads, n, initial_state, false, final_state, false, 0,
              workspace);
}

void la2_backward_bf16(const void* q, const void* k, const void* v, const float* log_decay,
                       const float* initial_state, const void* grad_out, const float* grad_final_state,
                       void* grad_q, void* grad_k, void* grad_v, float* grad_initial_state, int64_t batch,
                       int64_t heads, int64_t n, int64_t d, float* workspace) {
  const int64_t bh = batch * heads;
  // dQ: forward order with S' = Sᵀ.
  run_sweep_d(d, grad_out, v, k, grad_q, log_decay, heads, bh, n, initial_state, true, nullptr, false, 0, workspace);
  // dV: reverse order with S' = D; its final state is d(initial state).
  run_sweep_d(d, k, q, grad_out, grad_v, log_decay, heads, bh, n, grad_final_state, false, grad_initial_state, true,
              1, workspace);
  // dK: reverse order with S' = Dᵀ.
  run_sweep_d(d, v, grad_out, q, grad_k, log_decay, heads, bh, n, grad_final_state, true, nullptr, true, 1,
              workspace);
}

void la2_forward_generic(DType dtype, const void* q, const void* k, const void* v, const float* log_decay,
                         const float* initial_state, void* o, float* final_state, int64_t batch, int64_t heads,
                         int64_t n, int64_t m, int64_t e) {
  const size_t smem = generic_smem(m, e);
  const int threads = static_cast<int>(std::min<int64_t>(1024, ((std::max(m, e) + 31) / 32) * 32));
  auto go = [&](auto tag) {
    using T = decltype(tag);
    LAT_CUDA_CHECK(cudaFuncSetAttribute(la2_generic_fwd_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(smem)));
    la2_generic_fwd_kernel<T><<<static_cast<unsigned>(batch * heads), threads, smem, ::lat::cuda::stream()>>>(
        static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), log_decay,
        static_cast<int>(heads), initial_state, static_cast<T*>(o), final_state, n, static_cast<int>(m),
        static_cast<int>(e));
    LAT_CUDA_CHECK_LAUNCH();
  };
  if (dtype == DType::BF16) go(bf16{});
  else if (dtype == DType::F32) go(float{});
  else LAT_THROW("lightning_attention (CUDA): supports f32 and bf16, got ", dtype_name(dtype));
}

void la2_backward_generic(DType dtype, const void* q, const void* k, const void* v, const float* log_decay,
                          const float* initial_state, const void* grad_out, const float* grad_final_state,
                          void* grad_q, void* grad_k, void* grad_v, float* grad_initial_state, int64_t batch,
                          int64_t heads, int64_t n, int64_t m, int64_t e) {
  const size_t smem = generic_smem(m, e);
  const int threads = static_cast<int>(std::min<int64_t>(1024, ((std::max(m, e) + 31) / 32) * 32));
  auto go = [&](auto tag) {
    using T = decltype(tag);
    LAT_CUDA_CHECK(cudaFuncSetAttribute(la2_generic_bwd_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(smem)));
    la2_generic_bwd_kernel<T><<<static_cast<unsigned>(batch * heads), threads, smem, ::lat::cuda::stream()>>>(
        static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), log_decay,
        static_cast<int>(heads), initial_state, static_cast<const T*>(grad_out), grad_final_state,
        static_cast<T*>(grad_q), static_cast<T*>(grad_k), static_cast<T*>(grad_v), grad_initial_state, n,
        static_cast<int>(m), static_cast<int>(e));
    LAT_CUDA_CHECK_LAUNCH();
  };
  if (dtype == DType::BF16) go(bf16{});
  else if (dtype == DType::F32) go(float{});
  else LAT_THROW("lightning_attention (CUDA): supports f32 and bf16, got ", dtype_name(dtype));
}

}  // namespace lat::kernels::cuda
