// rmsnorm: gradchecks over x and gain (edge shapes: D = 1, odd D, one row, 3-D input) and the forward
// against a direct double computation.
#include <cmath>

#include "autograd/ops.h"
#include "core/error.h"
#include "support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using lat::testing::Vars;

LAT_GRADCHECK("rmsnorm", LAT_SHAPES({4, 7}, {7}), [](const Vars& in) { return rmsnorm(in[0], in[1]); })
LAT_GRADCHECK("rmsnorm 3-D", LAT_SHAPES({2, 3, 5}, {5}), [](const Vars& in) { return rmsnorm(in[0], in[1]); })
LAT_GRADCHECK("rmsnorm one row", LAT_SHAPES({1, 16}, {16}),
              [](const Vars& in) { return rmsnorm(in[0], in[1]); })
LAT_GRADCHECK("rmsnorm D = 1", LAT_SHAPES({3, 1}, {1}),
              [](const Vars& in) { return rmsnorm(in[0], in[1], 0.1); })
LAT_GRADCHECK("rmsnorm 1-D, large eps", LAT_SHAPES({6}, {6}),
              [](const Vars& in) { return rmsnorm(in[0], in[1], 0.5); })

TEST_CASE("rmsnorm forward matches x / sqrt(mean(x²) + eps) · gain") {
  for (DType dtype : {DType::F64, DType::F32}) {
    CAPTURE(dtype_name(dtype));
    const int64_t rows = 5, dim = 37;
    const double eps = 1e-5;
    Tensor x = testing::random_double(Shape{rows, dim}, "rmsnorm-fwd-x", -3, 3).to(dtype);
    Tensor g = testing::random_double(Shape{dim}, "rmsnorm-fwd-g").to(dtype);
    Tensor out = rmsnorm(Variable(x), Variable(g), eps).data();
    std::vector<double> xv = x.to_vector<double>(), gv = g.to_vector<double>(), expected(xv.size());
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t d = 0; d < dim; ++d) ss += xv[r * dim + d] * xv[r * dim + d];
      const double rms = std::sqrt(ss / dim + eps);
      for (int64_t d = 0; d < dim; ++d) expected[r * dim + d] = xv[r * dim + d] / rms * gv[d];
    }
    Tensor ref = Tensor::from_vector(expected, Shape{rows, dim});
    CHECK(testing::max_relative_difference(out, ref) < (dtype == DType::F64 ? 1e-14 : 1e-6));
  }
}

TEST_CASE("rmsnorm shape errors name both shapes") {
  Variable x(Tensor::zeros(Shape{2, 4}, DType::F32)), g(Tensor::zeros(Shape{3}, DType::F32));
  CHECK_THROWS_WITH_AS(rmsnorm(x, g), doctest::Contains("[3]"), Error);
  CHECK_THROWS_WITH_AS(rmsnorm(x, g), doctest::Contains("[2, 4]"), Error);
}
