// kernels::matmul against a naive triple loop in double: batches, shared 2-D operands, a 2-D out summing over
// the batch, accumulate, and shape errors.
#include <doctest/doctest.h>

#include <vector>

#include "core/error.h"
#include "kernels/matmul.h"
#include "support/gradcheck.h"

using namespace lat;

namespace {

// Element (i, j) of op(t) for batch entry n (t 2-D: shared).
double at(const std::vector<double>& v, const Shape& s, int64_t n, bool transposed, int64_t i, int64_t j) {
  const int64_t rows = s[s.ndim() - 2], cols = s[s.ndim() - 1];
  const int64_t base = s.ndim() > 2 ? n * rows * cols : 0;
  return transposed ? v[static_cast<size_t>(base + j * cols + i)]
                    : v[static_cast<size_t>(base + i * cols + j)];
}

void check_matmul(const Shape& as, const Shape& bs, const Shape& os, bool ta, bool tb, bool accumulate,
                  DType dtype) {
  CAPTURE(as.str());
  CAPTURE(bs.str());
  CAPTURE(os.str());
  CAPTURE(ta);
  CAPTURE(tb);
  CAPTURE(accumulate);
  CAPTURE(dtype_name(dtype));
  Tensor a = testing::random_double(as, "mm-a").to(dtype), b = testing::random_double(bs, "mm-b").to(dtype);
  Tensor out = testing::random_double(os, "mm-out").to(dtype);
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>(),
                      expected = out.to_vector<double>();
  const int64_t M = os[os.ndim() - 2], N = os[os.ndim() - 1], K = ta ? as[as.ndim() - 2] : as[as.ndim() - 1];
  int64_t batch = 1;
  for (const Shape* s : {&as, &bs, &os})
    if (s->ndim() > 2) batch = s->numel() / ((*s)[s->ndim() - 2] * (*s)[s->ndim() - 1]);
  const bool summed = os.ndim() == 2;
  if (!accumulate)
    for (double& e : expected) e = 0;
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += at(av, as, n, ta, i, k) * at(bv, bs, n, tb, k, j);
        expected[static_cast<size_t>((summed ? 0 : n * M * N) + i * N + j)] += s;
      }
  kernels::matmul(a, b, out, ta, tb, accumulate);
  CHECK(testing::max_relative_difference(out, Tensor::from_vector(expected, os)) <
        (dtype == DType::F64 ? 1e-13 : 1e-5));
}

}  // namespace

TEST_CASE("kernels::matmul matches a triple loop") {
  for (DType dtype : {DType::F64, DType::F32}) {
    check_matmul(Shape{5, 7}, Shape{7, 3}, Shape{5, 3}, false, false, false, dtype);
    check_matmul(Shape{2, 3, 7, 5}, Shape{2, 3, 7, 4}, Shape{2, 3, 5, 4}, true, false, false, dtype);
    check_matmul(Shape{4, 9, 6}, Shape{4, 5, 6}, Shape{4, 9, 5}, false, true, true, dtype);
    check_matmul(Shape{3, 70, 65}, Shape{3, 66, 70}, Shape{3, 65, 66}, true, true, false,
                 dtype);  // large per batch
    // Shared 2-D b (one tall GEMM) and shared 2-D a.
    check_matmul(Shape{3, 8, 5}, Shape{5, 7}, Shape{3, 8, 7}, false, false, false, dtype);
    check_matmul(Shape{3, 5, 8}, Shape{7, 5}, Shape{3, 8, 7}, true, true, false, dtype);
    check_matmul(Shape{6, 5}, Shape{3, 5, 4}, Shape{3, 6, 4}, false, false, false, dtype);
    // 2-D out: the sum over the batch (one deep GEMM when a is transposed and b is not), with accumulate.
    check_matmul(Shape{4, 9, 6}, Shape{4, 9, 5}, Shape{6, 5}, true, false, false, dtype);
    check_matmul(Shape{4, 9, 6}, Shape{4, 9, 5}, Shape{6, 5}, true, false, true, dtype);
    check_matmul(Shape{4, 6, 9}, Shape{4, 5, 9}, Shape{6, 5}, false, true, false, dtype);
    check_matmul(Shape{2, 6, 9}, Shape{9, 5}, Shape{6, 5}, false, false, true, dtype);
    // Empty contraction.
    check_matmul(Shape{3, 0}, Shape{0, 4}, Shape{3, 4}, false, false, false, dtype);
  }
}

TEST_CASE("kernels::matmul shape errors name the shapes") {
  Tensor a = Tensor::zeros(Shape{2, 3}, DType::F32), b = Tensor::zeros(Shape{4, 5}, DType::F32);
  Tensor out = Tensor::zeros(Shape{2, 5}, DType::F32);
  CHECK_THROWS_WITH_AS(kernels::matmul(a, b, out, false, false), doctest::Contains("[4, 5]"), Error);
  Tensor b2 = Tensor::zeros(Shape{3, 5}, DType::F32), bad_out = Tensor::zeros(Shape{5, 2}, DType::F32);
  CHECK_THROWS_WITH_AS(kernels::matmul(a, b2, bad_out, false, false), doctest::Contains("[5, 2]"), Error);
  Tensor a3 = Tensor::zeros(Shape{2, 2, 3}, DType::F32), b3 = Tensor::zeros(Shape{3, 3, 5}, DType::F32);
  Tensor o3 = Tensor::zeros(Shape{2, 2, 5}, DType::F32);
  CHECK_THROWS_WITH_AS(kernels::matmul(a3, b3, o3, false, false), doctest::Contains("batch"), Error);
  Tensor b64 = Tensor::zeros(Shape{3, 5}, DType::F64);
  CHECK_THROWS_AS(kernels::matmul(a, b64, out, false, false), Error);
}
