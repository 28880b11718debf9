// cuBLASLt GEMMs in lat's row-major convention (see gemm.cuh).
//
// cuBLASLt is column-major. A row-major [r, c] matrix with row stride ld is, read column-major, its
// transpose [c, r] with leading dimension ld. So row-major C = op(A) op(B) is computed as the column-major
// product C^T = op(B)^T op(A)^T: cuBLASLt's "A" is our B and its "B" is our A, with the same transpose flags.
#include <cublasLt.h>
#include <cuda_bf16.h>

#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "core/cuda_context.h"
#include "kernels/cuda/gemm.cuh"

#define LAT_CUBLAS_CHECK(expr)                                                                          \
  do {                                                                                                 \
    cublasStatus_t lat_cublas_status_ = (expr);                                                       \
    if (lat_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                                  \
      ::lat::detail::throw_check_failure(                                                             \
          __FILE__, __LINE__, #expr,                                                                   \
          ::lat::detail::concat("cuBLAS error: ", cublasLtGetStatusString(lat_cublas_status_), " in ", #expr)); \
  } while (0)

namespace lat::kernels::cuda {
namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;  // 32 MiB: what cuBLASLt's Hopper kernels may ask for

struct Key {
  int64_t m, n, k, lda, ldb, ldc, batch, sa, sb, sc;
  int ab, c, ta, tb, epilogue, align_a, align_b, align_c;
  auto tie() const {
    return std::tie(m, n, k, lda, ldb, ldc, batch, sa, sb, sc, ab, c, ta, tb, epilogue, align_a, align_b, align_c);
  }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

// Everything cuBLASLt needs for one key, created once and reused: descriptors and the chosen algorithm.
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t layout_a = nullptr, layout_b = nullptr, layout_c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

struct State {
  std::mutex mutex;
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::map<Key, Plan> plans;
};

State& state() {
  static State s;
  return s;
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::BF16: return CUDA_R_16BF;
    case DType::F32: return CUDA_R_32F;
    default: LAT_THROW("gemm: dtype ", dtype_name(t), " is not supported (bf16 or f32)");
  }
}

// Largest power of two (<= 256) dividing the address: cuBLASLt's heuristic must know the real alignment.
int alignment_of(const void* p) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  int align = 256;
  while (align > 1 && a % static_cast<uintptr_t>(align) != 0) align /= 2;
  return align;
}

cublasLtMatrixLayout_t make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                                   int64_t stride) {
  cublasLtMatrixLayout_t layout;
  LAT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout, type, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld));
  if (batch > 1) {
    int32_t count = static_cast<int32_t>(batch);
    LAT_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
    LAT_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  }
  return layout;
}

Plan make_plan(State& s, const GemmArgs& g, const Key& key) {
  Plan p;
  const cudaDataType_t ab = cuda_type(g.ab_dtype), c = cuda_type(g.c_dtype);
  LAT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  // Column-major view: cuBLASLt A = our B, cuBLASLt B = our A (see the file comment).
  cublasOperation_t op_a = g.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_b = g.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  LAT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
  LAT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
  if (g.epilogue == GemmEpilogue::Bias) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    LAT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    cudaDataType_t bias_type = c;
    LAT_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
  }
  // Our B stored [k, n] row-major reads as [n, k] column-major (op N); stored [n, k] it reads as [k, n] (op T).
  p.layout_a = g.transpose_b ? make_layout(ab, g.k, g.n, key.ldb, g.batch, g.stride_b)
                             : make_layout(ab, g.n, g.k, key.ldb, g.batch, g.stride_b);
  p.layout_b = g.transpose_a ? make_layout(ab, g.m, g.k, key.lda, g.batch, g.stride_a)
                             : make_layout(ab, g.k, g.m, key.lda, g.batch, g.stride_a);
  p.layout_c = make_layout(c, g.n, g.m, key.ldc, g.batch, g.stride_c);

  cublasLtMatmulPreference_t pref;
  LAT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = kWorkspaceBytes;
  LAT_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  uint32_t align_a = static_cast<uint32_t>(key.align_b), align_b = static_cast<uint32_t>(key.align_a),
           align_c = static_cast<uint32_t>(key.align_c);
  LAT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                        sizeof align_a));
  LAT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                        sizeof align_b));
  LAT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c,
                                                        sizeof align_c));
  LAT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c,
                                                        sizeof align_c));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(s.handle, p.desc, p.layout_a, p.layout_b, p.layout_c,
                                                         p.layout_c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (status != CUBLAS_STATUS_SUCCESS || found == 0)
    LAT_THROW("gemm: cuBLASLt has no algorithm for m=", g.m, " n=", g.n, " k=", g.k, " batch=", g.batch, " (",
              dtype_name(g.ab_dtype), " -> ", dtype_name(g.c_dtype), ", transpose_a=", g.transpose_a,
              ", transpose_b=", g.transpose_b, "): ", cublasLtGetStatusString(status));
  p.algo = result.algo;
  return p;
}

}  // namespace

void gemm(const GemmArgs& g) {
  LAT_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0 && g.batch >= 1, "gemm: invalid sizes m=", g.m, " n=", g.n, " k=", g.k,
            " batch=", g.batch);
  LAT_CHECK(g.ab_dtype == DType::BF16 || (g.ab_dtype == DType::F32 && g.c_dtype == DType::F32),
            "gemm: inputs ", dtype_name(g.ab_dtype), " with output ", dtype_name(g.c_dtype),
            " is not supported (bf16 -> bf16/f32, f32 -> f32)");
  (void)cuda_type(g.c_dtype);
  LAT_CHECK(g.epilogue == GemmEpilogue::None || g.bias != nullptr, "gemm: bias epilogue without a bias pointer");
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0) {
    // cuBLASLt rejects k = 0; the product is empty, so C = beta * C.
    LAT_CHECK(g.beta == 0.0f && g.epilogue == GemmEpilogue::None, "gemm: k = 0 is supported only with beta = 0 and no epilogue");
    for (int64_t b = 0; b < g.batch; ++b) {
      char* c = static_cast<char*>(g.c) + b * g.stride_c * static_cast<int64_t>(dtype_size(g.c_dtype));
      const int64_t ldc = g.ldc ? g.ldc : g.n;
      LAT_CUDA_CHECK(cudaMemset2DAsync(c, static_cast<size_t>(ldc) * dtype_size(g.c_dtype), 0,
                                       static_cast<size_t>(g.n) * dtype_size(g.c_dtype), static_cast<size_t>(g.m),
                                       lat::cuda::stream()));
    }
    return;
  }
  Key key{};
  key.m = g.m, key.n = g.n, key.k = g.k;
  key.lda = g.lda ? g.lda : (g.transpose_a ? g.m : g.k);
  key.ldb = g.ldb ? g.ldb : (g.transpose_b ? g.k : g.n);
  key.ldc = g.ldc ? g.ldc : g.n;
  LAT_CHECK(key.lda >= (g.transpose_a ? g.m : g.k), "gemm: lda ", key.lda, " is shorter than a row of A");
  LAT_CHECK(key.ldb >= (g.transpose_b ? g.k : g.n), "gemm: ldb ", key.ldb, " is shorter than a row of B");
  LAT_CHECK(key.ldc >= g.n, "gemm: ldc ", key.ldc, " is shorter than a row of C (", g.n, ")");
  key.batch = g.batch;
  key.sa = g.batch > 1 ? g.stride_a : 0;
  key.sb = g.batch > 1 ? g.stride_b : 0;
  key.sc = g.batch > 1 ? g.stride_c : 0;
  key.ab = static_cast<int>(g.ab_dtype), key.c = static_cast<int>(g.c_dtype);
  key.ta = g.transpose_a, key.tb = g.transpose_b, key.epilogue = static_cast<int>(g.epilogue);
  key.align_a = alignment_of(g.a), key.align_b = alignment_of(g.b), key.align_c = alignment_of(g.c);

  State& s = state();
  Plan plan;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.handle) {
      LAT_CUBLAS_CHECK(cublasLtCreate(&s.handle));
      LAT_CUDA_CHECK(cudaMalloc(&s.workspace, kWorkspaceBytes));
    }
    auto it = s.plans.find(key);
    if (it == s.plans.end()) {
      GemmArgs normalized = g;
      normalized.stride_a = key.sa, normalized.stride_b = key.sb, normalized.stride_c = key.sc;
      it = s.plans.emplace(key, make_plan(s, normalized, key)).first;
    }
    plan = it->second;
  }
  if (g.epilogue == GemmEpilogue::Bias) {
    // The bias pointer is per call, so it is set on the cached descriptor under the lock at launch time.
    std::lock_guard<std::mutex> lock(s.mutex);
    LAT_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof g.bias));
    LAT_CUBLAS_CHECK(cublasLtMatmul(s.handle, plan.desc, &g.alpha, g.b, plan.layout_a, g.a, plan.layout_b, &g.beta,
                                    g.c, plan.layout_c, g.c, plan.layout_c, &plan.algo, s.workspace, kWorkspaceBytes,
                                    lat::cuda::stream()));
    return;
  }
  LAT_CUBLAS_CHECK(cublasLtMatmul(s.handle, plan.desc, &g.alpha, g.b, plan.layout_a, g.a, plan.layout_b, &g.beta, g.c,
                                  plan.layout_c, g.c, plan.layout_c, &plan.algo, s.workspace, kWorkspaceBytes,
                                  lat::cuda::stream()));
}

void batched_matmul(DType dtype, int64_t batch, bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    const void* a, int64_t stride_a, const void* b, int64_t stride_b, void* c, int64_t stride_c,
                    bool accumulate) {
  if (batch <= 0) return;
  if (stride_c == 0 && batch > 1) {
    // A 2-D output receives the sum over the batch (a weight gradient). Σ_i A_iᵀ B_i over contiguous [batch, k, ·]
    // stacks is one product with k' = batch·k; other layouts accumulate one product per batch entry.
    if (transpose_a && !transpose_b && stride_a == m * k && stride_b == k * n) {
      batched_matmul(dtype, 1, true, false, m, n, batch * k, a, 0, b, 0, c, 0, accumulate);
      return;
    }
    const int64_t es = static_cast<int64_t>(dtype_size(dtype));
    for (int64_t i = 0; i < batch; ++i)
      batched_matmul(dtype, 1, transpose_a, transpose_b, m, n, k, static_cast<const char*>(a) + i * stride_a * es, 0,
                     static_cast<const char*>(b) + i * stride_b * es, 0, c, 0, accumulate || i > 0);
    return;
  }
  GemmArgs g;
  g.a = a, g.b = b, g.c = c, g.ab_dtype = dtype, g.c_dtype = dtype;
  g.m = m, g.n = n, g.k = k, g.transpose_a = transpose_a, g.transpose_b = transpose_b;
  g.batch = batch, g.stride_a = stride_a, g.stride_b = stride_b, g.stride_c = stride_c;
  g.beta = accumulate ? 1.0f : 0.0f;
  gemm(g);
}

int64_t gemm_cache_size() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return static_cast<int64_t>(s.plans.size());
}

}  // namespace lat::kernels::cuda
