// CPU GEMM: C = alpha · op(A) · op(B) + beta · C on row-major matrices, float and double.
//   op(A): [M, K] (A stored [M, K], lda ≥ K; or, with transpose_a, stored [K, M], lda ≥ M)
//   op(B): [K, N] (B stored [K, N], ldb ≥ N; or, with transpose_b, stored [N, K], ldb ≥ K)
//   C:     [M, N], ldc ≥ N. beta == 0 overwrites C (NaNs in C do not propagate).
//
// Two implementations with one contract:
// - gemm_own: lat's cache-blocked GEMM (BLIS loop order, packed panels, a register-tiled AVX2/FMA
// micro-kernel
//   when compiled for x86-64-v3, a portable one otherwise). Always built; deterministic for any thread count
//   (each element of C is summed by one thread in a fixed k order).
// - gemm_openblas: cblas_{s,d}gemm, only when lat was built with OpenBLAS (LAT_HAVE_OPENBLAS).
// gemm() is what the kernels call: gemm_own by default; with the environment variable LAT_CPU_GEMM=openblas
// it uses OpenBLAS for problems of at least 64³ (docs/perf/cpu_gemm.md has the measurements behind the
// default).
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

enum class GemmBackend { Own, OpenBLAS };

const char* gemm_backend_name(GemmBackend backend);
// Whether this build has the backend (Own: always).
bool gemm_backend_available(GemmBackend backend);

template <class T>
void gemm_own(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
              int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// Throws lat::Error when the build has no OpenBLAS.
template <class T>
void gemm_openblas(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                   int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

template <class T>
void gemm_with(GemmBackend backend, bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K,
               T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// The backend gemm() uses for a problem of this size (reads LAT_CPU_GEMM once; throws on an unknown value).
GemmBackend gemm_backend_for(int64_t M, int64_t N, int64_t K);

template <class T>
void gemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace lat::kernels::cpu
