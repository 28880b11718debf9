// Decay and position (SPEC §3), the output forms' pieces, and the softmax baseline (SPEC §5).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "attention/reference.h"
#include "autograd/attention_ops.h"
#include "core/error.h"
#include "kernels/attention_decay.h"
#include "support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using lat::testing::Vars;

TEST_CASE("alibi_log_decay: slopes and layer factor as SPEC §3") {
  auto s8 = kernels::alibi_log_decay(8, 0, 1, DType::F64).to_vector<double>();
  for (int h = 0; h < 8; ++h) CHECK(s8[static_cast<size_t>(h)] == std::exp2(-(h + 1.0)));
  // H = 6: the 4 slopes of H = 4, then slopes 0 and 2 of H = 8.
  auto s6 = kernels::alibi_slopes(6);
  const std::vector<double> expect6{0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125};
  CHECK(s6 == expect6);
  auto l2 = kernels::alibi_log_decay(4, 2, 5, DType::F64).to_vector<double>();
  const double factor = 1.0 - 2.0 / 4.0 + 1e-5;
  for (int h = 0; h < 4; ++h) CHECK(l2[static_cast<size_t>(h)] == doctest::Approx(std::exp2(-2.0 * (h + 1)) * factor).epsilon(1e-15));
  auto last = kernels::alibi_log_decay(4, 4, 5, DType::F64).to_vector<double>();
  CHECK(last[0] == doctest::Approx(std::exp2(-2.0) * 1e-5).epsilon(1e-12));
  CHECK_THROWS_AS(kernels::alibi_log_decay(4, 5, 5), Error);
}

TEST_CASE("rope: relative positions, streaming offsets and long positions") {
  const int64_t N = 9, d = 6;
  Tensor q = testing::random_double(Shape{1, 1, N, d}, "rq"), k = testing::random_double(Shape{1, 1, N, d}, "rk");
  // q_i·k_j after RoPE depends on i − j only: shift both by 1000 positions.
  auto a = rope(Variable(q), 0).data().to_vector<double>(), b = rope(Variable(k), 0).data().to_vector<double>();
  auto a2 = rope(Variable(q), 1000).data().to_vector<double>(), b2 = rope(Variable(k), 1000).data().to_vector<double>();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double x = 0, y = 0;
      for (int64_t c = 0; c < d; ++c) {
        x += a[static_cast<size_t>(i * d + c)] * b[static_cast<size_t>(j * d + c)];
        y += a2[static_cast<size_t>(i * d + c)] * b2[static_cast<size_t>(j * d + c)];
      }
      CHECK(x == doctest::Approx(y).epsilon(1e-10));
    }
  auto part = rope(Variable(q.slice(2, 3, 7).contiguous()), 3).data().to_vector<double>();
  for (size_t i = 0; i < part.size(); ++i) CHECK(part[i] == a[3 * d + i]);
  // At position 10⁷ the float op keeps the double angle: f32 output within f32 rounding of the f64 output.
  Tensor x = testing::random_double(Shape{1, 1, 2, d}, "rx");
  auto f = rope(Variable(x.to(DType::F32)), 10'000'000).data().to_vector<float>();
  auto g = rope(Variable(x), 10'000'000).data().to_vector<double>();
  for (size_t i = 0; i < f.size(); ++i) CHECK(std::abs(f[i] - g[i]) < 1e-6);
  CHECK_THROWS_AS(rope(Variable(testing::random_double(Shape{1, 1, 2, 5}, "odd")), 0), Error);
}

LAT_GRADCHECK("rope", LAT_SHAPES({2, 2, 7, 8}), [](const Vars& in) { return rope(in[0], 13); })
LAT_GRADCHECK("head_rmsnorm", LAT_SHAPES({2, 2, 5, 4}), [](const Vars& in) { return head_rmsnorm(in[0]); })
LAT_GRADCHECK("sigmoid_gate", LAT_SHAPES({2, 3, 4}, {2, 3, 4}), [](const Vars& in) { return sigmoid_gate(in[0], in[1]); })

TEST_CASE("gradcheck rmsnorm output form: head RMSNorm over the unnormalised core, with RoPE") {
  const int64_t B = 1, H = 2, N = 11, d = 4, e = 8;
  const Tensor s = Tensor::from_vector<double>({0.1, 0.5}, Shape{2});
  std::vector<Tensor> in{testing::random_double(Shape{B, H, N, d}, "nq"), testing::random_double(Shape{B, H, N, d}, "nk"),
                         testing::random_double(Shape{B, H, N, e}, "nv"), testing::random_double(Shape{B, H, d, e}, "ns")};
  testing::check_gradients("rmsnorm form", in, [&](const Vars& x) {
    return head_rmsnorm(lightning_attention(rope(x[0], 2), rope(x[1], 2), x[2], s, 4, x[3]).out);
  });
}

namespace {

// Naive causal softmax attention in double: query i at position nk − nq + i.
std::vector<double> naive_softmax(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  const int64_t bh = q.size(0) * q.size(1), nq = q.size(2), nk = k.size(2), d = q.size(3), e = v.size(3);
  auto Q = q.to_vector<double>(), K = k.to_vector<double>(), V = v.to_vector<double>();
  std::vector<double> out(static_cast<size_t>(bh * nq * e), 0.0);
  for (int64_t p = 0; p < bh; ++p)
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t last = nk - nq + i;
      std::vector<double> w(static_cast<size_t>(last + 1));
      double mx = -std::numeric_limits<double>::infinity(), total = 0;
      for (int64_t j = 0; j <= last; ++j) {
        double s = 0;
        for (int64_t c = 0; c < d; ++c) s += Q[static_cast<size_t>((p * nq + i) * d + c)] * K[static_cast<size_t>((p * nk + j) * d + c)];
        w[static_cast<size_t>(j)] = s * scale;
        mx = std::max(mx, s * scale);
      }
      for (auto& x : w) total += (x = std::exp(x - mx));
      for (int64_t j = 0; j <= last; ++j)
        for (int64_t c = 0; c < e; ++c)
          out[static_cast<size_t>((p * nq + i) * e + c)] += w[static_cast<size_t>(j)] / total * V[static_cast<size_t>((p * nk + j) * e + c)];
    }
  return out;
}

}  // namespace

TEST_CASE("softmax_attention: equals the naive reference, a KV-cache query equals the last row") {
  const int64_t B = 2, H = 2, N = 37, d = 8, e = 5;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  Tensor q = testing::random_double(Shape{B, H, N, d}, "sq", -2, 2), k = testing::random_double(Shape{B, H, N, d}, "sk", -2, 2);
  Tensor v = testing::random_double(Shape{B, H, N, e}, "sv");
  auto o = softmax_attention(Variable(q), Variable(k), Variable(v), scale).data().to_vector<double>();
  CHECK(testing::max_rel(o, naive_softmax(q, k, v, scale)) <= 1e-13);
  Tensor q_last = q.slice(2, N - 3, N).contiguous();
  auto tail = softmax_attention(Variable(q_last), Variable(k), Variable(v), scale).data().to_vector<double>();
  CHECK(testing::max_rel(tail, naive_softmax(q_last, k, v, scale)) <= 1e-13);
  for (int64_t p = 0; p < B * H; ++p)
    for (int64_t c = 0; c < 3 * e; ++c)
      CHECK(tail[static_cast<size_t>(p * 3 * e + c)] == doctest::Approx(o[static_cast<size_t>((p * N + N - 3) * e + c)]).epsilon(1e-14));
  // f32 path.
  auto of = softmax_attention(Variable(q.to(DType::F32)), Variable(k.to(DType::F32)), Variable(v.to(DType::F32)), scale);
  CHECK(testing::relative_rms_error(of.data(), Tensor::from_vector<double>(o, Shape{B, H, N, e})) < 1e-5);
}

TEST_CASE("gradcheck softmax_attention (causal, 1/sqrt(d), with RoPE, and a KV-cache shaped query)") {
  const int64_t B = 1, H = 2, N = 13, d = 4, e = 8;
  std::vector<Tensor> in{testing::random_double(Shape{B, H, N, d}, "gq", -2, 2), testing::random_double(Shape{B, H, N, d}, "gk", -2, 2),
                         testing::random_double(Shape{B, H, N, e}, "gv")};
  testing::check_gradients("softmax_attention", in, [](const Vars& x) { return softmax_attention(x[0], x[1], x[2], 0.5); });
  testing::check_gradients("softmax_attention+rope", in, [](const Vars& x) {
    return softmax_attention(rope(x[0], 0), rope(x[1], 0), x[2], 0.5);
  });
  std::vector<Tensor> in2{testing::random_double(Shape{B, H, 3, d}, "gq2", -2, 2), in[1], in[2]};
  testing::check_gradients("softmax_attention.tail", in2, [](const Vars& x) { return softmax_attention(x[0], x[1], x[2], 0.5); });
}
