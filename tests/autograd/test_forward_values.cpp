// Forward values that gradchecks cannot see: a gradcheck compares an op's backward with finite differences of its
// own forward, so a forward that is consistently wrong (a mean over the wrong count, an eps argument ignored by
// forward and backward alike) passes it. These compare the forward with hand computations in double.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/ops.h"

using namespace lat;
using namespace lat::autograd;

TEST_CASE("mean forward is the sum of every element over the element count (hand-computed, 2-D and 3-D)") {
  // [2, 3]: 1..6 sums to 21, 6 elements -> 3.5. [2, 2, 2]: 1..8 sums to 36, 8 elements -> 4.5.
  const Variable a(Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, Shape{2, 3}));
  CHECK(mean(a).data().item() == 3.5);
  const Variable b(Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8}, Shape{2, 2, 2}));
  CHECK(mean(b).data().item() == 4.5);
}

TEST_CASE("rmsnorm forward honours eps: a large eps (0.5) against x / sqrt(mean(x²) + eps) · gain by hand") {
  // One row [3, 4], gain [1, 2]: mean(x²) = 12.5, rms = sqrt(13) with eps 0.5.
  const Variable x(Tensor::from_vector<double>({3, 4}, Shape{1, 2}));
  const Variable g(Tensor::from_vector<double>({1, 2}, Shape{2}));
  for (const double eps : {0.5, 2.0}) {
    CAPTURE(eps);
    const std::vector<double> y = rmsnorm(x, g, eps).data().to_vector<double>();
    const double rms = std::sqrt(12.5 + eps);
    CHECK(y[0] == doctest::Approx(3 / rms).epsilon(1e-14));
    CHECK(y[1] == doctest::Approx(8 / rms).epsilon(1e-14));
  }
}
