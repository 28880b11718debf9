// The Attention module: config validation, streaming (chunks and one-token steps) against the one-shot
// forward, and gradients through the whole block.
#include <doctest/doctest.h>

#include <string>

#include "attention/reference.h"
#include "autograd/nn/attention.h"
#include "core/error.h"
#include "support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using namespace lat::autograd::nn;
using lat::testing::Vars;

namespace {

constexpr int64_t kModel = 16;

AttentionConfig base_config() {
  AttentionConfig c;
  c.heads = 2;
  c.head_dim = 8;
  c.feature_dim = 8;
  c.block = 16;
  c.max_context = 512;
  c.layer = 1;
  c.num_layers = 3;
  return c;
}

// A module with double parameters (gradchecks and 1e-12 comparisons).
std::unique_ptr<Attention> make_double(const AttentionConfig& c) {
  auto a = std::make_unique<Attention>(InitContext{"layers.1.attention", 42, Device::cpu()}, kModel, c);
  for (auto& p : a->parameters()) p.variable.data() = p.variable.data().to(DType::F64);
  return a;
}

std::string describe(const AttentionConfig& c) {
  static const char* maps[] = {"elu1", "cosine", "random", "identity", "silu"};
  return std::string(c.kind == AttentionKind::Softmax ? "softmax" : maps[static_cast<int>(c.feature_map)]) +
         (c.normalize == OutputForm::Denominator ? "/denominator" : "/rmsnorm") +
         (c.decay == DecayKind::Alibi ? "/alibi" : "") + (c.rope ? "/rope" : "") + (c.gate ? "/gate" : "");
}

std::vector<AttentionConfig> streaming_configs() {
  std::vector<AttentionConfig> out;
  auto add = [&](AttentionKind kind, FeatureMapKind f, OutputForm n, DecayKind d, bool rope, bool gate, int64_t m) {
    AttentionConfig c = base_config();
    c.kind = kind;
    c.feature_map = f;
    c.normalize = n;
    c.decay = d;
    c.rope = rope;
    c.gate = gate;
    c.feature_dim = m;
    out.push_back(c);
  };
  using K = AttentionKind;
  using F = FeatureMapKind;
  using N = OutputForm;
  using D = DecayKind;
  add(K::Linear, F::Elu1, N::Denominator, D::None, false, false, 8);
  add(K::Linear, F::Elu1, N::Denominator, D::Alibi, true, true, 8);
  add(K::Linear, F::Cosine, N::Denominator, D::None, false, false, 16);
  add(K::Linear, F::Cosine, N::RmsNorm, D::Alibi, true, false, 16);
  add(K::Linear, F::Identity, N::RmsNorm, D::Alibi, true, true, 8);
  add(K::Linear, F::Silu, N::RmsNorm, D::None, false, false, 8);
  add(K::Linear, F::Random, N::Denominator, D::Alibi, true, false, 12);
  add(K::Linear, F::Random, N::RmsNorm, D::None, false, true, 16);
  add(K::Softmax, F::Elu1, N::Denominator, D::None, true, true, 8);
  add(K::Softmax, F::Elu1, N::Denominator, D::None, false, false, 8);
  // Token shift: streaming must carry the previous chunk's last input.
  add(K::Linear, F::Elu1, N::Denominator, D::None, false, false, 8);
  out.back().key_shift = true;
  add(K::Linear, F::Identity, N::RmsNorm, D::Alibi, false, true, 8);
  out.back().key_shift = true;
  return out;
}

void check_throws_naming(AttentionConfig c, const std::string& field) {
  CAPTURE(field);
  CHECK_THROWS_WITH_AS(c.validate(kModel), doctest::Contains(field.c_str()), Error);
  CHECK_THROWS_WITH_AS(Attention(InitContext{"a", 1, Device::cpu()}, kModel, c), doctest::Contains(field.c_str()), Error);
}

}  // namespace

TEST_CASE("AttentionConfig: bad configurations throw lat::Error naming the field") {
  CHECK_NOTHROW(base_config().validate(kModel));
  AttentionConfig c = base_config();
  c.feature_dim = 0;
  check_throws_naming(c, "attention.feature_dim");
  c.feature_dim = -3;
  check_throws_naming(c, "attention.feature_dim");
  c = base_config();
  c.head_dim = 6;
  check_throws_naming(c, "attention.head_dim");
  c = base_config();
  c.feature_map = FeatureMapKind::Identity;
  check_throws_naming(c, "attention.normalize");
  c.feature_map = FeatureMapKind::Silu;
  check_throws_naming(c, "attention.feature_map = silu");
  c = base_config();
  c.feature_map = FeatureMapKind::Cosine;
  c.feature_dim = 16;
  c.max_context = 0;
  check_throws_naming(c, "attention.max_context");
  c.max_context = 8;
  c.feature_dim = 8;
  check_throws_naming(c, "attention.feature_dim");
  c = base_config();
  c.block = 0;
  check_throws_naming(c, "attention.block");
  c = base_config();
  c.layer = 3;
  check_throws_naming(c, "attention.layer");
  c = base_config();
  c.kind = AttentionKind::Softmax;
  c.decay = DecayKind::Alibi;
  check_throws_naming(c, "attention.decay");
  // cosine beyond M: a sequence longer than max_context is refused at run time, naming max_context.
  c = base_config();
  c.feature_map = FeatureMapKind::Cosine;
  c.feature_dim = 16;
  c.max_context = 8;
  Attention a(InitContext{"a", 1, Device::cpu()}, kModel, c);
  CHECK_NOTHROW(a.forward(Variable(testing::random_float(Shape{1, 8, kModel}, "x8"))));
  CHECK_THROWS_WITH_AS(a.forward(Variable(testing::random_float(Shape{1, 9, kModel}, "x9"))),
                       doctest::Contains("max_context"), Error);
  AttentionState st;
  a.step(Variable(testing::random_float(Shape{1, 8, kModel}, "x8")), st);
  CHECK_THROWS_WITH_AS(a.step(Variable(testing::random_float(Shape{1, 1, kModel}, "x1")), st),
                       doctest::Contains("max_context"), Error);
}

TEST_CASE("Attention: parameters, init reproducibility and random-feature redraw") {
  AttentionConfig c = base_config();
  c.gate = true;
  c.feature_map = FeatureMapKind::Random;
  c.feature_dim = 12;
  Attention a(InitContext{"layers.1.attention", 7, Device::cpu()}, kModel, c);
  Attention b(InitContext{"layers.1.attention", 7, Device::cpu()}, kModel, c);
  std::vector<std::string> names;
  for (auto& p : a.parameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"w_q", "w_k", "w_v", "w_g", "w_o"});
  CHECK(a.w_q.data().to_vector<float>() == b.w_q.data().to_vector<float>());
  CHECK(a.w_q.data().to_vector<float>() != a.w_k.data().to_vector<float>());
  CHECK(a.random_features().shape() == Shape{12, 8});
  const auto w0 = a.random_features().to_vector<double>();
  a.redraw_random_features(5);
  CHECK(a.random_features().to_vector<double>() != w0);
  a.redraw_random_features(0);
  CHECK(a.random_features().to_vector<double>() == w0);
}

namespace {

// Output of `a` on x fed as the given chunks [lo, hi) through one streaming state, laid out like forward().
std::vector<double> streamed(const Attention& a, const Tensor& x, const std::vector<std::pair<int64_t, int64_t>>& chunks,
                             AttentionState& state) {
  const int64_t B = x.size(0), N = x.size(1);
  std::vector<double> out(static_cast<size_t>(B * N * kModel));
  for (auto [lo, hi] : chunks) {
    auto o = a.step(Variable(x.slice(1, lo, hi).contiguous()), state).data().to_vector<double>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = lo; t < hi; ++t)
        for (int64_t c = 0; c < kModel; ++c)
          out[static_cast<size_t>((b * N + t) * kModel + c)] = o[static_cast<size_t>((b * (hi - lo) + t - lo) * kModel + c)];
  }
  return out;
}

}  // namespace

TEST_CASE("Attention: one-token steps over 200 tokens and chunked streaming reproduce the tiled forward") {
  const int64_t B = 2, N = 200;
  Tensor x = testing::random_double(Shape{B, N, kModel}, "stream.x");
  std::vector<std::pair<int64_t, int64_t>> tokens, chunks{{0, 37}, {37, 38}, {38, 131}, {131, 200}};
  for (int64_t t = 0; t < N; ++t) tokens.emplace_back(t, t + 1);
  for (const AttentionConfig& c : streaming_configs()) {
    CAPTURE(describe(c));
    auto a = make_double(c);
    NoGradGuard no_grad;
    const std::vector<double> whole = a->forward(Variable(x)).data().to_vector<double>();
    const bool favor = c.kind == AttentionKind::Linear && c.feature_map == FeatureMapKind::Random;
    // FAVOR+ keys use one stabiliser constant per sequence; forward() takes it over the whole sequence, so a
    // stream reproduces forward() exactly when it starts from that constant (here: taken from a one-chunk pass).
    AttentionState seed_state;
    if (favor) a->step(Variable(x), seed_state);
    AttentionState s1, s2;
    s1.key_stabilizer = s2.key_stabilizer = seed_state.key_stabilizer;
    const double step_err = testing::max_rel(streamed(*a, x, tokens, s1), whole);
    const double chunk_err = testing::max_rel(streamed(*a, x, chunks, s2), whole);
    CHECK(s1.position == N);
    MESSAGE(describe(c), ": one-token steps vs forward ", step_err, ", chunks vs forward ", chunk_err);
    CHECK(step_err <= 1e-12);
    CHECK(chunk_err <= 1e-12);
    if (favor) {
      // Generation in practice: the stabiliser comes from the first chunk (prefill). It cancels in the
      // normalised ratio / the RMSNorm up to eps, so the stream drifts from forward() only by eps effects.
      AttentionState fresh;
      const double drift = testing::max_rel(streamed(*a, x, chunks, fresh), whole);
      MESSAGE(describe(c), ": stream with the prefill's key stabiliser vs forward ", drift);
      if (c.normalize == OutputForm::Denominator) CHECK(drift <= 1e-3);
    }
  }
}

TEST_CASE("gradcheck Attention module input gradient (several configurations)") {
  for (const AttentionConfig& base : streaming_configs()) {
    AttentionConfig c = base;
    c.block = 4;
    // FAVOR+: the stabilisers are constants in backward (SPEC §2); they cancel in the output up to eps, so the
    // true derivative matches once eps is negligible.
    if (c.feature_map == FeatureMapKind::Random) c.eps = 1e-13;
    CAPTURE(describe(c));
    auto a = make_double(c);
    Tensor x = testing::random_double(Shape{1, 9, kModel}, "module.x." + describe(c));
    testing::check_gradients("attention module " + describe(c), {x}, [&](const Vars& in) { return a->forward(in[0]); });
  }
}

TEST_CASE("Attention: state_floats_per_layer() is the size of the state step() carries") {
  const int64_t B = 3, T = 5;
  Tensor x = testing::random_float(Shape{B, T, kModel}, "state.x");
  auto numel = [](const Tensor& t) { return t.defined() ? t.numel() : int64_t{0}; };
  for (const AttentionConfig& c : streaming_configs()) {
    CAPTURE(describe(c));
    CAPTURE(c.key_shift);
    Attention a(InitContext{"layers.1.attention", 3, Device::cpu()}, kModel, c);
    AttentionState s;
    NoGradGuard no_grad;
    a.step(Variable(x), s);
    a.step(Variable(x.slice(1, 0, 1).contiguous()), s);  // one more token: the fixed-size state does not grow
    const int64_t fixed = numel(s.kv) + numel(s.key_stabilizer) + numel(s.last_input);
    if (c.kind == AttentionKind::Softmax) {
      CHECK(a.state_floats_per_layer() == 0);
      CHECK(numel(s.k_cache) + numel(s.v_cache) == a.kv_cache_floats_per_token() * B * (T + 1));
      CHECK(a.kv_cache_floats_per_token() == 2 * c.heads * c.head_dim);
      continue;
    }
    CHECK(numel(s.k_cache) + numel(s.v_cache) == 0);
    CHECK(a.kv_cache_floats_per_token() == 0);
    CHECK(fixed == a.state_floats_per_layer() * B);
    // By hand: H·m·e, + H·m for the denominator's z, + H for FAVOR+'s key constant, + d_model for key shift.
    const int64_t by_hand = c.heads * c.feature_dim * c.head_dim +
                            (c.normalize == OutputForm::Denominator ? c.heads * c.feature_dim : 0) +
                            (c.feature_map == FeatureMapKind::Random ? c.heads : 0) + (c.key_shift ? kModel : 0);
    CHECK(a.state_floats_per_layer() == by_hand);
  }
}
