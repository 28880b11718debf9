// The Attention module against references written out here: the softmax kind equals causal softmax(q·kᵀ/√d)·v per
// head followed by w_o, in double from the module's own weights; the projections start with the standard deviations
// the design names (1/√d_model in, 1/√(2·L·H·d) out, GPT-2's residual scaling).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/attention_ops.h"
#include "autograd/nn/attention.h"
#include "core/random.h"

using namespace lat;
using namespace lat::autograd;
using namespace lat::autograd::nn;

namespace {

std::vector<double> as_double(const Variable& v) {
  const Tensor t = v.data().to(DType::F64).contiguous();
  return t.to_vector<double>();
}

double sample_std(const std::vector<double>& x) {
  double mean = 0, ss = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (double v : x) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

}  // namespace

TEST_CASE("Attention (softmax kind) equals causal softmax(q kᵀ / sqrt(d)) v per head, then w_o, in double") {
  const int64_t B = 2, N = 7, D = 16, H = 2, d = 8;
  AttentionConfig c;
  c.kind = AttentionKind::Softmax;
  c.heads = H;
  c.head_dim = d;
  c.feature_dim = d;
  const Attention a(InitContext{"layers.0.attention", 5, Device::cpu()}, D, c);
  Tensor x = Tensor::empty(Shape{B, N, D}, DType::F32);
  fill_normal(x, 11, 0);
  const std::vector<float> out = a.forward(Variable(x)).data().contiguous().to_vector<float>();
  REQUIRE(out.size() == static_cast<size_t>(B * N * D));

  const std::vector<double> wq = as_double(a.w_q), wk = as_double(a.w_k), wv = as_double(a.w_v), wo = as_double(a.w_o);
  const std::vector<double> xs = as_double(Variable(x));
  auto project = [&](const std::vector<double>& w, int64_t b, int64_t t, int64_t row) {  // (x[b, t] · wᵀ)[row]
    double s = 0;
    for (int64_t i = 0; i < D; ++i) s += xs[static_cast<size_t>((b * N + t) * D + i)] * w[static_cast<size_t>(row * D + i)];
    return s;
  };
  double worst = 0, scale_of_out = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < N; ++t) {
      std::vector<double> merged(static_cast<size_t>(H * d), 0.0);  // [H·d] before w_o
      for (int64_t h = 0; h < H; ++h) {
        std::vector<double> scores(static_cast<size_t>(t + 1));
        double mx = -INFINITY;
        for (int64_t j = 0; j <= t; ++j) {
          double s = 0;
          for (int64_t c2 = 0; c2 < d; ++c2) s += project(wq, b, t, h * d + c2) * project(wk, b, j, h * d + c2);
          scores[static_cast<size_t>(j)] = s / std::sqrt(static_cast<double>(d));
          mx = std::max(mx, scores[static_cast<size_t>(j)]);
        }
        double z = 0;
        for (double& s : scores) z += (s = std::exp(s - mx));
        for (int64_t j = 0; j <= t; ++j)
          for (int64_t c2 = 0; c2 < d; ++c2)
            merged[static_cast<size_t>(h * d + c2)] += scores[static_cast<size_t>(j)] / z * project(wv, b, j, h * d + c2);
      }
      for (int64_t o = 0; o < D; ++o) {
        double y = 0;
        for (int64_t i = 0; i < H * d; ++i) y += merged[static_cast<size_t>(i)] * wo[static_cast<size_t>(o * H * d + i)];
        const double got = out[static_cast<size_t>((b * N + t) * D + o)];
        worst = std::max(worst, std::abs(got - y));
        scale_of_out = std::max(scale_of_out, std::abs(y));
      }
    }
  CHECK(scale_of_out > 1e-3);              // the reference is not trivially zero
  CHECK(worst <= 1e-5 * (1 + scale_of_out));  // fp32 forward against the double reference
}

TEST_CASE("Attention: initial projection std is 1/sqrt(d_model) in and 1/sqrt(2·L·H·d) out") {
  const int64_t D = 64, L = 3;
  AttentionConfig c;
  c.heads = 4;
  c.head_dim = 16;
  c.feature_dim = 16;
  c.num_layers = L;
  c.layer = 1;
  c.gate = true;
  const Attention a(InitContext{"layers.1.attention", 3, Device::cpu()}, D, c);
  // 4096 draws each: the sample std is within ~1.1 % (one standard error) of the truth; 5 % is > 4 errors.
  // Relative, by hand: doctest::Approx adds a scale of 1 to its tolerance, which would accept any std below 0.05.
  auto relative_error = [](double got, double want) { return std::abs(got / want - 1.0); };
  for (const Variable* w : {&a.w_q, &a.w_k, &a.w_v, &a.w_g}) CHECK(relative_error(sample_std(as_double(*w)), 1.0 / 8.0) < 0.05);
  CHECK(relative_error(sample_std(as_double(a.w_o)), 1.0 / std::sqrt(2.0 * L * 64.0)) < 0.05);
}

TEST_CASE("rope rotates pair c of position p by p · base^(-2c/d): values by hand") {
  // d = 4, base 10000: θ₀ = 1, θ₁ = 10000^(-1/2) = 0.01. x = [1, 0, 1, 0] at position 3 (offset 3, one token)
  // -> [cos 3, sin 3, cos 0.03, sin 0.03]. Relative-position tests hold for any θ; this pins the frequencies.
  const Tensor x = Tensor::from_vector<double>({1, 0, 1, 0}, Shape{1, 1, 1, 4});
  const std::vector<double> y = rope(Variable(x), 3).data().to_vector<double>();
  REQUIRE(y.size() == 4);
  CHECK(y[0] == doctest::Approx(std::cos(3.0)).epsilon(1e-14));
  CHECK(y[1] == doctest::Approx(std::sin(3.0)).epsilon(1e-14));
  CHECK(y[2] == doctest::Approx(std::cos(0.03)).epsilon(1e-14));
  CHECK(y[3] == doctest::Approx(std::sin(0.03)).epsilon(1e-14));
}
