// Document boundaries at the op level (issue 22, kernels/documents.h): every attention op on packed documents
// equals the same op run on each document as a sequence of its own, in double, outputs and gradients to
// 1e-12; central-difference gradients of the Lightning Attention-2 core with boundaries (both forms);
// streaming across a chunk edge with a negative start; malformed starts refused. The "separate" side never
// sees document starts.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "attention/documents.h"
#include "autograd/attention_ops.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/feature_maps.h"
#include "kernels/lightning_attention.h"
#include "support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using lat::testing::Document;
using lat::testing::DocumentLayout;
using lat::testing::Vars;

namespace {

using PackedFn = std::function<Variable(const Vars&, const Tensor& starts)>;

struct Comparison {
  double out = 0, grad = 0;  // max relative differences, packed against separate
};

// Runs fn once on the packed inputs with the layout's starts and once per document on its slices without
// starts; each output is contracted with the same random weights R, so the inputs' gradients are comparable
// slice by slice.
Comparison packed_vs_separate(const std::string& tag, const std::vector<Tensor>& inputs, int token_dim,
                              const DocumentLayout& layout, const PackedFn& fn) {
  Vars packed;
  for (const Tensor& t : inputs) packed.emplace_back(t, true);
  const Variable out = fn(packed, testing::starts_of(layout));
  const Tensor R = testing::random_double(out.shape(), tag + ".R");
  out.backward(R);
  Tensor out_separate = Tensor::zeros(out.shape(), DType::F64);
  std::vector<Tensor> grads_separate;
  for (const Tensor& t : inputs) grads_separate.push_back(Tensor::zeros(t.shape(), DType::F64));
  for (const Document& d : testing::documents_of(layout)) {
    Vars alone;
    for (const Tensor& t : inputs) alone.emplace_back(testing::document_slice(t, d, token_dim), true);
    const Variable o = fn(alone, Tensor());
    o.backward(testing::document_slice(R, d, token_dim));
    testing::put_document(out_separate, d, token_dim, o.data());
    for (size_t i = 0; i < inputs.size(); ++i)
      testing::put_document(grads_separate[i], d, token_dim, alone[i].grad());
  }
  Comparison c;
  c.out = testing::max_relative_difference(out.data(), out_separate);
  for (size_t i = 0; i < inputs.size(); ++i)
    c.grad = std::max(c.grad, testing::max_relative_difference(packed[i].grad(), grads_separate[i]));
  return c;
}

Tensor decay_tensor(const std::vector<double>& s) {
  return Tensor::from_vector<double>(s, Shape{static_cast<int64_t>(s.size())});
}

constexpr int64_t kB = 3, kH = 2, kN = 21;

}  // namespace

TEST_CASE(
    "document boundaries: the LA2 core on packed documents equals each document alone (both forms, core "
    "maps)") {
  const int64_t m = 4, e = 3;
  const DocumentLayout layout = testing::edge_case_layout();
  for (bool normalized : {false, true})
    for (int64_t block : {1, 4, 5, 64}) {
      const std::vector<kernels::CoreFeatureMap> maps =
          normalized ? std::vector<kernels::CoreFeatureMap>{kernels::CoreFeatureMap::Identity}
                     : std::vector<kernels::CoreFeatureMap>{kernels::CoreFeatureMap::Identity,
                                                            kernels::CoreFeatureMap::Elu1,
                                                            kernels::CoreFeatureMap::cosine(64, 0)};
      for (size_t f = 0; f < maps.size(); ++f) {
        const std::string tag = std::string(normalized ? "normalized" : "core") + ".b" +
                                std::to_string(block) + ".map" + std::to_string(f);
        CAPTURE(tag);
        const double lo = normalized ? 0.05 : -1.0;  // the normalised form needs q̃·k̃ ≥ 0
        const std::vector<Tensor> in{testing::random_double(Shape{kB, kH, kN, m}, tag + ".q", lo, 1.0),
                                     testing::random_double(Shape{kB, kH, kN, m}, tag + ".k", lo, 1.0),
                                     testing::random_double(Shape{kB, kH, kN, e}, tag + ".v")};
        const Tensor s = decay_tensor({0.0, 0.4});  // the state resets with and without decay
        const kernels::CoreFeatureMap map = maps[f];
        const Comparison c = packed_vs_separate(tag, in, 2, layout, [&](const Vars& x, const Tensor& starts) {
          if (normalized)
            return lightning_attention_normalized(x[0], x[1], x[2], s, block, Variable(), 1e-6, false, starts)
                .out;
          return lightning_attention(x[0], x[1], x[2], s, block, Variable(), map, false, starts).out;
        });
        CHECK(c.out <= 1e-12);
        CHECK(c.grad <= 1e-12);
      }
    }
}

TEST_CASE(
    "document boundaries: the other attention ops on packed documents equal each document alone (RoPE, "
    "cosFormer, FAVOR+, softmax, key shift)") {
  const int64_t d = 4;
  const DocumentLayout layout = testing::edge_case_layout();
  const Tensor w = kernels::draw_random_features(11, 0, 0, 6, d);  // FAVOR+ W, fixed
  const std::vector<std::pair<std::string, PackedFn>> ops{
      {"rope", [](const Vars& x, const Tensor& st) { return rope(x[0], 0, 10000.0, st); }},
      {"cosine", [](const Vars& x, const Tensor& st) { return cosine_feature_map(x[0], 32, 0, st); }},
      {"favor.keys",
       [&](const Vars& x, const Tensor& st) {
         return random_feature_map(x[0], w, false, Tensor(), st).features;
       }},
      {"favor.queries",
       [&](const Vars& x, const Tensor& st) {
         return random_feature_map(x[0], w, true, Tensor(), st).features;
       }},
      {"softmax",
       [](const Vars& x, const Tensor& st) { return softmax_attention(x[0], x[0], x[0], 0.5, st); }},
  };
  for (const auto& op : ops) {
    const std::string& name = op.first;  // no structured bindings near CAPTURE (clang 14)
    const PackedFn& fn = op.second;
    CAPTURE(name);
    // Keys far from the origin make FAVOR+'s per-document stabiliser matter (one constant per sequence would
    // not cancel through the features alone).
    const double range = name == "favor.keys" ? 3.0 : 1.0;
    const Comparison c = packed_vs_separate(
        name, {testing::random_double(Shape{kB, kH, kN, d}, name + ".x", -range, range)}, 2, layout, fn);
    CHECK(c.out <= 1e-12);
    CHECK(c.grad <= 1e-12);
  }
  // Key shift ([B, N, D]): no token sees its predecessor across a boundary.
  const Comparison c =
      packed_vs_separate("shift", {testing::random_double(Shape{kB, kN, 5}, "shift.x")}, 1, layout,
                         [](const Vars& x, const Tensor& st) { return shift_sequence(x[0], Tensor(), st); });
  CHECK(c.out <= 1e-12);
  CHECK(c.grad <= 1e-12);
}

TEST_CASE(
    "document boundaries: a document continued from the initial state (negative start) streams like one "
    "shot") {
  const int64_t m = 4, e = 3;
  const Tensor full_starts = testing::starts_of(testing::edge_case_layout());
  const Tensor s = decay_tensor({0.0, 0.4});
  for (bool normalized : {false, true})
    for (int64_t split : {3, 4, 9, 13}) {
      const std::string tag = std::string(normalized ? "n" : "u") + std::to_string(split);
      CAPTURE(tag);
      const double lo = normalized ? 0.05 : -1.0;
      const Tensor q = testing::random_double(Shape{kB, kH, kN, m}, tag + ".q", lo, 1.0);
      const Tensor k = testing::random_double(Shape{kB, kH, kN, m}, tag + ".k", lo, 1.0);
      const Tensor v = testing::random_double(Shape{kB, kH, kN, e}, tag + ".v");
      const kernels::CoreFeatureMap map =
          normalized ? kernels::CoreFeatureMap::Identity : kernels::CoreFeatureMap::cosine(64, 0);
      auto run = [&](int64_t lo_t, int64_t hi_t, const Variable& init) {
        // Starts in the chunk's coordinates: a document begun in an earlier chunk has a negative start.
        std::vector<int32_t> st;
        for (int64_t b = 0; b < kB; ++b)
          for (int64_t t = lo_t; t < hi_t; ++t)
            st.push_back(full_starts.data<int32_t>()[b * kN + t] - static_cast<int32_t>(lo_t));
        const Tensor starts = Tensor::from_vector<int32_t>(st, Shape{kB, hi_t - lo_t});
        auto part = [&](const Tensor& x) { return Variable(x.slice(2, lo_t, hi_t).contiguous()); };
        return normalized
                   ? lightning_attention_normalized(part(q), part(k), part(v), s, 4, init, 1e-6, true, starts)
                   : lightning_attention(part(q), part(k), part(v), s, 4, init, map, true, starts);
      };
      const LinearAttentionOutput whole = run(0, kN, Variable());
      const LinearAttentionOutput first = run(0, split, Variable());
      const LinearAttentionOutput second = run(split, kN, first.final_state);
      CHECK(testing::max_relative_difference(first.out.data(),
                                             whole.out.data().slice(2, 0, split).contiguous()) <= 1e-12);
      CHECK(testing::max_relative_difference(second.out.data(),
                                             whole.out.data().slice(2, split, kN).contiguous()) <= 1e-12);
      CHECK(testing::max_relative_difference(second.final_state.data(), whole.final_state.data()) <= 1e-12);
    }
}

TEST_CASE(
    "gradcheck lightning_attention with document boundaries (both forms, out and final state, initial "
    "state)") {
  const int64_t B = 2, H = 2, N = 7, m = 3, e = 2;
  // Row 0 continues the initial state for three tokens, then documents at 3 and 5; row 1 starts one at 0 (the
  // initial state unread), then at 1, 4 (a tile edge at block 4) and a one-token document at 6.
  const Tensor starts =
      Tensor::from_vector<int32_t>({-2, -2, -2, 3, 3, 5, 5, 0, 1, 1, 1, 4, 4, 6}, Shape{B, N});
  const Tensor s = decay_tensor({0.0, 0.3});
  for (bool normalized : {false, true})
    for (int64_t block : {1, 4}) {
      const std::string tag =
          std::string(normalized ? "normalized" : "core") + ".docs.b" + std::to_string(block);
      const double lo = normalized ? 0.1 : -1.0;
      const int64_t ea = normalized ? e + 1 : e;
      const std::vector<Tensor> in{
          testing::random_double(Shape{B, H, N, m}, tag + "q", lo, 1.0),
          testing::random_double(Shape{B, H, N, m}, tag + "k", lo, 1.0),
          testing::random_double(Shape{B, H, N, e}, tag + "v"),
          testing::random_double(Shape{B, H, m, ea}, tag + "s", normalized ? 0.0 : -1.0, 1.0)};
      auto core = [&, normalized, block](const Vars& x) {
        return normalized
                   ? lightning_attention_normalized(x[0], x[1], x[2], s, block, x[3], 1e-6, true, starts)
                   : lightning_attention(x[0], x[1], x[2], s, block, x[3], kernels::CoreFeatureMap::Identity,
                                         true, starts);
      };
      // Output and final state through one backward, each contracted with its own random weights.
      const Tensor r_out = testing::random_double(Shape{B, H, N, e}, tag + "ro");
      const Tensor r_state = testing::random_double(Shape{B, H, m, ea}, tag + "rs");
      testing::check_gradients(tag, in, [&](const Vars& x) {
        const LinearAttentionOutput r = core(x);
        return add(sum(mul(r.out, Variable(r_out))), sum(mul(r.final_state, Variable(r_state))));
      });
    }
}

TEST_CASE("document boundaries: malformed document starts are refused, naming document_starts") {
  const Tensor q = testing::random_double(Shape{1, 1, 4, 2}, "bad.q");
  const Tensor s = decay_tensor({0.0});
  auto run = [&](const Tensor& starts) {
    return lightning_attention(Variable(q), Variable(q), Variable(q), s, 2, Variable(),
                               kernels::CoreFeatureMap::Identity, false, starts);
  };
  CHECK_NOTHROW(run(Tensor::from_vector<int32_t>({0, 0, 2, 3}, Shape{1, 4})));
  CHECK_NOTHROW(run(Tensor::from_vector<int32_t>({-5, -5, 2, 2}, Shape{1, 4})));
  for (const std::vector<int32_t>& bad :
       std::vector<std::vector<int32_t>>{{1, 1, 2, 3}, {0, 0, 1, 1}, {0, 0, 2, 0}}) {
    CAPTURE(bad[2]);
    CHECK_THROWS_WITH_AS(run(Tensor::from_vector<int32_t>(bad, Shape{1, 4})),
                         doctest::Contains("document_starts"), Error);
  }
  CHECK_THROWS_WITH_AS(run(Tensor::from_vector<int32_t>({0, 0, 0}, Shape{1, 3})),
                       doctest::Contains("document_starts"), Error);
  CHECK_THROWS_WITH_AS(run(Tensor::zeros(Shape{1, 4}, DType::F64)), doctest::Contains("document_starts"),
                       Error);
}
