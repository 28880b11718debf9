// Matrix products on the GPU through cuBLASLt, in lat's row-major convention.
//
//   C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] (+ bias)      for b in [0, batch)
//   op(A): [m, k] (A stored [m, k], or [k, m] when transpose_a)   op(B): [k, n] (B stored [k, n], or [n, k])
//   C: [m, n]; lda/ldb/ldc are row strides in elements; stride_* are batch strides in elements.
//
// Precision: bf16 A/B with fp32 accumulation (CUBLAS_COMPUTE_32F), C in bf16 or fp32; fp32 A/B/C with
// CUBLAS_COMPUTE_32F (TF32 off: the exact path the CUDA-vs-CPU tests need). One cuBLASLt heuristic result is
// cached per distinct (shape, layout, types, alignment) key; the workspace is 32 MiB (Hopper's kernels use
// up to that). Everything runs on lat::cuda::stream(); nothing synchronises.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

enum class GemmEpilogue : uint8_t {
  None,
  Bias,  // C[i, j] += bias[j]; bias: [n] of C's dtype, shared by every batch entry
};

struct GemmArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  void* c = nullptr;
  DType ab_dtype = DType::BF16;  // BF16 or F32 (A and B share it)
  DType c_dtype = DType::BF16;   // BF16 (with BF16 inputs) or F32
  int64_t m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  int64_t lda = 0, ldb = 0, ldc = 0;  // 0: the packed row stride (k or m for A, n or k for B, n for C)
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // elements between batch entries (0 with batch 1)
  float alpha = 1.0f, beta = 0.0f;
  GemmEpilogue epilogue = GemmEpilogue::None;
  const void* bias = nullptr;
};

// Throws lat::Error naming the bad argument (unsupported dtype pair, ld smaller than a row, ...) or the
// cuBLAS status.
void gemm(const GemmArgs& args);

// kernels::matmul's contract (kernels/cpu/matmul.h batched_matmul) on packed operands of one dtype (f32 or bf16):
// c[i] (+)= op(a[i]) op(b[i]) for i < batch; a stride of 0 for a or b reuses one matrix for every batch entry;
// stride_c = 0 sums the batch into one output (a weight gradient).
void batched_matmul(DType dtype, int64_t batch, bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    const void* a, int64_t stride_a, const void* b, int64_t stride_b, void* c, int64_t stride_c,
                    bool accumulate);

// Number of distinct cached heuristics (for tests and lat-bench).
int64_t gemm_cache_size();

}  // namespace lat::kernels::cuda
