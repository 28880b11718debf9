// lat's own CPU GEMM (gemm_own), the OpenBLAS wrapper and the choice between them. See gemm.h for the
// contract.
//
// gemm_own follows the BLIS/GotoBLAS loop nest: for each NC-wide column panel of C and each KC-deep slice of
// K, B's [KC, NC] panel is packed into NR-wide slivers (sized for L3), then each MC-tall row block of A is
// packed into MR-tall slivers (sized for L2), and MR×NR micro-tiles are swept. Threads split C into strips
// and run this nest independently (see gemm_own). The micro-kernel keeps the whole MR×NR tile of C in
// registers (6 rows × 2 vectors = 12 accumulators on AVX2, leaving 4 registers for the two B vectors and the
// A broadcast) and does one rank-1 update per k. Transposes are absorbed by the packing routines; alpha is
// folded into packed A; beta is applied to C once up front. Ragged edges are packed with zeros and computed
// into a scratch tile.
#include "kernels/cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LAT_GEMM_AVX2 1
#else
#define LAT_GEMM_AVX2 0
#endif

#ifdef LAT_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace lat::kernels::cpu {
namespace {

#if LAT_GEMM_AVX2
template <class T>
struct Simd;
template <>
struct Simd<float> {
  using V = __m256;
  static constexpr int kWidth = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
};
template <>
struct Simd<double> {
  using V = __m256d;
  static constexpr int kWidth = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static V broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
};
#endif

// Block sizes. MR×NR is the register tile; KC·NR·sizeof(T) (one B sliver) stays in L1 (48 KiB here), MC·KC
// (packed A block) in L2, KC·NC (packed B panel) in L3. MC and NC are multiples of MR and NR.
template <class T>
struct Blocking {
#if LAT_GEMM_AVX2
  static constexpr int kMR = 6;
  static constexpr int kNR = 2 * Simd<T>::kWidth;  // 16 floats or 8 doubles
#else
  static constexpr int kMR = 4;
  static constexpr int kNR = 8;
#endif
  static constexpr int64_t kKC = 256;
  static constexpr int64_t kMC = sizeof(T) == 4 ? 144 : 96;
  static constexpr int64_t kNC = sizeof(T) == 4 ? 3072 : 2048;
};

// c[MR×NR, row stride ldc] += a_packed[kc×MR] · b_packed[kc×NR].
template <class T>
inline void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                         int64_t ldc) {
  constexpr int MR = Blocking<T>::kMR, NR = Blocking<T>::kNR;
#if LAT_GEMM_AVX2
  using S = Simd<T>;
  using V = typename S::V;
  constexpr int W = S::kWidth;
  V acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = S::zero();
  for (int64_t k = 0; k < kc; ++k) {
    const V b0 = S::load(b), b1 = S::load(b + W);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const V ar = S::broadcast(a + r);
      acc[r][0] = S::fma(ar, b0, acc[r][0]);
      acc[r][1] = S::fma(ar, b1, acc[r][1]);
    }
    a += MR;
    b += NR;
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    S::store(c + r * ldc, S::add(S::load(c + r * ldc), acc[r][0]));
    S::store(c + r * ldc + W, S::add(S::load(c + r * ldc + W), acc[r][1]));
  }
#else
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] += a[r] * b[j];
    a += MR;
    b += NR;
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) c[r * ldc + j] += acc[r][j];
#endif
}

// Packs alpha · op(A)[i0 : i0+mc, p0 : p0+kc] into MR-tall slivers, k-major inside a sliver, zero-padded
// rows.
template <class T>
void pack_a(bool ta, const T* A, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc, T alpha,
            T* dst) {
  constexpr int MR = Blocking<T>::kMR;
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - ir);
    if (ta) {  // op(A)(i, k) = A[k, i]: the MR values of one k are contiguous
      for (int64_t k = 0; k < kc; ++k) {
        const T* src = A + (p0 + k) * lda + i0 + ir;
        for (int r = 0; r < MR; ++r) dst[r] = r < mr ? alpha * src[r] : T(0);
        dst += MR;
      }
    } else {
      const T* rows[MR];
      for (int r = 0; r < MR; ++r) rows[r] = A + (i0 + ir + std::min<int64_t>(r, mr - 1)) * lda + p0;
      for (int64_t k = 0; k < kc; ++k) {
        for (int r = 0; r < MR; ++r) dst[r] = r < mr ? alpha * rows[r][k] : T(0);
        dst += MR;
      }
    }
  }
}

// Packs op(B)[p0 : p0+kc, j0 : j0+nc] sliver by sliver (slivers [s0, s1) of NR columns), zero-padded columns.
template <class T>
void pack_b_slivers(bool tb, const T* B, int64_t ldb, int64_t p0, int64_t j0, int64_t nc, int64_t kc,
                    int64_t s, T* dst) {
  constexpr int NR = Blocking<T>::kNR;
  const int64_t jr = s * NR, nr = std::min<int64_t>(NR, nc - jr);
  dst += s * NR * kc;
  if (tb) {  // op(B)(k, j) = B[j, k]
    for (int64_t k = 0; k < kc; ++k) {
      for (int c = 0; c < NR; ++c) dst[c] = c < nr ? B[(j0 + jr + c) * ldb + p0 + k] : T(0);
      dst += NR;
    }
  } else {
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = B + (p0 + k) * ldb + j0 + jr;
      if (nr == NR) {
        std::memcpy(dst, src, sizeof(T) * NR);
      } else {
        for (int c = 0; c < NR; ++c) dst[c] = c < nr ? src[c] : T(0);
      }
      dst += NR;
    }
  }
}

template <class T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  if (beta == T(1)) return;
#pragma omp parallel for schedule(static) if (M * N > 65536)
  for (int64_t i = 0; i < M; ++i) {
    T* row = C + i * ldc;
    if (beta == T(0)) {
      std::fill(row, row + N, T(0));
    } else {
      for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
  }
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

}  // namespace

const char* gemm_backend_name(GemmBackend backend) {
  return backend == GemmBackend::Own ? "own" : "openblas";
}

bool gemm_backend_available(GemmBackend backend) {
#ifdef LAT_HAVE_OPENBLAS
  (void)backend;
  return true;
#else
  return backend == GemmBackend::Own;
#endif
}

// C[M, N] += alpha · op(A) · op(B) on the calling thread: the blocked loop nest over private packing buffers.
template <class T>
void gemm_serial(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                 const T* B, int64_t ldb, T* C, int64_t ldc) {
  using Blk = Blocking<T>;
  constexpr int MR = Blk::kMR, NR = Blk::kNR;
  const int64_t kc_max = std::min(Blk::kKC, K), nc_max = std::min(Blk::kNC, ceil_div(N, NR) * NR);
  const int64_t mc_max = std::min(Blk::kMC, ceil_div(M, MR) * MR);
  std::vector<T> packed_b(static_cast<size_t>(kc_max * nc_max)),
      packed_a(static_cast<size_t>(mc_max * kc_max));
  alignas(64) T edge[MR * NR];
  for (int64_t jc = 0; jc < N; jc += Blk::kNC) {
    const int64_t nc = std::min(Blk::kNC, N - jc);
    for (int64_t pc = 0; pc < K; pc += Blk::kKC) {
      const int64_t kc = std::min(Blk::kKC, K - pc);
      for (int64_t s = 0; s < ceil_div(nc, NR); ++s)
        pack_b_slivers(tb, B, ldb, pc, jc, nc, kc, s, packed_b.data());
      for (int64_t ic = 0; ic < M; ic += Blk::kMC) {
        const int64_t mc = std::min(Blk::kMC, M - ic);
        pack_a(ta, A, lda, ic, pc, mc, kc, alpha, packed_a.data());
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          const T* b_sliver = packed_b.data() + (jr / NR) * NR * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            const T* a_sliver = packed_a.data() + (ir / MR) * MR * kc;
            T* c_tile = C + (ic + ir) * ldc + jc + jr;
            if (mr == MR && nr == NR) {
              micro_kernel<T>(kc, a_sliver, b_sliver, c_tile, ldc);
            } else {
              std::fill(edge, edge + MR * NR, T(0));
              micro_kernel<T>(kc, a_sliver, b_sliver, edge, NR);
              for (int64_t r = 0; r < mr; ++r)
                for (int64_t c = 0; c < nr; ++c) c_tile[r * ldc + c] += edge[r * NR + c];
            }
          }
        }
      }
    }
  }
}

template <class T>
void gemm_own(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
              int64_t ldb, T beta, T* C, int64_t ldc) {
  using Blk = Blocking<T>;
  if (M <= 0 || N <= 0) return;
  scale_c(M, N, beta, C, ldc);
  if (K <= 0 || alpha == T(0)) return;
  // Threads split C into disjoint strips (of columns when C is wide, of rows when it is tall) and run the
  // whole blocked algorithm on their strip with private buffers. Packing is repeated per thread (O(MK + KN)
  // against O(MNK) arithmetic), and in exchange there is no barrier inside the loop nest: on a machine shared
  // with other jobs a descheduled thread then delays only its own strip, not every panel of everyone.
  // Each element of C is still summed by one thread in a fixed k order: results do not depend on the
  // thread count.
  const int threads = M * N * K >= 48 * 48 * 48 ? omp_get_max_threads() : 1;
  const bool by_columns = N >= M;
  const int64_t unit = by_columns ? Blk::kNR : Blk::kMR, extent = by_columns ? N : M;
  const int64_t strip = ceil_div(ceil_div(extent, threads), unit) * unit;
  const int64_t strips = ceil_div(extent, strip);
  ParallelErrors errors;
#pragma omp parallel for schedule(static, 1) \
    num_threads(static_cast <int>(std::min <int64_t>(threads, strips)))
  for (int64_t s = 0; s < strips; ++s)
    errors.run([&] {  // gemm_serial allocates its packing buffers
      const int64_t lo = s * strip, len = std::min(strip, extent - lo);
      if (by_columns) {  // op(B)[:, lo:lo+len] and C[:, lo:lo+len]
        gemm_serial<T>(ta, tb, M, len, K, alpha, A, lda, tb ? B + lo * ldb : B + lo, ldb, C + lo, ldc);
      } else {  // op(A)[lo:lo+len, :] and C[lo:lo+len, :]
        gemm_serial<T>(ta, tb, len, N, K, alpha, ta ? A + lo : A + lo * lda, lda, B, ldb, C + lo * ldc, ldc);
      }
    });
  errors.rethrow();
}

template <class T>
void gemm_openblas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
#ifdef LAT_HAVE_OPENBLAS
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // BLAS is allowed to skip the beta scaling when K == 0; keep our contract
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const auto op_a = ta ? CblasTrans : CblasNoTrans, op_b = tb ? CblasTrans : CblasNoTrans;
  const auto m = static_cast<blasint>(M), n = static_cast<blasint>(N), k = static_cast<blasint>(K);
  const auto la = static_cast<blasint>(lda), lb = static_cast<blasint>(ldb), lc = static_cast<blasint>(ldc);
  if constexpr (sizeof(T) == 4) {
    cblas_sgemm(CblasRowMajor, op_a, op_b, m, n, k, alpha, A, la, B, lb, beta, C, lc);
  } else {
    cblas_dgemm(CblasRowMajor, op_a, op_b, m, n, k, alpha, A, la, B, lb, beta, C, lc);
  }
#else
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb,
      (void)beta, (void)C, (void)ldc;
  LAT_THROW("gemm: this build of lat has no OpenBLAS (configure with -DLAT_BLAS=ON)");
#endif
}

template <class T>
void gemm_with(GemmBackend backend, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (backend == GemmBackend::OpenBLAS)
    gemm_openblas<T>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    gemm_own<T>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

GemmBackend gemm_backend_for(int64_t M, int64_t N, int64_t K) {
  // Default: lat's own kernel. On the machines we measured, Debian's OpenBLAS was not several times faster
  // (it was slower as shipped; see docs/perf/cpu_gemm.md), and gemm_own is deterministic for any thread
  // count. LAT_CPU_GEMM=openblas opts in (for problems of at least 64³, where OpenBLAS's thread start-up pays
  // off); LAT_CPU_GEMM=own is the default spelled out.
  static const bool use_openblas = [] {
    const char* env = std::getenv("LAT_CPU_GEMM");
    const std::string choice = env ? env : "";
    LAT_CHECK(choice.empty() || choice == "own" || choice == "openblas",
              "LAT_CPU_GEMM must be 'own' or 'openblas', got '", choice, "'");
    LAT_CHECK(choice != "openblas" || gemm_backend_available(GemmBackend::OpenBLAS),
              "LAT_CPU_GEMM=openblas but this build of lat has no OpenBLAS");
    return choice == "openblas";
  }();
  return use_openblas && M * N * K >= int64_t{64} * 64 * 64 ? GemmBackend::OpenBLAS : GemmBackend::Own;
}

template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_with<T>(gemm_backend_for(M, N, K), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#define LAT_INSTANTIATE(T)                                                                                  \
  template void gemm_own<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, \
                            T, T*, int64_t);                                                                \
  template void gemm_openblas<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*,     \
                                 int64_t, T, T*, int64_t);                                                  \
  template void gemm_with<T>(GemmBackend, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t,      \
                             const T*, int64_t, T, T*, int64_t);                                            \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T,  \
                        T*, int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
