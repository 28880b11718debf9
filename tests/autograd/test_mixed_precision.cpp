// Mixed precision on the tape: `cast` and the rule that linear/rmsnorm cast their parameter to the activation's
// dtype. On the CPU the pair (f64 parameters, f32 activations) stands in for the GPU's (f32 master weights, bf16
// activations): the forward must equal the all-f32 computation exactly and the parameter's gradient must come
// back in the parameter's own dtype with the f32 computation's values.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "core/random.h"

using namespace lat;
using namespace lat::autograd;

namespace {

Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::F64);
  fill_uniform(t, seed, 0, -1.0, 1.0);
  return t.to(dtype);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

}  // namespace

TEST_CASE("cast: forward converts, backward returns the gradient in the input's dtype") {
  Variable x(random_tensor(Shape{3, 5}, DType::F64, 1), true);
  Variable y = cast(x, DType::F32);
  CHECK(y.dtype() == DType::F32);
  CHECK(max_abs_diff(y.data(), x.data().to(DType::F32)) == 0.0);
  Variable w(random_tensor(Shape{3, 5}, DType::F32, 2), false);
  sum(mul(y, w)).backward();
  REQUIRE(x.grad().defined());
  CHECK(x.grad().dtype() == DType::F64);
  CHECK(max_abs_diff(x.grad(), w.data()) == 0.0);  // d/dx Σ x·w = w, carried exactly through the casts
  CHECK(cast(x, DType::F64).id() == x.id());      // same dtype: the variable itself, nothing recorded
}

TEST_CASE("linear and rmsnorm cast their parameter to the activation dtype, its gradient keeps the parameter's") {
  const Tensor x0 = random_tensor(Shape{4, 7, 6}, DType::F32, 3);
  const Tensor w0 = random_tensor(Shape{5, 6}, DType::F64, 4);
  const Tensor g0 = random_tensor(Shape{5}, DType::F64, 5);
  const Tensor up = random_tensor(Shape{4, 7, 5}, DType::F32, 6);

  // Mixed: f64 parameters, f32 activations.
  Variable x(x0, true), w(w0, true), gain(g0, true);
  Variable y = rmsnorm(linear(x, w), gain, 1e-5);
  CHECK(y.dtype() == DType::F32);
  sum(mul(y, Variable(up))).backward();
  // Reference: everything in f32 (the parameters rounded once, as the cast does).
  Variable rx(x0, true), rw(w0.to(DType::F32), true), rgain(g0.to(DType::F32), true);
  Variable ry = rmsnorm(linear(rx, rw), rgain, 1e-5);
  sum(mul(ry, Variable(up))).backward();

  CHECK(max_abs_diff(y.data(), ry.data()) == 0.0);
  CHECK(w.grad().dtype() == DType::F64);
  CHECK(gain.grad().dtype() == DType::F64);
  CHECK(x.grad().dtype() == DType::F32);
  CHECK(max_abs_diff(w.grad(), rw.grad()) == 0.0);
  CHECK(max_abs_diff(gain.grad(), rgain.grad()) == 0.0);
  CHECK(max_abs_diff(x.grad(), rx.grad()) == 0.0);
}

TEST_CASE("softmax cross-entropy's loss is in the accumulation dtype of its logits") {
  CHECK(accumulation_dtype(DType::BF16) == DType::F32);
  CHECK(accumulation_dtype(DType::F32) == DType::F32);
  CHECK(accumulation_dtype(DType::F64) == DType::F64);
  Variable logits(random_tensor(Shape{6, 11}, DType::F32, 7), true);
  Variable loss = softmax_cross_entropy(logits, Tensor::from_vector<int32_t>({0, 3, -1, 10, 5, 2}, Shape{6}));
  CHECK(loss.dtype() == DType::F32);
  loss.backward();
  CHECK(logits.grad().dtype() == DType::F32);
}
