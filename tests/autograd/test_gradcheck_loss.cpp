// softmax_cross_entropy: gradchecks (with ignored rows, V = 1, N = 1), the forward against a log-sum-exp
// computed directly in double, the all-ignored batch, the scaling by the incoming gradient, and target
// errors.
#include <cmath>

#include "autograd/ops.h"
#include "core/error.h"
#include "support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using lat::testing::Vars;

namespace {
Tensor targets(std::vector<int32_t> t) {
  const int64_t n = static_cast<int64_t>(t.size());
  return Tensor::from_vector<int32_t>(t, Shape{n});
}
}  // namespace

LAT_GRADCHECK("softmax_cross_entropy", LAT_SHAPES({4, 7}), [](const Vars& in) {
  return softmax_cross_entropy(scale(in[0], 3.0), targets({6, 0, 3, 3}));
})
LAT_GRADCHECK("softmax_cross_entropy with ignored rows", LAT_SHAPES({5, 3}), [](const Vars& in) {
  return softmax_cross_entropy(in[0], targets({2, -100, 0, -100, 1}), -100);
})
LAT_GRADCHECK("softmax_cross_entropy N = 1", LAT_SHAPES({1, 5}),
              [](const Vars& in) { return softmax_cross_entropy(in[0], targets({4})); })
LAT_GRADCHECK("softmax_cross_entropy V = 1", LAT_SHAPES({3, 1}), [](const Vars& in) {
  return softmax_cross_entropy(in[0], targets({0, 0, -1}));
})
LAT_GRADCHECK("softmax_cross_entropy scaled downstream", LAT_SHAPES({3, 4}), [](const Vars& in) {
  return scale(softmax_cross_entropy(in[0], targets({1, 2, 3})), -2.5);
})

TEST_CASE("softmax_cross_entropy forward matches mean(logsumexp − logit(target))") {
  for (DType dtype : {DType::F64, DType::F32}) {
    CAPTURE(dtype_name(dtype));
    const int64_t n = 6, v = 29;
    Tensor logits = testing::random_double(Shape{n, v}, "xent-fwd", -20, 20).to(dtype);
    std::vector<int32_t> t = {3, 28, -1, 0, 17, 3};
    std::vector<double> x = logits.to_vector<double>();
    double total = 0;
    int counted = 0;
    for (int64_t r = 0; r < n; ++r) {
      if (t[r] == -1) continue;
      double s = 0;  // naive log-sum-exp (logits are small enough not to overflow in double)
      for (int64_t c = 0; c < v; ++c) s += std::exp(x[r * v + c]);
      total += std::log(s) - x[r * v + t[r]];
      ++counted;
    }
    const double expected = total / counted;
    const double loss = softmax_cross_entropy(Variable(logits), targets(t)).data().item();
    CHECK(loss == doctest::Approx(expected).epsilon(dtype == DType::F64 ? 1e-13 : 1e-6));
  }
}

TEST_CASE("softmax_cross_entropy is stable for huge logits") {
  Tensor logits = Tensor::from_vector<float>({1e4f, 0.f, -1e4f, 3e4f}, Shape{2, 2});
  Variable x(logits, true);
  Variable loss = softmax_cross_entropy(x, targets({1, 0}));
  // Row 0: lse = 1e4, loss 1e4; row 1: lse = 3e4, loss 4e4. Mean 2.5e4.
  CHECK(loss.data().item() == doctest::Approx(2.5e4));
  loss.backward();
  for (float g : x.grad().to_vector<float>()) CHECK(std::isfinite(g));
}

TEST_CASE("softmax_cross_entropy backward scales dlogits by the incoming gradient") {
  Tensor logits = testing::random_double(Shape{3, 4}, "xent-scale");
  Variable a(logits, true), b(logits, true);
  softmax_cross_entropy(a, targets({0, 1, 2})).backward();
  softmax_cross_entropy(b, targets({0, 1, 2})).backward(Tensor::scalar<double>(-3.0));
  std::vector<double> ga = a.grad().to_vector<double>(), gb = b.grad().to_vector<double>();
  for (size_t i = 0; i < ga.size(); ++i) CHECK(gb[i] == doctest::Approx(-3.0 * ga[i]));
  // Each row of the gradient of a mean loss sums to 0; the target entry is (p − 1)/N.
  for (int r = 0; r < 3; ++r)
    CHECK(ga[r * 4] + ga[r * 4 + 1] + ga[r * 4 + 2] + ga[r * 4 + 3] == doctest::Approx(0));
}

TEST_CASE("softmax_cross_entropy with every target ignored: loss 0, gradient 0") {
  Variable x(testing::random_double(Shape{3, 5}, "xent-ignored"), true);
  Variable loss = softmax_cross_entropy(x, targets({-1, -1, -1}));
  CHECK(loss.data().item() == 0.0);
  loss.backward();
  for (double g : x.grad().to_vector<double>()) CHECK(g == 0.0);
}

TEST_CASE("softmax_cross_entropy targets outside 0..V-1 throw naming the target") {
  Variable x(Tensor::zeros(Shape{3, 5}, DType::F32), true);
  CHECK_THROWS_WITH_AS(softmax_cross_entropy(x, targets({0, 5, 1})), doctest::Contains("target 5 at row 1"),
                       Error);
  CHECK_THROWS_WITH_AS(softmax_cross_entropy(x, targets({0, 1, -7})), doctest::Contains("target -7 at row 2"),
                       Error);
  // -1 is the default ignore_index, so it is fine there but not when another index is ignored.
  CHECK_NOTHROW(softmax_cross_entropy(x, targets({-1, 1, 2})));
  CHECK_THROWS_WITH_AS(softmax_cross_entropy(x, targets({-1, 1, 2}), 99), doctest::Contains("target -1"),
                       Error);
  CHECK_THROWS_WITH_AS(softmax_cross_entropy(x, targets({0, 1})), doctest::Contains("[2]"), Error);
}
