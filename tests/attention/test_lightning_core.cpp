// The tiled core (SPEC §4) against the quadratic reference and the per-token recurrence (SPEC §6), and
// central-difference gradients of the core and the normalised form.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "attention/reference.h"
#include "autograd/attention_ops.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/feature_maps.h"
#include "kernels/lightning_attention.h"
#include "support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using lat::testing::Vars;

namespace {

Tensor decay_tensor(const std::vector<double>& s) {
  return Tensor::from_vector<double>(s, Shape{static_cast<int64_t>(s.size())});
}

}  // namespace

TEST_CASE("lightning_attention: tiled = quadratic = recurrence in double") {
  const int64_t B = 2, H = 2, m = 5, e = 3;
  double worst = 0;
  for (int64_t N : {1, 7, 63, 64, 65, 130})
    for (bool decay : {false, true})
      for (bool normalized : {false, true})
        for (bool with_init : {false, true}) {
          const std::string tag = std::to_string(N) + (decay ? "d" : "") + (normalized ? "n" : "") + (with_init ? "i" : "");
          // Normalised needs q̃·k̃ ≥ 0: positive features.
          const double lo = normalized ? 0.05 : -1.0;
          Tensor q = testing::random_double(Shape{B, H, N, m}, "q" + tag, lo, 1.0);
          Tensor k = testing::random_double(Shape{B, H, N, m}, "k" + tag, lo, 1.0);
          Tensor v = testing::random_double(Shape{B, H, N, e}, "v" + tag);
          const std::vector<double> s = decay ? std::vector<double>{0.03, 0.7} : std::vector<double>{0.0, 0.0};
          const int64_t ea = normalized ? e + 1 : e;
          Tensor init = with_init ? testing::random_double(Shape{B, H, m, ea}, "s" + tag, normalized ? 0.0 : -1.0, 1.0)
                                  : Tensor();
          const std::vector<double> init_v = with_init ? init.to_vector<double>() : std::vector<double>{};
          auto quad = testing::quadratic_linear_attention(q.to_vector<double>(), k.to_vector<double>(),
                                                          v.to_vector<double>(), s, init_v, B, H, N, m, e, normalized);
          auto rec = testing::recurrent_linear_attention(q.to_vector<double>(), k.to_vector<double>(),
                                                         v.to_vector<double>(), s, init_v, B, H, N, m, e, normalized);
          CAPTURE(tag);
          CHECK(testing::max_rel(rec.out, quad.out) <= 1e-12);
          CHECK(testing::max_rel(rec.state, quad.state) <= 1e-12);
          for (int64_t block : {1, 2, 16, 64}) {
            CAPTURE(block);
            Variable iv = with_init ? Variable(init) : Variable();
            LinearAttentionOutput r = normalized
                                          ? lightning_attention_normalized(Variable(q), Variable(k), Variable(v),
                                                                           decay_tensor(s), block, iv)
                                          : lightning_attention(Variable(q), Variable(k), Variable(v), decay_tensor(s),
                                                                block, iv);
            const double eo = testing::max_rel(r.out.data().to_vector<double>(), quad.out);
            const double es = testing::max_rel(r.final_state.data().to_vector<double>(), quad.state);
            CHECK(eo <= 1e-12);
            CHECK(es <= 1e-12);
            worst = std::max({worst, eo, es});
          }
        }
  MESSAGE("worst relative difference tiled vs quadratic: ", worst);
}

TEST_CASE("lightning_attention: float path matches double within fp32 accuracy") {
  const int64_t B = 1, H = 2, N = 100, m = 16, e = 8;
  Tensor q = testing::random_double(Shape{B, H, N, m}, "fq"), k = testing::random_double(Shape{B, H, N, m}, "fk");
  Tensor v = testing::random_double(Shape{B, H, N, e}, "fv");
  std::vector<double> s{0.0, 0.1};
  auto d = lightning_attention(Variable(q), Variable(k), Variable(v), decay_tensor(s), 16);
  auto f = lightning_attention(Variable(q.to(DType::F32)), Variable(k.to(DType::F32)), Variable(v.to(DType::F32)),
                               decay_tensor(s).to(DType::F32), 16);
  CHECK(testing::relative_rms_error(f.out.data(), d.out.data()) < 1e-5);
  CHECK(testing::relative_rms_error(f.final_state.data(), d.final_state.data()) < 1e-5);
}

TEST_CASE("lightning_attention: streaming in chunks with the carried state equals one shot") {
  const int64_t B = 1, H = 2, N = 70, m = 4, e = 6;
  Tensor q = testing::random_double(Shape{B, H, N, m}, "cq", 0.05, 1.0);
  Tensor k = testing::random_double(Shape{B, H, N, m}, "ck", 0.05, 1.0);
  Tensor v = testing::random_double(Shape{B, H, N, e}, "cv");
  Tensor s = decay_tensor({0.02, 0.4});
  for (bool normalized : {false, true}) {
    auto run = [&](const Tensor& qq, const Tensor& kk, const Tensor& vv, const Variable& init) {
      return normalized ? lightning_attention_normalized(Variable(qq), Variable(kk), Variable(vv), s, 16, init)
                        : lightning_attention(Variable(qq), Variable(kk), Variable(vv), s, 16, init);
    };
    auto whole = run(q, k, v, Variable());
    Variable state;
    std::vector<double> streamed;
    for (auto [a, b] : {std::pair<int64_t, int64_t>{0, 5}, {5, 37}, {37, 38}, {38, 70}}) {
      auto part = run(q.slice(2, a, b).contiguous(), k.slice(2, a, b).contiguous(), v.slice(2, a, b).contiguous(), state);
      state = part.final_state;
      // Gather this chunk into [H][positions] order for comparison.
      streamed.resize(static_cast<size_t>(H * N * e));
      auto o = part.out.data().to_vector<double>();
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = a; i < b; ++i)
          for (int64_t c = 0; c < e; ++c)
            streamed[static_cast<size_t>((h * N + i) * e + c)] = o[static_cast<size_t>((h * (b - a) + i - a) * e + c)];
    }
    CAPTURE(normalized);
    CHECK(testing::max_rel(streamed, whole.out.data().to_vector<double>()) <= 1e-12);
    CHECK(testing::max_rel(state.data().to_vector<double>(), whole.final_state.data().to_vector<double>()) <= 1e-12);
  }
}

TEST_CASE("lightning_attention without its final state: the same output and gradients, no state") {
  const int64_t B = 2, H = 2, N = 37, m = 4, e = 5;
  const Tensor q = testing::random_double(Shape{B, H, N, m}, "nq", 0.05, 1.0);
  const Tensor k = testing::random_double(Shape{B, H, N, m}, "nk", 0.05, 1.0);
  const Tensor v = testing::random_double(Shape{B, H, N, e}, "nv");
  const Tensor g = testing::random_double(Shape{B, H, N, e}, "ng");
  const Tensor s = decay_tensor({0.05, 0.7});
  for (bool normalized : {false, true}) {
    CAPTURE(normalized);
    auto run = [&](bool with_state) {
      Variable vq(q, true), vk(k, true), vv(v, true);
      const LinearAttentionOutput r =
          normalized ? lightning_attention_normalized(vq, vk, vv, s, 8, Variable(), 1e-6, with_state)
                     : lightning_attention(vq, vk, vv, s, 8, Variable(), kernels::CoreFeatureMap::Identity, with_state);
      CHECK(r.final_state.defined() == with_state);
      sum(mul(r.out, Variable(g))).backward();
      return std::vector<Tensor>{r.out.data(), vq.grad(), vk.grad(), vv.grad()};
    };
    const std::vector<Tensor> with = run(true), without = run(false);
    for (size_t i = 0; i < with.size(); ++i) CHECK(with[i].to_vector<double>() == without[i].to_vector<double>());
  }
}

TEST_CASE("lightning_attention on an empty sequence passes the state through, forward and backward") {
  const int64_t B = 2, H = 3, m = 4, e = 6;
  const Shape qs{B, H, 0, m}, vs{B, H, 0, e}, ss{B, H, m, e};
  Tensor q = Tensor::empty(qs, DType::F64), k = Tensor::empty(qs, DType::F64), v = Tensor::empty(vs, DType::F64);
  Tensor s = decay_tensor({0.02, 0.4, 1.5});
  Tensor init = testing::random_double(ss, "empty_init"), gfin = testing::random_double(ss, "empty_gfin");
  Tensor o = Tensor::empty(vs, DType::F64), fin = Tensor::empty(ss, DType::F64);
  kernels::lightning_attention_forward(q, k, v, s, init, 16, o, fin, nullptr, kernels::CoreFeatureMap::Identity);
  CHECK(fin.to_vector<double>() == init.to_vector<double>());
  Tensor go = Tensor::empty(vs, DType::F64), dq = Tensor::empty(qs, DType::F64), dk = Tensor::empty(qs, DType::F64);
  Tensor dv = Tensor::empty(vs, DType::F64), dinit = Tensor::empty(ss, DType::F64);
  kernels::lightning_attention_backward(q, k, v, s, init, 16, go, gfin, dq, dk, dv, dinit, Tensor(),
                                        kernels::CoreFeatureMap::Identity);
  CHECK(dinit.to_vector<double>() == gfin.to_vector<double>());
}

TEST_CASE("lightning_attention: normalised output is invariant to positive per-row scaling of q") {
  const int64_t B = 1, H = 1, N = 20, m = 4, e = 3;
  Tensor q = testing::random_double(Shape{B, H, N, m}, "iq", 0.1, 1.0);
  Tensor k = testing::random_double(Shape{B, H, N, m}, "ik", 0.1, 1.0);
  Tensor v = testing::random_double(Shape{B, H, N, e}, "iv");
  Tensor q2 = q.clone();
  double* p = q2.data<double>();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = 0; c < m; ++c) p[i * m + c] *= 1.0 + 0.5 * static_cast<double>(i % 5);
  // eps breaks exact invariance; with den ≫ eps the change is O(eps / den).
  auto a = lightning_attention_normalized(Variable(q), Variable(k), Variable(v), decay_tensor({0.1}), 8, {}, 1e-15);
  auto b = lightning_attention_normalized(Variable(q2), Variable(k), Variable(v), decay_tensor({0.1}), 8, {}, 1e-15);
  CHECK(testing::max_rel(b.out.data().to_vector<double>(), a.out.data().to_vector<double>()) <= 1e-13);
}

// The identity the CUDA normalised backward restores by projection (kernels/cuda/lightning_attention.cu): o_t does
// not change when q_t is scaled except through eps, so dq_t·q_t = (G_t·o_t)·eps/den_t (den_t includes eps).
TEST_CASE("normalised form: the exact gradient satisfies dq_t·q_t = (G_t·o_t)·eps / den_t") {
  const int64_t H = 2, N = 37, m = 5, e = 3;
  for (const double eps : {1e-6, 0.5}) {
    Variable q(testing::random_double(Shape{1, H, N, m}, "sq", 0.1, 1.0), true);
    Variable k(testing::random_double(Shape{1, H, N, m}, "sk", 0.1, 1.0), true);
    Variable v(testing::random_double(Shape{1, H, N, e}, "sv"), true);
    Variable s0(testing::random_double(Shape{1, H, m, e + 1}, "ss", 0.0, 1.0), true);
    const Tensor g = testing::random_double(Shape{1, H, N, e}, "sg");
    auto r = lightning_attention_normalized(q, k, v, decay_tensor({0.2, 0.02}), 8, s0, eps);
    sum(mul(r.out, Variable(g))).backward();
    Tensor o = r.out.data(), den = Tensor::empty(Shape{1, H, N}, DType::F64, Device::cpu());
    Tensor o2 = Tensor::empty_like(o), fin = Tensor::empty(Shape{1, H, m, e + 1}, DType::F64, Device::cpu());
    kernels::lightning_attention_normalized_forward(q.data(), k.data(), v.data(), decay_tensor({0.2, 0.02}), s0.data(),
                                                    8, eps, o2, fin, den);
    const auto Q = q.data().to_vector<double>(), DQ = q.grad().to_vector<double>(), O = o.to_vector<double>();
    const auto G = g.to_vector<double>(), DEN = den.to_vector<double>();
    double worst = 0.0;
    for (int64_t t = 0; t < H * N; ++t) {
      double lhs = 0.0, go = 0.0, scale = 0.0;
      for (int64_t a = 0; a < m; ++a) {
        lhs += DQ[static_cast<size_t>(t * m + a)] * Q[static_cast<size_t>(t * m + a)];
        scale += std::abs(DQ[static_cast<size_t>(t * m + a)] * Q[static_cast<size_t>(t * m + a)]);
      }
      for (int64_t b = 0; b < e; ++b) go += G[static_cast<size_t>(t * e + b)] * O[static_cast<size_t>(t * e + b)];
      worst = std::max(worst, std::abs(lhs - go * eps / DEN[static_cast<size_t>(t)]) / scale);
    }
    INFO("eps ", eps);
    CHECK(worst <= 1e-12);
  }
}

// --- gradients (central differences in double, SPEC §6) ---

namespace {

// Runs check_gradients on inputs drawn in [lo, hi] (positive features for the normalised form).
void gradcheck_inputs(const std::string& name, const std::vector<Shape>& shapes, const std::vector<double>& lo,
                      const testing::OpFn& fn) {
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < shapes.size(); ++i)
    inputs.push_back(testing::random_double(shapes[i], name + std::to_string(i), lo[i], 1.0));
  testing::check_gradients(name, inputs, fn);
}

}  // namespace

TEST_CASE("gradcheck lightning_attention core (out and final state), N not a multiple of the block") {
  const int64_t B = 2, H = 2, N = 13, m = 4, e = 8;
  const Tensor s = decay_tensor({0.0, 0.25});
  const std::vector<Shape> shapes{{B, H, N, m}, {B, H, N, m}, {B, H, N, e}, {B, H, m, e}};
  for (int64_t block : {1, 4, 16}) {
    gradcheck_inputs("core.out.b" + std::to_string(block), shapes, {-1, -1, -1, -1}, [&](const Vars& in) {
      return lightning_attention(in[0], in[1], in[2], s, block, in[3]).out;
    });
    gradcheck_inputs("core.state.b" + std::to_string(block), shapes, {-1, -1, -1, -1}, [&](const Vars& in) {
      return lightning_attention(in[0], in[1], in[2], s, block, in[3]).final_state;
    });
  }
  // Both outputs at once: their gradients accumulate through one backward.
  gradcheck_inputs("core.both", shapes, {-1, -1, -1, -1}, [&](const Vars& in) {
    auto r = lightning_attention(in[0], in[1], in[2], s, 4, in[3]);
    return add(sum(r.out), scale(sum(r.final_state), 0.5));
  });
}

TEST_CASE("gradcheck lightning_attention on [B, N, H, D] buffers seen as [B, H, N, D] (strided operands)") {
  const int64_t B = 2, H = 3, N = 9, m = 4, e = 5;
  const Tensor s = decay_tensor({0.0, 0.25, 0.5});
  const std::vector<Shape> shapes{{B, N, H, m}, {B, N, H, m}, {B, N, H, e}, {B, H, m, e}};
  gradcheck_inputs("core.strided", shapes, {-1, -1, -1, -1}, [&](const Vars& in) {
    auto r = lightning_attention(transpose(in[0], 1, 2), transpose(in[1], 1, 2), transpose(in[2], 1, 2), s, 4, in[3]);
    return add(sum(mul(r.out, r.out)), sum(r.final_state));
  });
  // Same values as the contiguous operands, and the output follows v's [B, N, H, e] layout.
  Tensor q = testing::random_double(shapes[0], "sq"), k = testing::random_double(shapes[1], "sk");
  Tensor v = testing::random_double(shapes[2], "sv");
  auto strided = lightning_attention(Variable(q.transpose(1, 2)), Variable(k.transpose(1, 2)),
                                     Variable(v.transpose(1, 2)), s, 4, Variable());
  auto dense = lightning_attention(Variable(q.transpose(1, 2).contiguous()), Variable(k.transpose(1, 2).contiguous()),
                                   Variable(v.transpose(1, 2).contiguous()), s, 4, Variable());
  CHECK(strided.out.data().transpose(1, 2).is_contiguous());
  const std::vector<double> a = strided.out.data().contiguous().to_vector<double>();
  const std::vector<double> b = dense.out.data().to_vector<double>();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-12));
}

TEST_CASE("lightning_attention with a core feature map = the feature-map op, then the core (values, gradients)") {
  const int64_t B = 1, H = 2, N = 10, m = 4, e = 3;
  const Tensor s = decay_tensor({0.1, 0.4});
  const std::vector<Shape> shapes{{B, H, N, m}, {B, H, N, m}, {B, H, N, e}};
  for (auto [f, name] : {std::pair{kernels::CoreFeatureMap::Elu1, "elu1"}, std::pair{kernels::CoreFeatureMap::Silu, "silu"}}) {
    auto fused = [&, f = f](const Vars& in) {
      auto r = lightning_attention(in[0], in[1], in[2], s, 4, Variable(), f);
      return add(sum(mul(r.out, r.out)), sum(r.final_state));
    };
    gradcheck_inputs(std::string("core.feature.") + name, shapes, {-1, -1, -1}, fused);
    Tensor q = testing::random_double(shapes[0], std::string("fq") + name);
    Tensor k = testing::random_double(shapes[1], std::string("fk") + name);
    Tensor v = testing::random_double(shapes[2], std::string("fv") + name);
    const bool elu = f == kernels::CoreFeatureMap::Elu1;
    auto phi = [&](const Tensor& x) { return elu ? elu1_feature_map(Variable(x)) : silu_feature_map(Variable(x)); };
    const std::vector<double> a =
        lightning_attention(Variable(q), Variable(k), Variable(v), s, 4, Variable(), f).out.data().to_vector<double>();
    const std::vector<double> b = lightning_attention(phi(q), phi(k), Variable(v), s, 4).out.data().to_vector<double>();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-12));
  }
}

// cosFormer's map in the core: [B, H, 2d, e] states (sin rows first), positions offset .. offset + N − 1 (the CUDA
// fast path splits it into two d × d cores; tests/gpu holds that against this composition).
TEST_CASE("lightning_attention with the cosine core map = cosine_feature_map, then the core (values, gradients)") {
  const int64_t B = 1, H = 2, N = 10, d = 4, e = 3, M = 40, offset = 23;
  const Tensor s = decay_tensor({0.1, 0.4});
  const kernels::CoreFeatureMap f = kernels::CoreFeatureMap::cosine(M, offset);
  CHECK(f.features(d) == 2 * d);
  const std::vector<Shape> shapes{{B, H, N, d}, {B, H, N, d}, {B, H, N, e}, {B, H, 2 * d, e}};
  auto fused = [&](const Vars& in) {
    auto r = lightning_attention(in[0], in[1], in[2], s, 4, in[3], f);
    return add(sum(mul(r.out, r.out)), sum(mul(r.final_state, r.final_state)));
  };
  gradcheck_inputs("core.feature.cosine", shapes, {-1, -1, -1, -1}, fused);

  // Fused and composed on the same values: outputs, final state and every gradient to rounding.
  auto inputs = [&] {  // the same values on every call
    std::vector<Variable> in;
    for (size_t i = 0; i < shapes.size(); ++i)
      in.emplace_back(testing::random_double(shapes[i], "cos" + std::to_string(i)), true);
    return in;
  };
  const Tensor g_out = testing::random_double(shapes[2], "cos_go");
  const Tensor g_fin = testing::random_double(shapes[3], "cos_gf");
  std::vector<Variable> a = inputs(), b = inputs();
  auto ra = lightning_attention(a[0], a[1], a[2], s, 4, a[3], f);
  auto rb = lightning_attention(cosine_feature_map(b[0], M, offset), cosine_feature_map(b[1], M, offset), b[2], s, 4,
                                b[3]);
  add(sum(mul(ra.out, Variable(g_out))), sum(mul(ra.final_state, Variable(g_fin)))).backward();
  add(sum(mul(rb.out, Variable(g_out))), sum(mul(rb.final_state, Variable(g_fin)))).backward();
  auto same = [](const char* what, const Tensor& x, const Tensor& y) {
    const std::vector<double> u = x.contiguous().to_vector<double>(), w = y.contiguous().to_vector<double>();
    REQUIRE(u.size() == w.size());
    const double err = testing::max_rel(u, w);
    MESSAGE(std::string(what), ": max relative difference ", err);
    CHECK(err <= 1e-12);
  };
  same("out", ra.out.data(), rb.out.data());
  same("final_state", ra.final_state.data(), rb.final_state.data());
  const char* names[] = {"dq", "dk", "dv", "d(initial state)"};
  for (size_t i = 0; i < a.size(); ++i) same(names[i], a[i].grad(), b[i].grad());

  // The split the CUDA fast path runs: two d × d cores on the sin and cos halves of φ, initial state rows split the
  // same way; their outputs add and their final states stack (sin rows first).
  auto half = [&](const Tensor& x, int64_t h) {
    const Shape& xs = x.shape();
    Tensor y = Tensor::empty(Shape{xs[0], xs[1], xs[2], 2 * xs[3]}, DType::F64);
    kernels::cosine_feature_forward(x, M, offset, y);
    return y.slice(3, h * d, (h + 1) * d).contiguous();
  };
  std::vector<double> o_sum, fin_stacked;
  for (int64_t h = 0; h < 2; ++h) {
    const Tensor init_h = a[3].data().slice(2, h * d, (h + 1) * d).contiguous();
    auto r = lightning_attention(Variable(half(a[0].data(), h)), Variable(half(a[1].data(), h)), Variable(a[2].data()),
                                 s, 4, Variable(init_h));
    const std::vector<double> o = r.out.data().to_vector<double>();
    if (o_sum.empty()) o_sum.assign(o.size(), 0.0);
    for (size_t i = 0; i < o.size(); ++i) o_sum[i] += o[i];
    const std::vector<double> fs = r.final_state.data().to_vector<double>();
    fin_stacked.resize(static_cast<size_t>(B * H * 2 * d * e));
    for (int64_t bh = 0; bh < B * H; ++bh)
      for (int64_t i = 0; i < d * e; ++i)
        fin_stacked[static_cast<size_t>((bh * 2 + h) * d * e + i)] = fs[static_cast<size_t>(bh * d * e + i)];
  }
  const double split_out = testing::max_rel(o_sum, ra.out.data().to_vector<double>());
  const double split_fin = testing::max_rel(fin_stacked, ra.final_state.data().to_vector<double>());
  MESSAGE("two d x d cores: out ", split_out, ", stacked final states ", split_fin);
  CHECK(split_out <= 1e-12);
  CHECK(split_fin <= 1e-12);

  // Positions past M are refused with the feature-map op's sentence, naming max_context.
  const kernels::CoreFeatureMap short_m = kernels::CoreFeatureMap::cosine(N + offset - 1, offset);
  CHECK_THROWS_WITH_AS(lightning_attention(a[0], a[1], a[2], s, 4, a[3], short_m), doctest::Contains("max_context"),
                       Error);
}

// The normalised form's backward without the augmented column, as a fused kernel would compute it (docs/perf/la2.md
// v7 addendum): with den'_t = den_t + eps, G'_t = G_t / den'_t and the per-row score bias c_t = −(G_t·o_t) / den'_t,
//   dq_t = Σ_{j≤t} λ^{t−j} (G'_t·v_j + c_t) k_j + λ^t (S0 G'_t + z0 c_t)
//   dk_j = Σ_{i≥j} λ^{i−j} (G'_i·v_j + c_i) q_i + λ^{N−j} (G_S v_j + g_z)
//   dv_j = Σ_{i≥j} λ^{i−j} (q_i·k_j) G'_i + λ^{N−j} G_Sᵀ k_j
//   dS0 = Σ_i λ^i q_i G'_iᵀ + λ^N G_S,   dz0 = Σ_i λ^i c_i q_i + λ^N g_z
// where [G_S | g_z] is the final state's gradient. Checked against the op's backward (the core on [V | 1]).
TEST_CASE("normalised form: closed-form gradients with a per-row score bias and key sums equal the op's backward") {
  const int64_t B = 1, H = 2, N = 11, m = 4, e = 3;
  const std::vector<double> sv{0.2, 0.0};
  const Tensor s = decay_tensor(sv);
  Variable q(testing::random_double(Shape{B, H, N, m}, "cq", 0.1, 1.0), true);
  Variable k(testing::random_double(Shape{B, H, N, m}, "ck", 0.1, 1.0), true);
  Variable v(testing::random_double(Shape{B, H, N, e}, "cv"), true);
  Variable s0(testing::random_double(Shape{B, H, m, e + 1}, "cs", 0.0, 1.0), true);
  const Tensor g_out = testing::random_double(Shape{B, H, N, e}, "cg");
  const Tensor g_fin = testing::random_double(Shape{B, H, m, e + 1}, "cf");
  const double eps = 1e-6;
  auto r = lightning_attention_normalized(q, k, v, s, 4, s0, eps);
  add(sum(mul(r.out, Variable(g_out))), sum(mul(r.final_state, Variable(g_fin)))).backward();

  const auto Q = q.data().to_vector<double>(), K = k.data().to_vector<double>(), V = v.data().to_vector<double>();
  const auto S0 = s0.data().to_vector<double>(), G = g_out.to_vector<double>(), GF = g_fin.to_vector<double>();
  const auto O = r.out.data().to_vector<double>();
  std::vector<double> dq(Q.size()), dk(K.size()), dv(V.size()), ds0(S0.size());
  for (int64_t h = 0; h < H; ++h) {
    const double lam = std::exp(-sv[static_cast<size_t>(h)]);
    auto qv = [&](int64_t t, int64_t i) { return Q[static_cast<size_t>((h * N + t) * m + i)]; };
    auto kv = [&](int64_t t, int64_t i) { return K[static_cast<size_t>((h * N + t) * m + i)]; };
    auto vv = [&](int64_t t, int64_t c) { return V[static_cast<size_t>((h * N + t) * e + c)]; };
    auto s0v = [&](int64_t i, int64_t c) { return S0[static_cast<size_t>((h * m + i) * (e + 1) + c)]; };  // c = e: z0
    auto gfv = [&](int64_t i, int64_t c) { return GF[static_cast<size_t>((h * m + i) * (e + 1) + c)]; };  // c = e: g_z
    auto dot_qk = [&](int64_t t, int64_t j) {
      double d = 0;
      for (int64_t i = 0; i < m; ++i) d += qv(t, i) * kv(j, i);
      return d;
    };
    std::vector<double> Gp(static_cast<size_t>(N * e)), c(static_cast<size_t>(N));
    for (int64_t t = 0; t < N; ++t) {
      double den = eps;  // den'_t = Σ_{j≤t} λ^{t−j} q_t·k_j + λ^t q_t·z0 + eps
      for (int64_t j = 0; j <= t; ++j) den += std::pow(lam, static_cast<double>(t - j)) * dot_qk(t, j);
      for (int64_t i = 0; i < m; ++i) den += std::pow(lam, static_cast<double>(t)) * qv(t, i) * s0v(i, e);
      double go = 0;
      for (int64_t cc = 0; cc < e; ++cc) {
        const double gv = G[static_cast<size_t>((h * N + t) * e + cc)];
        Gp[static_cast<size_t>(t * e + cc)] = gv / den;
        go += gv * O[static_cast<size_t>((h * N + t) * e + cc)];
      }
      c[static_cast<size_t>(t)] = -go / den;
    }
    auto gp = [&](int64_t t, int64_t cc) { return Gp[static_cast<size_t>(t * e + cc)]; };
    auto gv_dot = [&](int64_t t, int64_t j) {  // G'_t·v_j + c_t
      double d = c[static_cast<size_t>(t)];
      for (int64_t cc = 0; cc < e; ++cc) d += gp(t, cc) * vv(j, cc);
      return d;
    };
    for (int64_t t = 0; t < N; ++t)
      for (int64_t i = 0; i < m; ++i) {
        double a = 0, b = 0;
        for (int64_t j = 0; j <= t; ++j) a += std::pow(lam, static_cast<double>(t - j)) * gv_dot(t, j) * kv(j, i);
        for (int64_t cc = 0; cc < e; ++cc) a += std::pow(lam, static_cast<double>(t)) * s0v(i, cc) * gp(t, cc);
        a += std::pow(lam, static_cast<double>(t)) * s0v(i, e) * c[static_cast<size_t>(t)];
        for (int64_t ii = t; ii < N; ++ii) b += std::pow(lam, static_cast<double>(ii - t)) * gv_dot(ii, t) * qv(ii, i);
        double gs = gfv(i, e);
        for (int64_t cc = 0; cc < e; ++cc) gs += gfv(i, cc) * vv(t, cc);
        b += std::pow(lam, static_cast<double>(N - t)) * gs;
        dq[static_cast<size_t>((h * N + t) * m + i)] = a;
        dk[static_cast<size_t>((h * N + t) * m + i)] = b;
      }
    for (int64_t j = 0; j < N; ++j)
      for (int64_t cc = 0; cc < e; ++cc) {
        double a = 0;
        for (int64_t ii = j; ii < N; ++ii) a += std::pow(lam, static_cast<double>(ii - j)) * dot_qk(ii, j) * gp(ii, cc);
        for (int64_t i = 0; i < m; ++i) a += std::pow(lam, static_cast<double>(N - j)) * gfv(i, cc) * kv(j, i);
        dv[static_cast<size_t>((h * N + j) * e + cc)] = a;
      }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t cc = 0; cc <= e; ++cc) {
        double a = std::pow(lam, static_cast<double>(N)) * gfv(i, cc);
        for (int64_t t = 0; t < N; ++t)
          a += std::pow(lam, static_cast<double>(t)) * qv(t, i) * (cc < e ? gp(t, cc) : c[static_cast<size_t>(t)]);
        ds0[static_cast<size_t>((h * m + i) * (e + 1) + cc)] = a;
      }
  }
  auto close = [](const std::vector<double>& a, const Tensor& b, const std::string& what) {
    const double diff = testing::max_relative_difference(Tensor::from_vector(a, b.shape()), b);
    MESSAGE(what, ": max |closed form - op| / max |op| = ", diff);
    CHECK(diff <= 1e-10);
  };
  close(dq, q.grad(), "dq");
  close(dk, k.grad(), "dk");
  close(dv, v.grad(), "dv");
  close(ds0, s0.grad(), "d initial state");
}

// The same gradients by the tile recurrences the fused kernel runs (kernels/cuda/lightning_attention.cu, "Aug"),
// per head, in double, tiles of T tokens: forward with the key sum z next to S (den = λ^r q·z + row sums of the
// masked scores); with G as given and c̃ = −(G·o): the dQ sweep with the row bias c̃_r in its scores and λ^r c̃_r z
// in its state term, the row divided by den_r at the end; the reverse dK/dV sweep on q̃ = q / den, with the column
// bias c̃_i in dK's scores and dz = Σ λ c̃ q̃ next to D. Checked against the op (the core on [V | 1]), and dq
// against the scale invariance dq_t·q_t = −eps·c_t (c = c̃ / den) that the kernel's projection restores.
TEST_CASE("normalised form: the fused kernel's tile recurrences (key sums, score biases) equal the op") {
  const int64_t H = 2, N = 13, m = 3, e = 2, T = 4;  // N not a multiple of the tile
  const std::vector<double> sv{0.3, 0.05};
  const double eps = 1e-6;
  Variable q(testing::random_double(Shape{1, H, N, m}, "tq", 0.1, 1.0), true);
  Variable k(testing::random_double(Shape{1, H, N, m}, "tk", 0.1, 1.0), true);
  Variable v(testing::random_double(Shape{1, H, N, e}, "tv"), true);
  Variable s0(testing::random_double(Shape{1, H, m, e + 1}, "ts", 0.0, 1.0), true);
  const Tensor g_out = testing::random_double(Shape{1, H, N, e}, "tg");
  const Tensor g_fin = testing::random_double(Shape{1, H, m, e + 1}, "tf");
  auto r = lightning_attention_normalized(q, k, v, decay_tensor(sv), 4, s0, eps);
  add(sum(mul(r.out, Variable(g_out))), sum(mul(r.final_state, Variable(g_fin)))).backward();

  const auto Q = q.data().to_vector<double>(), K = k.data().to_vector<double>(), V = v.data().to_vector<double>();
  const auto S0 = s0.data().to_vector<double>(), G = g_out.to_vector<double>(), GF = g_fin.to_vector<double>();
  std::vector<double> o(V.size()), fin(S0.size()), dq(Q.size()), dk(K.size()), dv(V.size()), ds0(S0.size());
  using Mat = std::vector<std::vector<double>>;  // [m][e]
  for (int64_t h = 0; h < H; ++h) {
    const double lam = std::exp(-sv[static_cast<size_t>(h)]);
    auto pw = [lam](int64_t x) { return std::pow(lam, static_cast<double>(x)); };
    auto at = [h](const std::vector<double>& x, int64_t w, int64_t t, int64_t c) -> double {
      return x[static_cast<size_t>((h * N + t) * w + c)];
    };
    auto qk = [&](int64_t i, int64_t j) {
      double d = 0;
      for (int64_t a = 0; a < m; ++a) d += at(Q, m, i, a) * at(K, m, j, a);
      return d;
    };
    Mat S(static_cast<size_t>(m), std::vector<double>(static_cast<size_t>(e)));
    std::vector<double> z(static_cast<size_t>(m)), den(static_cast<size_t>(N)), c(static_cast<size_t>(N));
    auto load_init = [&] {
      for (int64_t a = 0; a < m; ++a) {
        for (int64_t b = 0; b < e; ++b) S[a][b] = S0[static_cast<size_t>((h * m + a) * (e + 1) + b)];
        z[static_cast<size_t>(a)] = S0[static_cast<size_t>((h * m + a) * (e + 1) + e)];
      }
    };
    // S ← λ^nb S + Σ_c λ^{nb−c} k_c x_cᵀ and z ← λ^nb z + Σ_c λ^{nb−c} k_c over one tile [t0, t0 + nb).
    auto advance = [&](int64_t t0, int64_t nb, const std::vector<double>& X) {
      for (int64_t a = 0; a < m; ++a) {
        z[static_cast<size_t>(a)] *= pw(nb);
        for (int64_t b = 0; b < e; ++b) S[a][b] *= pw(nb);
        for (int64_t cc = 0; cc < nb; ++cc) {
          const double kw = pw(nb - cc) * at(K, m, t0 + cc, a);
          z[static_cast<size_t>(a)] += kw;
          for (int64_t b = 0; b < e; ++b) S[a][b] += kw * at(X, e, t0 + cc, b);
        }
      }
    };
    // Forward.
    load_init();
    for (int64_t t0 = 0; t0 < N; t0 += T) {
      const int64_t nb = std::min(T, N - t0);
      for (int64_t rr = 0; rr < nb; ++rr) {
        const int64_t t = t0 + rr;
        double d = eps;
        std::vector<double> num(static_cast<size_t>(e));
        for (int64_t a = 0; a < m; ++a) {
          d += pw(rr) * at(Q, m, t, a) * z[static_cast<size_t>(a)];
          for (int64_t b = 0; b < e; ++b) num[static_cast<size_t>(b)] += pw(rr) * at(Q, m, t, a) * S[a][b];
        }
        for (int64_t cc = 0; cc <= rr; ++cc) {
          const double p = pw(rr - cc) * qk(t, t0 + cc);
          d += p;
          for (int64_t b = 0; b < e; ++b) num[static_cast<size_t>(b)] += p * at(V, e, t0 + cc, b);
        }
        den[static_cast<size_t>(t)] = d;
        double go = 0;
        for (int64_t b = 0; b < e; ++b) {
          o[static_cast<size_t>((h * N + t) * e + b)] = num[static_cast<size_t>(b)] / d;
          go += at(G, e, t, b) * num[static_cast<size_t>(b)] / d;
        }
        c[static_cast<size_t>(t)] = -go;  // c̃ = −(G·o)
      }
      advance(t0, nb, V);
    }
    for (int64_t a = 0; a < m; ++a) {
      for (int64_t b = 0; b < e; ++b) fin[static_cast<size_t>((h * m + a) * (e + 1) + b)] = S[a][b];
      fin[static_cast<size_t>((h * m + a) * (e + 1) + e)] = z[static_cast<size_t>(a)];
    }
    auto qt = [&](int64_t t, int64_t a) { return at(Q, m, t, a) / den[static_cast<size_t>(t)]; };  // q̃
    // dQ sweep: forward order, the same S and z.
    load_init();
    for (int64_t t0 = 0; t0 < N; t0 += T) {
      const int64_t nb = std::min(T, N - t0);
      for (int64_t rr = 0; rr < nb; ++rr) {
        const int64_t t = t0 + rr;
        for (int64_t a = 0; a < m; ++a) {
          double x = pw(rr) * z[static_cast<size_t>(a)] * c[static_cast<size_t>(t)];
          for (int64_t b = 0; b < e; ++b) x += pw(rr) * S[a][b] * at(G, e, t, b);
          for (int64_t cc = 0; cc <= rr; ++cc) {
            double p = c[static_cast<size_t>(t)];  // the row bias
            for (int64_t b = 0; b < e; ++b) p += at(G, e, t, b) * at(V, e, t0 + cc, b);
            x += pw(rr - cc) * p * at(K, m, t0 + cc, a);
          }
          dq[static_cast<size_t>((h * N + t) * m + a)] = x / den[static_cast<size_t>(t)];
        }
        double dq_q = 0;
        for (int64_t a = 0; a < m; ++a) dq_q += dq[static_cast<size_t>((h * N + t) * m + a)] * at(Q, m, t, a);
        CHECK(dq_q == doctest::Approx(-eps * c[static_cast<size_t>(t)] / den[static_cast<size_t>(t)]).epsilon(1e-9));
      }
      advance(t0, nb, V);
    }
    // dK/dV sweep: reverse order; D and dz enter from the right (the final state's gradient).
    Mat D(static_cast<size_t>(m), std::vector<double>(static_cast<size_t>(e)));
    std::vector<double> dz(static_cast<size_t>(m));
    for (int64_t a = 0; a < m; ++a) {
      for (int64_t b = 0; b < e; ++b) D[a][b] = GF[static_cast<size_t>((h * m + a) * (e + 1) + b)];
      dz[static_cast<size_t>(a)] = GF[static_cast<size_t>((h * m + a) * (e + 1) + e)];
    }
    const int64_t last_t0 = ((N - 1) / T) * T;
    for (int64_t t0 = last_t0; t0 >= 0; t0 -= T) {
      const int64_t t1 = std::min(t0 + T, N);
      for (int64_t j = t0; j < t1; ++j) {
        for (int64_t b = 0; b < e; ++b) {  // dv_j = λ^{t1−j} Dᵀ k_j + Σ_{j≤i<t1} λ^{i−j} (q̃_i·k_j) G_i
          double x = 0;
          for (int64_t a = 0; a < m; ++a) x += pw(t1 - j) * D[a][b] * at(K, m, j, a);
          for (int64_t i = j; i < t1; ++i) x += pw(i - j) * qk(i, j) / den[static_cast<size_t>(i)] * at(G, e, i, b);
          dv[static_cast<size_t>((h * N + j) * e + b)] = x;
        }
        for (int64_t a = 0; a < m; ++a) {  // dk_j = λ^{t1−j} (D v_j + dz) + Σ λ^{i−j} (G_i·v_j + c̃_i) q̃_i
          double x = pw(t1 - j) * dz[static_cast<size_t>(a)];
          for (int64_t b = 0; b < e; ++b) x += pw(t1 - j) * D[a][b] * at(V, e, j, b);
          for (int64_t i = j; i < t1; ++i) {
            double p = c[static_cast<size_t>(i)];  // the column bias
            for (int64_t b = 0; b < e; ++b) p += at(G, e, i, b) * at(V, e, j, b);
            x += pw(i - j) * p * qt(i, a);
          }
          dk[static_cast<size_t>((h * N + j) * m + a)] = x;
        }
      }
      for (int64_t a = 0; a < m; ++a) {  // D ← λ^{t1−t0} D + Σ λ^{i−t0} q̃_i G_iᵀ, dz likewise with c̃_i q̃_i
        dz[static_cast<size_t>(a)] *= pw(t1 - t0);
        for (int64_t b = 0; b < e; ++b) D[a][b] *= pw(t1 - t0);
        for (int64_t i = t0; i < t1; ++i) {
          dz[static_cast<size_t>(a)] += pw(i - t0) * c[static_cast<size_t>(i)] * qt(i, a);
          for (int64_t b = 0; b < e; ++b) D[a][b] += pw(i - t0) * qt(i, a) * at(G, e, i, b);
        }
      }
    }
    for (int64_t a = 0; a < m; ++a) {
      for (int64_t b = 0; b < e; ++b) ds0[static_cast<size_t>((h * m + a) * (e + 1) + b)] = D[a][b];
      ds0[static_cast<size_t>((h * m + a) * (e + 1) + e)] = dz[static_cast<size_t>(a)];
    }
  }
  auto close = [](const std::vector<double>& a, const Tensor& b, const std::string& what) {
    INFO(what);
    CHECK(testing::max_relative_difference(Tensor::from_vector(a, b.shape()), b) <= 1e-10);
  };
  close(o, r.out.data(), "o");
  close(fin, r.final_state.data(), "final state [S | z]");
  close(dq, q.grad(), "dq");
  close(dk, k.grad(), "dk");
  close(dv, v.grad(), "dv");
  close(ds0, s0.grad(), "d initial state [dS | dz]");
}

TEST_CASE("normalised-form row helpers take slices of [num | den] and refuse rows that are not at one stride") {
  const int64_t B = 2, H = 3, N = 5, e = 4;
  const Tensor num_aug = testing::random_double(Shape{B, H, N, e + 1}, "hn", 0.5, 2.0);
  Tensor out = Tensor::empty(Shape{B, H, N, e}, DType::F64), den = Tensor::empty(Shape{B, H, N}, DType::F64);
  kernels::normalize_by_denominator(num_aug.slice(3, 0, e), num_aug.slice(3, e, e + 1), 1e-6, out, den);
  const auto a = num_aug.to_vector<double>(), o = out.to_vector<double>(), d = den.to_vector<double>();
  for (int64_t r = 0; r < B * H * N; ++r) {
    const double expect = a[static_cast<size_t>(r * (e + 1) + e)] + 1e-6;
    CHECK(d[static_cast<size_t>(r)] == doctest::Approx(expect).epsilon(1e-15));
    for (int64_t c = 0; c < e; ++c)
      CHECK(o[static_cast<size_t>(r * e + c)] ==
            doctest::Approx(a[static_cast<size_t>(r * (e + 1) + c)] / expect).epsilon(1e-15));
  }
  // [B, N, H, e] seen as [B, H, N, e]: its rows are not at one stride; the error names the argument.
  const Tensor bnhd = testing::random_double(Shape{B, N, H, e}, "hb", 0.5, 2.0).transpose(1, 2);
  try {
    kernels::normalize_by_denominator(bnhd, num_aug.slice(3, e, e + 1), 1e-6, out, den);
    FAIL("a [B, N, H, e] view was accepted");
  } catch (const Error& err) {
    CHECK(std::string(err.what()).find("num must hold its rows at one stride") != std::string::npos);
  }
}

TEST_CASE("gradcheck lightning_attention normalised form") {
  const int64_t B = 1, H = 2, N = 11, m = 4, e = 4;
  const Tensor s = decay_tensor({0.0, 0.3});
  const std::vector<Shape> shapes{{B, H, N, m}, {B, H, N, m}, {B, H, N, e}, {B, H, m, e + 1}};
  for (int64_t block : {1, 4}) {
    gradcheck_inputs("normalized.out.b" + std::to_string(block), shapes, {0.1, 0.1, -1, 0.0}, [&](const Vars& in) {
      return lightning_attention_normalized(in[0], in[1], in[2], s, block, in[3]).out;
    });
    gradcheck_inputs("normalized.state.b" + std::to_string(block), shapes, {0.1, 0.1, -1, 0.0}, [&](const Vars& in) {
      return lightning_attention_normalized(in[0], in[1], in[2], s, block, in[3]).final_state;
    });
  }
}
