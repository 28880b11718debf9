// The generic Lightning Attention-2 path (any m, e; f32 or bf16): see lightning_attention.cuh.
#include <algorithm>
#include <cstdint>

#include "core/cuda_context.h"
#include "core/error.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/lightning_attention.cuh"

namespace lat::kernels::cuda {
namespace {

// The m × e state S (row stride ld) from src (m × e, row-major), or zeros when src is null; and back.
__device__ __forceinline__ void state_in(float* S, int ld, const float* src, int m, int e) {
  for (int idx = threadIdx.x; idx < m * e; idx += blockDim.x) S[(idx / e) * ld + idx % e] = src ? src[idx] : 0.f;
}
__device__ __forceinline__ void state_out(const float* S, int ld, float* dst, int m, int e) {
  for (int idx = threadIdx.x; idx < m * e; idx += blockDim.x) dst[idx] = S[(idx / e) * ld + idx % e];
}
// One token's row of an operand (len elements) into shared memory as f32.
template <class T>
__device__ __forceinline__ void row_in(float* dst, const T* src, int len) {
  for (int i = threadIdx.x; i < len; i += blockDim.x) dst[i] = to_float(src[i]);
}

// Whether a document begins at token t of this sequence's starts (kernels/documents.h; null: none does): its
// tokens then read no earlier state.
__device__ __forceinline__ bool document_begins(const int32_t* starts, int64_t t) {
  return starts != nullptr && static_cast<int64_t>(starts[t]) == t;
}

// Generic per-token recurrence (fp32 state, row stride odd to avoid bank conflicts; in shared memory, or in the
// global workspace state_ws [bh][m][e | 1] when it does not fit, e.g. d = 256).
// U_t = S(t) + k_t v_tᵀ, o_t = q_tᵀ U_t, S(t+1) = λ U_t; with document starts S(t) reads as 0 where one begins.
template <class T>
__global__ void la2_generic_fwd_kernel(const T* q, const T* k, const T* v, const float* log_decay, int heads,
                                       const float* init, T* o, float* final_state, int64_t n, int m, int e,
                                       float* state_ws, const int32_t* document_starts) {
  extern __shared__ float gsm[];
  const int ld = e | 1;
  const int64_t bh = blockIdx.x;
  float* S = state_ws ? state_ws + bh * m * ld : gsm;
  float* sq = state_ws ? gsm : S + m * ld;
  float* sk = sq + m;
  const float lam = expf(-log_decay[bh % heads]);
  const int32_t* starts = document_starts ? document_starts + (bh / heads) * n : nullptr;
  state_in(S, ld, init ? init + bh * m * e : nullptr, m, e);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t rq = (bh * n + t) * m, rv = (bh * n + t) * e;
    const bool fresh = document_begins(starts, t);
    row_in(sq, q + rq, m);
    row_in(sk, k + rq, m);
    __syncthreads();
    for (int j = threadIdx.x; j < e; j += blockDim.x) {
      const float vj = to_float(v[rv + j]);
      float acc = 0.f;
      for (int i = 0; i < m; ++i) {
        const float u = (fresh ? 0.f : S[i * ld + j]) + sk[i] * vj;
        acc += sq[i] * u;
        S[i * ld + j] = lam * u;
      }
      o[rv + j] = from_float<T>(acc);
    }
    __syncthreads();
  }
  if (final_state) state_out(S, ld, final_state + bh * m * e, m, e);
}

// dq_t = U_t g_t; reverse: dU_t = q_t g_tᵀ + λ dS(t+1), dk_t = dU_t v_t, dv_t = dU_tᵀ k_t, dS(t) = dU_t. With
// document starts, dS(t) = 0 where a document begins at t (S(t) was not read there).
template <class T>
__global__ void la2_generic_bwd_kernel(const T* q, const T* k, const T* v, const float* log_decay, int heads,
                                       const float* init, const T* go, const float* gfinal, T* dq, T* dk, T* dv,
                                       float* ginit, int64_t n, int m, int e, float* state_ws,
                                       const int32_t* document_starts) {
  extern __shared__ float gsm[];
  const int ld = e | 1;
  const int64_t bh = blockIdx.x;
  float* S = state_ws ? state_ws + bh * m * ld : gsm;
  float* sq = state_ws ? gsm : S + m * ld;
  float* sk = sq + m;
  float* sv = sk + m;
  float* sg = sv + e;
  const float lam = expf(-log_decay[bh % heads]);
  const int32_t* starts = document_starts ? document_starts + (bh / heads) * n : nullptr;
  state_in(S, ld, init ? init + bh * m * e : nullptr, m, e);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t rq = (bh * n + t) * m, rv = (bh * n + t) * e;
    const bool fresh = document_begins(starts, t);
    row_in(sk, k + rq, m);
    row_in(sv, v + rv, e);
    row_in(sg, go + rv, e);
    __syncthreads();
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
      float acc = 0.f;
      for (int j = 0; j < e; ++j) {
        const float u = (fresh ? 0.f : S[i * ld + j]) + sk[i] * sv[j];
        acc += u * sg[j];
        S[i * ld + j] = lam * u;
      }
      dq[rq + i] = from_float<T>(acc);
    }
    __syncthreads();
  }
  state_in(S, ld, gfinal ? gfinal + bh * m * e : nullptr, m, e);
  __syncthreads();
  for (int64_t t = n - 1; t >= 0; --t) {
    const int64_t rq = (bh * n + t) * m, rv = (bh * n + t) * e;
    // λ dS(t+1) reaches U_t unless a document begins at t + 1.
    const bool next_fresh = t + 1 < n && document_begins(starts, t + 1);
    row_in(sq, q + rq, m);
    row_in(sk, k + rq, m);
    row_in(sv, v + rv, e);
    row_in(sg, go + rv, e);
    __syncthreads();
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
      float acc = 0.f;
      for (int j = 0; j < e; ++j) {
        const float du = sq[i] * sg[j] + (next_fresh ? 0.f : lam * S[i * ld + j]);
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
  if (ginit) {
    if (n > 0 && document_begins(starts, 0)) {
      for (int idx = threadIdx.x; idx < m * e; idx += blockDim.x) ginit[bh * m * e + idx] = 0.f;  // S(0) unread
    } else {
      state_out(S, ld, ginit + bh * m * e, m, e);
    }
  }
}

constexpr size_t kGenericSmemLimit = 220 * 1024;
bool generic_state_in_smem(int64_t m, int64_t e) {
  return static_cast<size_t>(m * (e | 1) + 2 * m + 2 * e) * sizeof(float) <= kGenericSmemLimit;
}
// Shared memory of the generic kernels: the state (when it fits) and the current token's vectors.
size_t generic_smem(int64_t m, int64_t e) {
  const size_t vectors = static_cast<size_t>(2 * m + 2 * e) * sizeof(float);
  LAT_CHECK(vectors <= kGenericSmemLimit, "lightning_attention (CUDA): m = ", m, ", e = ", e, " is too large");
  return (generic_state_in_smem(m, e) ? static_cast<size_t>(m * (e | 1)) * sizeof(float) : 0) + vectors;
}

// Launch shape of both generic kernels: one CTA per (batch, head), a thread per column (at most 1024), the state in
// shared memory when it fits (state_ws null) or in the caller's workspace.
struct GenericLaunch {
  size_t smem;
  int threads;
  float* state_ws;
};
GenericLaunch generic_launch(int64_t m, int64_t e, float* state_workspace) {
  const bool in_smem = generic_state_in_smem(m, e);
  LAT_CHECK(state_workspace != nullptr || in_smem,
            "lightning_attention (CUDA): the generic path needs a state workspace for m = ", m, ", e = ", e);
  return {generic_smem(m, e), static_cast<int>(std::min<int64_t>(1024, ((std::max(m, e) + 31) / 32) * 32)),
          in_smem ? nullptr : state_workspace};
}

}  // namespace

int64_t la2_generic_workspace_floats(int64_t bh, int64_t m, int64_t e) {
  return generic_state_in_smem(m, e) ? 0 : bh * m * (e | 1);
}

void la2_forward_generic(DType dtype, const void* q, const void* k, const void* v, const float* log_decay,
                         const float* initial_state, void* o, float* final_state, int64_t batch, int64_t heads,
                         int64_t n, int64_t m, int64_t e, float* state_workspace, const int32_t* document_starts) {
  const GenericLaunch l = generic_launch(m, e, state_workspace);
  dispatch_float_bf16("lightning_attention (CUDA generic path)", dtype, [&](auto tag) {
    using T = decltype(tag);
    LAT_CUDA_CHECK(cudaFuncSetAttribute(la2_generic_fwd_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(l.smem)));
    la2_generic_fwd_kernel<T><<<static_cast<unsigned>(batch * heads), l.threads, l.smem, ::lat::cuda::stream()>>>(
        static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), log_decay,
        static_cast<int>(heads), initial_state, static_cast<T*>(o), final_state, n, static_cast<int>(m),
        static_cast<int>(e), l.state_ws, document_starts);
  });
  LAT_CUDA_CHECK_LAUNCH();
}

void la2_backward_generic(DType dtype, const void* q, const void* k, const void* v, const float* log_decay,
                          const float* initial_state, const void* grad_out, const float* grad_final_state,
                          void* grad_q, void* grad_k, void* grad_v, float* grad_initial_state, int64_t batch,
                          int64_t heads, int64_t n, int64_t m, int64_t e, float* state_workspace,
                          const int32_t* document_starts) {
  const GenericLaunch l = generic_launch(m, e, state_workspace);
  dispatch_float_bf16("lightning_attention_backward (CUDA generic path)", dtype, [&](auto tag) {
    using T = decltype(tag);
    LAT_CUDA_CHECK(cudaFuncSetAttribute(la2_generic_bwd_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(l.smem)));
    la2_generic_bwd_kernel<T><<<static_cast<unsigned>(batch * heads), l.threads, l.smem, ::lat::cuda::stream()>>>(
        static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), log_decay,
        static_cast<int>(heads), initial_state, static_cast<const T*>(grad_out), grad_final_state,
        static_cast<T*>(grad_q), static_cast<T*>(grad_k), static_cast<T*>(grad_v), grad_initial_state, n,
        static_cast<int>(m), static_cast<int>(e), l.state_ws, document_starts);
  });
  LAT_CUDA_CHECK_LAUNCH();
}

}  // namespace lat::kernels::cuda
