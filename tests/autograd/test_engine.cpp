// The tape and engine: diamond graphs, variable reuse, no-grad, accumulation across two backward calls,
// and freeing of the graph after backward.
#include <doctest/doctest.h>

#include <algorithm>

#include "autograd/ops.h"
#include "core/error.h"

using namespace lat;
using namespace lat::autograd;

namespace {
Variable leaf(std::vector<double> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Variable(Tensor::from_vector(v, Shape{n}), true);
}
std::vector<double> grad_of(const Variable& v) { return v.grad().to_vector<double>(); }
}  // namespace

TEST_CASE("diamond graph: a gradient arriving by two paths is summed") {
  Variable x = leaf({1, 2, 3});
  Variable a = scale(x, 2.0);  // 2x
  Variable b = mul(x, x);      // x²
  Variable y = sum(add(a, b)); // Σ 2x + x²  →  d/dx = 2 + 2x
  y.backward();
  CHECK(grad_of(x) == std::vector<double>{4, 6, 8});
}

TEST_CASE("a variable used twice by one op gets both contributions") {
  Variable x = leaf({3, -1});
  sum(mul(x, x)).backward();
  CHECK(grad_of(x) == std::vector<double>{6, -2});
}

TEST_CASE("gradients accumulate across two backward calls until zero_grad") {
  Variable x = leaf({1, 2});
  sum(scale(x, 3.0)).backward();
  sum(scale(x, 3.0)).backward();
  CHECK(grad_of(x) == std::vector<double>{6, 6});
  x.zero_grad();
  CHECK(!x.grad().defined());
  sum(x).backward();
  CHECK(grad_of(x) == std::vector<double>{1, 1});
}

TEST_CASE("no-grad guard records nothing") {
  Variable x = leaf({1, 2});
  Variable y;
  {
    NoGradGuard guard;
    y = sum(scale(x, 2.0));
  }
  CHECK(!y.requires_grad());
  CHECK(y.is_leaf());
  CHECK_THROWS_AS(y.backward(), Error);
  CHECK(grad_enabled());
}

TEST_CASE("inputs that do not require grad get none, and the graph is freed after backward") {
  Variable x = leaf({1, 2});
  Variable c(Tensor::from_vector<double>({5, 7}, Shape{2}), false);
  Variable y = sum(mul(x, c));
  y.backward();
  CHECK(grad_of(x) == std::vector<double>{5, 7});
  CHECK(!c.grad().defined());
  CHECK_THROWS_AS(y.backward(), Error);  // second backward through a freed graph is an error, not garbage
}

TEST_CASE("backward with an explicit seed weights the outputs") {
  Variable x = leaf({1, 2, 3});
  Variable y = scale(x, 2.0);
  y.backward(Tensor::from_vector<double>({1, 0, -1}, Shape{3}));
  CHECK(grad_of(x) == std::vector<double>{2, 0, -2});
}

TEST_CASE("a leaf's grad-ready hook fires once, after its last contribution") {
  Variable x = leaf({1, 2});
  Variable w = leaf({3, 4});
  std::vector<std::string> events;
  x.set_grad_ready_hook([&] { events.push_back("x:" + std::to_string(x.grad().to_vector<double>()[0])); });
  w.set_grad_ready_hook([&] { events.push_back("w"); });
  // x is used three times (twice through mul(x, x), once through add); w once.
  sum(add(mul(x, x), mul(x, w))).backward();
  REQUIRE(events.size() == 2);
  CHECK(std::count(events.begin(), events.end(), "w") == 1);
  // When x's hook ran, its gradient was complete: d/dx (x² + x·w) = 2x + w = 5 at x=1.
  CHECK(std::find(events.begin(), events.end(), "x:5.000000") != events.end());
}
