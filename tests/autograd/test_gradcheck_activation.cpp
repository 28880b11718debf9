// silu, gelu, swiglu: gradchecks and forwards against their formulas evaluated directly in double.
#include <cmath>

#include "autograd/ops.h"
#include "core/error.h"
#include "support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using lat::testing::Vars;

LAT_GRADCHECK("silu", LAT_SHAPES({3, 7}), [](const Vars& in) { return silu(in[0]); })
LAT_GRADCHECK("silu size 1", LAT_SHAPES({1}), [](const Vars& in) { return silu(in[0]); })
LAT_GRADCHECK("gelu", LAT_SHAPES({2, 3, 5}), [](const Vars& in) { return gelu(scale(in[0], 3.0)); })
LAT_GRADCHECK("gelu size 1", LAT_SHAPES({1, 1}), [](const Vars& in) { return gelu(in[0]); })
LAT_GRADCHECK("swiglu", LAT_SHAPES({4, 9}, {4, 9}),
              [](const Vars& in) { return swiglu(scale(in[0], 4.0), in[1]); })
LAT_GRADCHECK("swiglu size 1", LAT_SHAPES({1}, {1}), [](const Vars& in) { return swiglu(in[0], in[1]); })
LAT_GRADCHECK("swiglu same input twice", LAT_SHAPES({5}), [](const Vars& in) { return swiglu(in[0], in[0]); })

namespace {

// Applies op to x in float and double and compares with f evaluated in double.
template <class Op, class F>
void check_pointwise(const char* name, Op op, F f) {
  for (DType dtype : {DType::F64, DType::F32}) {
    CAPTURE(name);
    CAPTURE(dtype_name(dtype));
    Tensor x = testing::random_double(Shape{3, 41}, std::string(name) + "-fwd", -6, 6).to(dtype);
    std::vector<double> xv = x.to_vector<double>(), expected;
    for (double v : xv) expected.push_back(f(v));
    Tensor out = op(Variable(x)).data();
    CHECK(testing::max_relative_difference(out, Tensor::from_vector(expected, x.shape())) <
          (dtype == DType::F64 ? 1e-14 : 1e-6));
  }
}

}  // namespace

TEST_CASE("silu forward matches x / (1 + exp(-x))") {
  check_pointwise(
      "silu", [](const Variable& x) { return silu(x); }, [](double x) { return x / (1 + std::exp(-x)); });
}

TEST_CASE("gelu forward matches GPT-2's tanh approximation") {
  const double pi = std::acos(-1.0);
  check_pointwise(
      "gelu", [](const Variable& x) { return gelu(x); },
      [pi](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / pi) * (x + 0.044715 * x * x * x))); });
  // Known values: gelu(0) = 0, gelu(1) ≈ 0.841192 (tanh form), gelu(-3) ≈ -0.003637.
  Tensor out = gelu(Variable(Tensor::from_vector<double>({0, 1, -3}, lat::Shape{3}))).data();
  std::vector<double> v = out.to_vector<double>();
  CHECK(v[0] == 0.0);
  CHECK(v[1] == doctest::Approx(0.8411920).epsilon(1e-6));
  CHECK(v[2] == doctest::Approx(-0.0036374).epsilon(1e-4));
}

TEST_CASE("swiglu forward is silu(gate) · up") {
  Tensor gate = testing::random_double(Shape{2, 11}, "swiglu-fwd-gate", -5, 5);
  Tensor up = testing::random_double(Shape{2, 11}, "swiglu-fwd-up", -2, 2);
  std::vector<double> g = gate.to_vector<double>(), u = up.to_vector<double>(), expected;
  for (size_t i = 0; i < g.size(); ++i) expected.push_back(g[i] / (1 + std::exp(-g[i])) * u[i]);
  Tensor out = swiglu(Variable(gate), Variable(up)).data();
  CHECK(testing::max_relative_difference(out, Tensor::from_vector(expected, gate.shape())) < 1e-14);
  CHECK_THROWS_WITH_AS(swiglu(Variable(gate), Variable(Tensor::zeros(Shape{2, 10}, DType::F64))),
                       doctest::Contains("[2, 10]"), Error);
}
