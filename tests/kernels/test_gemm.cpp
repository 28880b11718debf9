// The CPU GEMMs (lat's own and, when built, OpenBLAS) against a naive triple loop in double: every transpose
// combination, alpha/beta, leading dimensions larger than the matrix, and sizes around every block edge of
// gemm_own (MR = 6; NR = 16 floats / 8 doubles; KC = 256; MC = 144 / 96; NC = 3072 / 2048).
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"
#include "kernels/cpu/gemm.h"
#include "support/gradcheck.h"

using namespace lat;
using lat::kernels::cpu::GemmBackend;

namespace {

struct Case {
  int64_t M, N, K;
  bool ta, tb;
  double alpha, beta;
  int64_t pad;  // extra columns in every leading dimension
};

template <class T>
double run_case(GemmBackend backend, const Case& c) {
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int64_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  Tensor a = testing::random_double(Shape{a_rows, lda}, "gemm-a").to(dtype_of<T>);
  Tensor b = testing::random_double(Shape{b_rows, ldb}, "gemm-b").to(dtype_of<T>);
  Tensor cm = testing::random_double(Shape{c.M, ldc}, "gemm-c").to(dtype_of<T>);
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>(), cv = cm.to_vector<double>();
  std::vector<double> expected = cv;
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < c.K; ++k)
        s += av[static_cast<size_t>(c.ta ? k * lda + i : i * lda + k)] *
             bv[static_cast<size_t>(c.tb ? j * ldb + k : k * ldb + j)];
      double& out = expected[static_cast<size_t>(i * ldc + j)];
      out = c.alpha * s + (c.beta == 0 ? 0.0 : c.beta * out);
    }
  kernels::cpu::gemm_with<T>(backend, c.ta, c.tb, c.M, c.N, c.K, static_cast<T>(c.alpha), a.data<T>(), lda,
                             b.data<T>(), ldb, static_cast<T>(c.beta), cm.data<T>(), ldc);
  // Padding columns of C must be untouched.
  std::vector<double> got = cm.to_vector<double>();
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = c.N; j < ldc; ++j)
      REQUIRE(got[static_cast<size_t>(i * ldc + j)] == cv[static_cast<size_t>(i * ldc + j)]);
  return testing::max_relative_difference(cm, Tensor::from_vector(expected, cm.shape()));
}

template <class T>
void check_backend(GemmBackend backend) {
  const double tolerance = sizeof(T) == 8 ? 1e-13 : 2e-5;
  const std::vector<Case> cases = {
      {1, 1, 1, false, false, 1, 0, 0},       {6, 16, 5, false, false, 1, 0, 0},
      {7, 17, 3, false, false, 1, 0, 3},      {5, 9, 257, false, true, 1, 0, 0},
      {13, 15, 300, true, false, 0.5, 1, 2},  {145, 33, 20, true, true, 1, -2, 0},
      {97, 41, 513, false, false, 2, 0.5, 1}, {3, 3100, 7, false, true, 1, 0, 0},
      {300, 70, 130, false, false, 1, 0, 0},  {64, 64, 64, true, true, -1, 1, 5},
      {4, 5, 0, false, false, 1, 0.5, 0},     {2, 2100, 2, true, false, 1, 0, 0}};
  for (const Case& c : cases) {
    CAPTURE(c.M);
    CAPTURE(c.N);
    CAPTURE(c.K);
    CAPTURE(c.ta);
    CAPTURE(c.tb);
    CAPTURE(c.alpha);
    CAPTURE(c.beta);
    CHECK(run_case<T>(backend, c) < tolerance);
  }
}

}  // namespace

TEST_CASE("gemm_own matches a triple loop (float and double)") {
  check_backend<double>(GemmBackend::Own);
  check_backend<float>(GemmBackend::Own);
}

TEST_CASE("gemm_openblas matches a triple loop when built with OpenBLAS") {
  if (!kernels::cpu::gemm_backend_available(GemmBackend::OpenBLAS)) {
    CHECK_THROWS(kernels::cpu::gemm_openblas<float>(false, false, 1, 1, 1, 1.f, nullptr, 1, nullptr, 1, 0.f,
                                                    nullptr, 1));
    return;
  }
  check_backend<double>(GemmBackend::OpenBLAS);
  check_backend<float>(GemmBackend::OpenBLAS);
}

TEST_CASE("gemm_own with beta = 0 ignores NaNs already in C") {
  std::vector<float> a = {1, 2}, b = {3, 4}, c = {NAN};
  kernels::cpu::gemm_own<float>(false, false, 1, 1, 2, 1.f, a.data(), 2, b.data(), 1, 0.f, c.data(), 1);
  CHECK(c[0] == 11.f);
}

TEST_CASE("gemm_own is deterministic across thread counts") {
  // 1 thread against 2, 3 and 4, set explicitly: omp_get_max_threads() is 1 under OMP_NUM_THREADS=1 (as the MPI
  // suite runs), where comparing it with 1 thread would compare a run with itself. 150³ is above the size at
  // which gemm_own splits the work, and 150 is not a multiple of any strip, so the strips differ per count.
  const int64_t n = 150;
  Tensor a = testing::random_float(Shape{n, n}, "det-a"), b = testing::random_float(Shape{n, n}, "det-b");
  auto run = [&](int threads) {
    Tensor c = Tensor::empty(Shape{n, n}, DType::F32);
    omp_set_num_threads(threads);
    kernels::cpu::gemm_own<float>(false, false, n, n, n, 1.f, a.data<float>(), n, b.data<float>(), n, 0.f,
                                  c.data<float>(), n);
    return c.to_vector<float>();
  };
  const int saved = omp_get_max_threads();
  const std::vector<float> one = run(1);
  for (int threads : {2, 3, 4}) {
    CAPTURE(threads);
    CHECK(run(threads) == one);
  }
  omp_set_num_threads(saved);
  // And the thing being compared is the product (a hand-rolled dot product for one element in double).
  double c00 = 0;
  for (int64_t k = 0; k < n; ++k) c00 += static_cast<double>(a.data<float>()[k]) * b.data<float>()[k * n];
  CHECK(one[0] == doctest::Approx(c00).epsilon(1e-5));
}
