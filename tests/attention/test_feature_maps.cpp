// Feature maps (SPEC §2): values, gradients (central differences in double), cosFormer positions, and the
// FAVOR+ statistics (unbiasedness; orthogonal features beat iid on variance).
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>

#include "autograd/attention_ops.h"
#include "core/error.h"
#include "kernels/feature_maps.h"
#include "support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using lat::testing::Vars;

namespace {

// Uniform in [−1, 1] with every |x| < 0.1 pushed to ±(0.1 + |x|): away from the ReLU/ELU kinks.
Tensor away_from_kinks(const Shape& shape, const std::string& tag) {
  Tensor t = testing::random_double(shape, tag);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = (p[i] < 0 ? -0.1 : 0.1) + p[i] * 0.9;
  return t;
}

Tensor decay_tensor(const std::vector<double>& s) {
  return Tensor::from_vector<double>(s, Shape{static_cast<int64_t>(s.size())});
}

}  // namespace

TEST_CASE("elu1 and silu feature maps: values") {
  Tensor x = Tensor::from_vector<double>({-2.0, -0.5, 0.0, 0.5, 3.0}, Shape{1, 1, 1, 5});
  auto e = elu1_feature_map(Variable(x)).data().to_vector<double>();
  CHECK(e[0] == doctest::Approx(std::exp(-2.0)));
  CHECK(e[2] == doctest::Approx(1.0));
  CHECK(e[4] == doctest::Approx(4.0));
  auto s = silu_feature_map(Variable(x)).data().to_vector<double>();
  CHECK(s[1] == doctest::Approx(-0.5 / (1 + std::exp(0.5))));
  CHECK(s[4] == doctest::Approx(3.0 / (1 + std::exp(-3.0))));
}

LAT_GRADCHECK("elu1_feature_map", LAT_SHAPES({2, 2, 7, 4}), [](const Vars& in) { return elu1_feature_map(in[0]); })
LAT_GRADCHECK("silu_feature_map", LAT_SHAPES({2, 2, 7, 4}), [](const Vars& in) { return silu_feature_map(in[0]); })

TEST_CASE("gradcheck cosine_feature_map (with a position offset)") {
  Tensor x = away_from_kinks(Shape{2, 2, 9, 4}, "cos.x");
  testing::check_gradients("cosine_feature_map", {x}, [](const Vars& in) { return cosine_feature_map(in[0], 40, 17); });
}

TEST_CASE("cosine feature map: q̃_i·k̃_j = (relu q_i · relu k_j) cos(π(i−j)/2M), absolute positions") {
  const int64_t N = 12, d = 4, M = 30, offset = 5;
  Tensor q = testing::random_double(Shape{1, 1, N, d}, "cq"), k = testing::random_double(Shape{1, 1, N, d}, "ck");
  auto fq = cosine_feature_map(Variable(q), M, offset).data().to_vector<double>();
  auto fk = cosine_feature_map(Variable(k), M, offset).data().to_vector<double>();
  auto qv = q.to_vector<double>(), kv = k.to_vector<double>();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double lhs = 0, rhs = 0;
      for (int64_t c = 0; c < 2 * d; ++c) lhs += fq[static_cast<size_t>(i * 2 * d + c)] * fk[static_cast<size_t>(j * 2 * d + c)];
      for (int64_t c = 0; c < d; ++c)
        rhs += std::max(0.0, qv[static_cast<size_t>(i * d + c)]) * std::max(0.0, kv[static_cast<size_t>(j * d + c)]);
      rhs *= std::cos(std::numbers::pi * static_cast<double>(i - j) / (2.0 * M));
      CHECK(lhs == doctest::Approx(rhs).epsilon(1e-12));
    }
  // The slice [a, b) with offset a equals rows [a, b) of the whole: streaming equals one shot.
  auto part = cosine_feature_map(Variable(q.slice(2, 4, 9).contiguous()), M, offset + 4).data().to_vector<double>();
  for (size_t i = 0; i < part.size(); ++i) CHECK(part[i] == fq[4 * 2 * d + i]);
}

TEST_CASE("cosine feature map: positions at or beyond max_context throw lat::Error naming max_context") {
  Tensor x = testing::random_double(Shape{1, 1, 10, 4}, "cx");
  CHECK_NOTHROW(cosine_feature_map(Variable(x), 10, 0));
  CHECK_THROWS_WITH_AS(cosine_feature_map(Variable(x), 10, 1), doctest::Contains("max_context"), Error);
  CHECK_THROWS_WITH_AS(cosine_feature_map(Variable(x), 9, 0), doctest::Contains("max_context"), Error);
}

TEST_CASE("random features: orthogonal blocks, Gaussian row norms, reproducible from (seed, layer, draw)") {
  const int64_t d = 8, m = 20;
  Tensor w = kernels::draw_random_features(7, 2, 3, m, d);
  CHECK(w.shape() == Shape{m, d});
  auto a = w.to_vector<double>();
  CHECK(kernels::draw_random_features(7, 2, 3, m, d).to_vector<double>() == a);
  CHECK(kernels::draw_random_features(7, 2, 4, m, d).to_vector<double>() != a);
  CHECK(kernels::draw_random_features(7, 3, 3, m, d).to_vector<double>() != a);
  // Rows inside one block of d are mutually orthogonal.
  for (int64_t b = 0; b * d < m; ++b)
    for (int64_t r = b * d; r < std::min(m, (b + 1) * d); ++r)
      for (int64_t s = r + 1; s < std::min(m, (b + 1) * d); ++s) {
        double dot = 0, nr = 0, ns = 0;
        for (int64_t c = 0; c < d; ++c) {
          dot += a[static_cast<size_t>(r * d + c)] * a[static_cast<size_t>(s * d + c)];
          nr += a[static_cast<size_t>(r * d + c)] * a[static_cast<size_t>(r * d + c)];
          ns += a[static_cast<size_t>(s * d + c)] * a[static_cast<size_t>(s * d + c)];
        }
        CHECK(std::abs(dot) / std::sqrt(nr * ns) < 1e-12);
      }
  CHECK_THROWS_WITH_AS(kernels::draw_random_features(1, 0, 0, 0, d), doctest::Contains("feature_dim"), Error);
}

TEST_CASE("gradcheck random_feature_map (keys with a fixed stabiliser, W fixed)") {
  const int64_t d = 4, m = 8;
  Tensor w = kernels::draw_random_features(11, 0, 0, m, d);
  Tensor stab = Tensor::from_vector<double>({0.3, -0.2, 0.1, 0.0}, Shape{2, 2});
  testing::check_gradients("random_feature_map.key", {testing::random_double(Shape{2, 2, 7, d}, "rf.x")},
                           [&](const Vars& in) { return random_feature_map(in[0], w, false, stab).features; });
}

TEST_CASE("gradcheck every feature map through the attention core") {
  const int64_t B = 1, H = 2, N = 10, d = 4, e = 4;
  const Tensor s = decay_tensor({0.0, 0.2});
  Tensor q = away_from_kinks(Shape{B, H, N, d}, "fm.q"), k = away_from_kinks(Shape{B, H, N, d}, "fm.k");
  Tensor v = testing::random_double(Shape{B, H, N, e}, "fm.v");
  testing::check_gradients("elu1+denominator", {q, k, v}, [&](const Vars& in) {
    return lightning_attention_normalized(elu1_feature_map(in[0]), elu1_feature_map(in[1]), in[2], s, 4).out;
  });
  testing::check_gradients("cosine+denominator", {q, k, v}, [&](const Vars& in) {
    return lightning_attention_normalized(cosine_feature_map(in[0], 64, 3), cosine_feature_map(in[1], 64, 3), in[2], s, 4)
        .out;
  });
  testing::check_gradients("identity+rmsnorm", {q, k, v}, [&](const Vars& in) {
    return head_rmsnorm(lightning_attention(in[0], in[1], in[2], s, 4).out);
  });
  testing::check_gradients("silu+rmsnorm", {q, k, v}, [&](const Vars& in) {
    return head_rmsnorm(lightning_attention(silu_feature_map(in[0]), silu_feature_map(in[1]), in[2], s, 4).out);
  });
  // FAVOR+: the query stabiliser is a per-row scale of q̃ and the key stabiliser one constant per sequence;
  // both cancel in the normalised ratio (exactly as eps → 0), so treating them as constants in backward gives
  // the true gradient of the composition.
  Tensor w = kernels::draw_random_features(5, 1, 0, 2 * d, d);
  testing::check_gradients("random+denominator", {q, k, v}, [&](const Vars& in) {
    return lightning_attention_normalized(random_feature_map(in[0], w, true).features,
                                          random_feature_map(in[1], w, false).features, in[2], s, 4, Variable(), 1e-14)
        .out;
  });
}

namespace {

struct Estimate {
  double mean, standard_error, variance;
};

// φ(q)·φ(k) with the stabilisers multiplied back, over `draws` independent W (m features, d dims).
Estimate favor_estimate(const Tensor& q, const Tensor& k, int64_t m, int64_t d, int draws, bool orthogonal) {
  double sum = 0, sum_sq = 0;
  for (int t = 0; t < draws; ++t) {
    Tensor w = kernels::draw_random_features(2024, 0, t, m, d, orthogonal);
    Tensor fq = Tensor::empty(Shape{1, 1, 1, m}, DType::F64), fk = Tensor::empty_like(fq);
    Tensor cq = Tensor::empty(Shape{1, 1, 1}, DType::F64), ck = Tensor::empty(Shape{1, 1}, DType::F64);
    kernels::random_feature_forward(q, w, true, Tensor(), fq, cq);
    kernels::random_feature_forward(k, w, false, Tensor(), fk, ck);
    const double* a = fq.data<double>();
    const double* b = fk.data<double>();
    double dot = 0;
    for (int64_t r = 0; r < m; ++r) dot += a[r] * b[r];
    const double x = dot * std::exp(cq.item() + ck.item());
    sum += x;
    sum_sq += x * x;
  }
  const double n = draws, mean = sum / n, var = (sum_sq - n * mean * mean) / (n - 1);
  return {mean, std::sqrt(var / n), var};
}

}  // namespace

TEST_CASE("FAVOR+ statistics: unbiased estimate of exp(q̂·k̂), orthogonal features have lower variance") {
  const int64_t d = 16, m = 16;
  const int draws = 10000;
  Tensor q = testing::random_double(Shape{1, 1, 1, d}, "favor.q", -0.6, 0.6);
  Tensor k = testing::random_double(Shape{1, 1, 1, d}, "favor.k", -0.6, 0.6);
  double qk = 0;
  auto qv = q.to_vector<double>(), kv = k.to_vector<double>();
  for (int64_t c = 0; c < d; ++c) qk += qv[static_cast<size_t>(c)] * kv[static_cast<size_t>(c)];
  const double target = std::exp(qk / std::sqrt(static_cast<double>(d)));
  const Estimate orth = favor_estimate(q, k, m, d, draws, true);
  const Estimate iid = favor_estimate(q, k, m, d, draws, false);
  MESSAGE("FAVOR+ d=", d, " m=", m, " draws=", draws, ": target exp(q̂·k̂)=", target, "; orthogonal mean=", orth.mean,
          " SE=", orth.standard_error, " (", (orth.mean - target) / orth.standard_error, " SE); iid mean=", iid.mean,
          " SE=", iid.standard_error, " (", (iid.mean - target) / iid.standard_error, " SE)");
  MESSAGE("FAVOR+ variance of one estimate: orthogonal=", orth.variance, " iid=", iid.variance,
          " ratio=", orth.variance / iid.variance);
  CHECK(std::abs(orth.mean - target) < 3 * orth.standard_error);
  CHECK(std::abs(iid.mean - target) < 3 * iid.standard_error);
  CHECK(orth.variance < iid.variance);
}
