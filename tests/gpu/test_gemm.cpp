// cuBLASLt GEMM (kernels/cuda/gemm.cuh) against a double-precision reference on the same (rounded) inputs:
// every transpose combination, odd shapes, padded leading dimensions, strided batches, bf16 and f32 outputs,
// the bias epilogue, and the per-shape plan cache.
#include <doctest/doctest.h>

#include "gpu_test_util.h"
#include "kernels/cuda/gemm.cuh"

using namespace lat;
using namespace lat::gpu_test;
namespace kc = lat::kernels::cuda;

namespace {

struct Case {
  int64_t m, n, k, batch;
  bool ta, tb;
  int64_t pad;  // extra elements per row (ld > packed)
};

// C[b] = alpha op(A[b]) op(B[b]) + beta C0[b] (+ bias), all row-major in double
std::vector<double> reference(const Case& c, const std::vector<double>& a, const std::vector<double>& b,
                              const std::vector<double>& c0, const std::vector<double>& bias, int64_t lda, int64_t ldb,
                              int64_t ldc, int64_t sa, int64_t sb, int64_t sc, double alpha, double beta) {
  std::vector<double> out = c0;
  for (int64_t q = 0; q < c.batch; ++q)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < c.k; ++p) {
          const double av = c.ta ? a[q * sa + p * lda + i] : a[q * sa + i * lda + p];
          const double bv = c.tb ? b[q * sb + j * ldb + p] : b[q * sb + p * ldb + j];
          acc += av * bv;
        }
        double& o = out[q * sc + i * ldc + j];
        o = alpha * acc + beta * o + (bias.empty() ? 0.0 : bias[j]);
      }
  return out;
}

void run_case(const Case& c, DType ab, DType cd, bool with_bias, float alpha, float beta) {
  const int64_t a_rows = c.ta ? c.k : c.m, a_cols = c.ta ? c.m : c.k;
  const int64_t b_rows = c.tb ? c.n : c.k, b_cols = c.tb ? c.k : c.n;
  const int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
  const int64_t sa = a_rows * lda, sb = b_rows * ldb, sc = c.m * ldc;
  static uint64_t seed = 100;
  Tensor A = random_device(Shape{c.batch * sa}, ab, ++seed);
  Tensor B = random_device(Shape{c.batch * sb}, ab, ++seed);
  Tensor C = random_device(Shape{c.batch * sc}, cd, ++seed);
  Tensor bias = random_device(Shape{c.n}, cd, ++seed);
  const std::vector<double> c0 = host(C);
  kc::GemmArgs g;
  g.a = A.raw_data(), g.b = B.raw_data(), g.c = C.raw_data();
  g.ab_dtype = ab, g.c_dtype = cd;
  g.m = c.m, g.n = c.n, g.k = c.k, g.transpose_a = c.ta, g.transpose_b = c.tb;
  g.lda = lda, g.ldb = ldb, g.ldc = ldc;
  g.batch = c.batch, g.stride_a = sa, g.stride_b = sb, g.stride_c = sc;
  g.alpha = alpha, g.beta = beta;
  if (with_bias) g.epilogue = kc::GemmEpilogue::Bias, g.bias = bias.raw_data();
  kc::gemm(g);
  std::vector<double> ref = reference(c, host(A), host(B), c0, with_bias ? host(bias) : std::vector<double>{}, lda,
                                      ldb, ldc, sa, sb, sc, alpha, beta);
  std::vector<double> got = host(C);
  // Padding columns must be untouched.
  for (int64_t q = 0; q < c.batch; ++q)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = c.n; j < ldc; ++j) REQUIRE(got[q * sc + i * ldc + j] == c0[q * sc + i * ldc + j]);
  const double err = cd == DType::BF16 || ab == DType::BF16 ? rel_rms(got, ref) : max_rel(got, ref);
  const double tol = ab == DType::BF16 ? kBF16Tolerance : kF32Tolerance;
  CAPTURE(c.m);
  CAPTURE(c.n);
  CAPTURE(c.k);
  CAPTURE(c.batch);
  CAPTURE(c.ta);
  CAPTURE(c.tb);
  CAPTURE(dtype_name(ab));
  CAPTURE(dtype_name(cd));
  CHECK(err < tol);
}

}  // namespace

TEST_CASE("gemm f32 (TF32 off) matches double on every transpose combination") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      run_case({67, 45, 129, 1, ta, tb, 0}, DType::F32, DType::F32, false, 1.0f, 0.0f);
      run_case({1, 1, 1, 1, ta, tb, 0}, DType::F32, DType::F32, false, 1.0f, 0.0f);
      run_case({33, 17, 1000, 3, ta, tb, 5}, DType::F32, DType::F32, false, 0.5f, 1.0f);
    }
}

TEST_CASE("gemm bf16 -> bf16 / f32 with fp32 accumulation") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      run_case({256, 192, 512, 1, ta, tb, 0}, DType::BF16, DType::BF16, false, 1.0f, 0.0f);
      run_case({65, 40, 72, 4, ta, tb, 8}, DType::BF16, DType::F32, false, 1.0f, 1.0f);
      run_case({128, 96, 64, 2, ta, tb, 0}, DType::BF16, DType::F32, false, 2.0f, 0.0f);
    }
}

TEST_CASE("gemm bias epilogue and plan cache") {
  run_case({64, 128, 256, 1, false, true, 0}, DType::BF16, DType::BF16, true, 1.0f, 0.0f);
  run_case({64, 128, 256, 1, false, false, 0}, DType::F32, DType::F32, true, 1.0f, 0.0f);
  const int64_t before = kc::gemm_cache_size();
  run_case({64, 128, 256, 1, false, true, 0}, DType::BF16, DType::BF16, true, 1.0f, 0.0f);
  CHECK(kc::gemm_cache_size() == before);  // same shape, same types, same alignment: cached plan reused
}

TEST_CASE("gemm rejects unsupported dtype pairs") {
  kc::GemmArgs g;
  g.m = g.n = g.k = 4;
  g.ab_dtype = DType::F32;
  g.c_dtype = DType::BF16;
  CHECK_THROWS_AS(kc::gemm(g), Error);
}
