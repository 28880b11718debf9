// The gradient-check harness every differentiable op joins with one declaration:
//
//   LAT_GRADCHECK("rmsnorm", SHAPES({4, 7}, {7}), [](const Vars& in) { return rmsnorm(in[0], in[1]); });
//
// It draws double inputs (uniform in [-1, 1], seeded by the case name), contracts the op's output with a
// random weight tensor R, and compares the tape's gradient of sum(out ⊙ R) with central differences for
// every element of every input: ‖analytic − numeric‖₂ / ‖numeric‖₂ < 1e-6 per input.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "core/tensor.h"

namespace lat::testing {

using Vars = std::vector<autograd::Variable>;
using OpFn = std::function<autograd::Variable(const Vars&)>;

struct GradCheckOptions {
  double tolerance = 1e-6;
  double step = 1e-6;
  std::vector<bool> check;  // per input; empty = all
};

// Relative error per input (index i), after CHECKs that each is below the tolerance.
std::vector<double> check_gradients(const std::string& name, const std::vector<Tensor>& inputs, const OpFn& fn,
                                    const GradCheckOptions& options = {});

// Random double tensor, uniform in [lo, hi], from Philox with a seed derived from `tag`.
Tensor random_double(const Shape& shape, const std::string& tag, double lo = -1.0, double hi = 1.0);
Tensor random_float(const Shape& shape, const std::string& tag, double lo = -1.0, double hi = 1.0);
uint64_t seed_from(const std::string& tag);

// max |a - b| / max(max |b|, floor) over all elements; both moved to double on the host.
double max_relative_difference(const Tensor& a, const Tensor& b, double floor = 1e-12);
// sqrt(sum (a-b)²) / sqrt(sum b²): the relative RMS error used for reduced-precision comparisons.
double relative_rms_error(const Tensor& a, const Tensor& b);

}  // namespace lat::testing

#define LAT_SHAPES(...) std::vector<::lat::Shape>{__VA_ARGS__}
#define LAT_GRADCHECK(name, shapes, ...)                                                \
  TEST_CASE("gradcheck " name) {                                                        \
    std::vector<::lat::Tensor> lat_inputs_;                                             \
    int lat_index_ = 0;                                                                 \
    for (const ::lat::Shape& s : shapes)                                                \
      lat_inputs_.push_back(::lat::testing::random_double(s, std::string(name) + std::to_string(lat_index_++))); \
    ::lat::testing::check_gradients(name, lat_inputs_, __VA_ARGS__);                    \
  }
