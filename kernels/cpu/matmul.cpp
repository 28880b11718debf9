#include "kernels/cpu/matmul.h"

#include "core/parallel.h"
#include "kernels/cpu/gemm.h"

namespace lat::kernels::cpu {

template <class T>
void batched_matmul(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* a,
                    int64_t stride_a, const T* b, int64_t stride_b, T* c, int64_t stride_c, bool accumulate) {
  const int64_t lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
  const T beta0 = accumulate ? T(1) : T(0);
  if (batch == 0) {  // an empty sum is zero
    if (stride_c == 0 && !accumulate) gemm_own<T>(false, false, M, N, 0, T(1), a, lda, b, ldb, T(0), c, ldc);
    return;
  }
  if (batch == 1) {
    gemm<T>(ta, tb, M, N, K, T(1), a, lda, b, ldb, beta0, c, ldc);
    return;
  }
  // A shared weight applied to a batch of row-major inputs is one tall GEMM: [batch·M, K] · [K, N].
  if (stride_b == 0 && !ta && stride_a == M * K && stride_c == M * N) {
    gemm<T>(false, tb, batch * M, N, K, T(1), a, lda, b, ldb, beta0, c, ldc);
    return;
  }
  // A summed product whose contraction runs over the batch, Σ_i A_iᵀ B_i, is one deep GEMM:
  // [batch·K, M]ᵀ · [batch·K, N] (the weight gradient of a shared matrix).
  if (stride_c == 0 && ta && !tb && stride_a == K * M && stride_b == K * N) {
    gemm<T>(true, false, M, N, batch * K, T(1), a, lda, b, ldb, beta0, c, ldc);
    return;
  }
  if (stride_c == 0) {  // a sum over the batch: sequential, each GEMM parallel inside
    for (int64_t i = 0; i < batch; ++i)
      gemm<T>(ta, tb, M, N, K, T(1), a + i * stride_a, lda, b + i * stride_b, ldb, i == 0 ? beta0 : T(1), c,
              ldc);
    return;
  }
  // Independent products. Small ones run one per thread on lat's own kernel (OpenBLAS is kept out of parallel
  // regions); large ones run one after the other, each parallel inside gemm.
  if (M * N * K < int64_t{64} * 64 * 64) {
    ParallelErrors errors;  // gemm_own allocates packing buffers
#pragma omp parallel for schedule(dynamic, 1) if (batch * M * N * K >= int64_t{32768})
    for (int64_t i = 0; i < batch; ++i)
      errors.run([&] {
        gemm_own<T>(ta, tb, M, N, K, T(1), a + i * stride_a, lda, b + i * stride_b, ldb, beta0,
                    c + i * stride_c, ldc);
      });
    errors.rethrow();
    return;
  }
  for (int64_t i = 0; i < batch; ++i)
    gemm<T>(ta, tb, M, N, K, T(1), a + i * stride_a, lda, b + i * stride_b, ldb, beta0, c + i * stride_c,
            ldc);
}

template void batched_matmul<float>(int64_t, bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                                    const float*, int64_t, float*, int64_t, bool);
template void batched_matmul<double>(int64_t, bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                     const double*, int64_t, double*, int64_t, bool);

}  // namespace lat::kernels::cpu
