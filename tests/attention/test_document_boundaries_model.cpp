// Document boundaries through the attention module and the language model (issue 22): a batch of packed
// documents gives the same outputs, per-token losses and gradients (inputs and every parameter) as running
// each document alone, in double to 1e-12, for every attention variant with RoPE and key shift on; the
// document starts come from EOS tokens (data/documents.h); generation starts a fresh state at EOS.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "attention/documents.h"
#include "attention/reference.h"
#include "autograd/nn/attention.h"
#include "autograd/nn/language_model.h"
#include "autograd/ops.h"
#include "data/documents.h"
#include "support/gradcheck.h"
#include "trainers/generate.h"

using namespace lat;
using namespace lat::autograd;
using namespace lat::autograd::nn;
using lat::testing::Document;

namespace {

constexpr int64_t kModel = 16;

// Every variant the comparison trains, with RoPE and key shift on (the cases where positions and the shifted
// key could leak across a boundary); tiles of 4 so that the layout's boundaries fall on and off tile edges.
std::vector<std::pair<std::string, AttentionConfig>> variants() {
  std::vector<std::pair<std::string, AttentionConfig>> out;
  auto add = [&](const std::string& name, AttentionKind kind, FeatureMapKind f, OutputForm n, DecayKind d,
                 int64_t m) {
    AttentionConfig c;
    c.kind = kind;
    c.feature_map = f;
    c.normalize = n;
    c.decay = d;
    c.rope = true;
    c.key_shift = true;
    c.heads = 2;
    c.head_dim = 8;
    c.feature_dim = m;
    c.block = 4;
    c.max_context = 64;
    out.emplace_back(name, c);
  };
  using K = AttentionKind;
  using F = FeatureMapKind;
  using N = OutputForm;
  using D = DecayKind;
  add("softmax", K::Softmax, F::Elu1, N::Denominator, D::None, 8);
  add("elu1/denominator", K::Linear, F::Elu1, N::Denominator, D::None, 8);
  add("elu1/rmsnorm", K::Linear, F::Elu1, N::RmsNorm, D::None, 8);
  add("cosine/denominator", K::Linear, F::Cosine, N::Denominator, D::None, 16);
  add("cosine/rmsnorm", K::Linear, F::Cosine, N::RmsNorm, D::Alibi, 16);
  add("favor/denominator", K::Linear, F::Random, N::Denominator, D::None, 12);
  add("favor/rmsnorm", K::Linear, F::Random, N::RmsNorm, D::Alibi, 16);
  add("lightning (identity, decay)/rmsnorm", K::Linear, F::Identity, N::RmsNorm, D::Alibi, 8);
  add("silu/rmsnorm", K::Linear, F::Silu, N::RmsNorm, D::None, 8);
  out.back().second.gate = true;
  return out;
}

std::vector<Tensor> parameter_grads(const Module& m) {
  std::vector<Tensor> g;
  for (const auto& p : m.parameters()) g.push_back(p.variable.grad().clone());
  return g;
}

double max_difference(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, testing::max_relative_difference(a[i], b[i]));
  return worst;
}

}  // namespace

TEST_CASE(
    "document boundaries: the attention module on packed documents equals each document alone (every "
    "variant)") {
  const testing::DocumentLayout layout = testing::edge_case_layout();
  const Tensor starts = testing::starts_of(layout);
  const Tensor x = testing::random_double(Shape{starts.size(0), starts.size(1), kModel}, "module.x");
  const Tensor R = testing::random_double(x.shape(), "module.R");
  for (const auto& variant : variants()) {
    const std::string& name = variant.first;
    CAPTURE(name);
    Attention a(InitContext{"layers.0.attention", 5, Device::cpu()}, kModel, variant.second);
    for (auto& p : a.parameters()) p.variable.data() = p.variable.data().to(DType::F64);
    Variable xp(x, true);
    const Variable packed = a.forward(xp, starts);
    packed.backward(R);
    const std::vector<Tensor> packed_grads = parameter_grads(a);
    a.zero_grad();
    Tensor out_separate = Tensor::zeros(x.shape(), DType::F64),
           grad_x_separate = Tensor::zeros(x.shape(), DType::F64);
    for (const Document& d : testing::documents_of(layout)) {
      Variable xd(testing::document_slice(x, d, 1), true);
      const Variable o = a.forward(xd);  // no starts: the document is the whole sequence
      o.backward(testing::document_slice(R, d, 1));
      testing::put_document(out_separate, d, 1, o.data());
      testing::put_document(grad_x_separate, d, 1, xd.grad());
    }
    const double out_err = testing::max_relative_difference(packed.data(), out_separate);
    const double grad_x_err = testing::max_relative_difference(xp.grad(), grad_x_separate);
    const double grad_w_err = max_difference(packed_grads, parameter_grads(a));
    MESSAGE(name, ": packed vs separate, out ", out_err, ", dx ", grad_x_err, ", dW ", grad_w_err);
    CHECK(out_err <= 1e-12);
    CHECK(grad_x_err <= 1e-12);
    CHECK(grad_w_err <= 1e-12);
  }
}

namespace {

constexpr int32_t kEos = 11;

std::unique_ptr<LanguageModel> double_model(const AttentionConfig& attention) {
  LanguageModelConfig c;
  c.vocab_size = 12;
  c.d_model = kModel;
  c.layers = 2;
  c.mlp_hidden = 24;
  c.attention = attention;
  c.seed = 9;
  c.compute_dtype = DType::F64;
  auto model = std::make_unique<LanguageModel>(c);
  for (auto& p : model->parameters()) p.variable.data() = p.variable.data().to(DType::F64);
  return model;
}

// Next-token negative log-likelihoods of logits [rows, V] (double) at targets, computed here.
std::vector<double> token_losses(const Tensor& logits, const Tensor& targets) {
  const std::vector<double> z = logits.to_vector<double>();
  const std::vector<int32_t> y = targets.to_vector<int32_t>();
  const int64_t V = logits.size(1);
  std::vector<double> nll;
  for (size_t r = 0; r < y.size(); ++r) {
    const double* row = z.data() + static_cast<int64_t>(r) * V;
    const double top = *std::max_element(row, row + V);
    double total = 0;
    for (int64_t c = 0; c < V; ++c) total += std::exp(row[c] - top);
    nll.push_back(top + std::log(total) - row[y[r]]);
  }
  return nll;
}

}  // namespace

TEST_CASE("document boundaries: the language model on EOS-separated documents equals each document alone") {
  // Documents begin at their EOS (data/documents.h): the layout's starts, except a window's first token,
  // carry EOS.
  const testing::DocumentLayout layout = testing::edge_case_layout();
  const Tensor layout_starts = testing::starts_of(layout);
  const int64_t B = layout_starts.size(0), N = layout_starts.size(1);
  std::vector<int32_t> ids(static_cast<size_t>(B * N)), targets(ids.size());
  const std::vector<double> u =
      testing::random_double(Shape{2 * B * N}, "lm.tokens", 0.0, 1.0).to_vector<double>();
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i] = static_cast<int32_t>(u[i] * (kEos - 0.01));  // 0 .. 10
    targets[i] = static_cast<int32_t>(u[ids.size() + i] * 11.99);
  }
  for (const Document& d : testing::documents_of(layout))
    if (d.begin > 0 || d.row == 1)
      ids[static_cast<size_t>(d.row * N + d.begin)] = kEos;  // row 1: EOS at position 0
  const Tensor id_tensor = Tensor::from_vector<int32_t>(ids, Shape{B, N});
  const Tensor target_tensor = Tensor::from_vector<int32_t>(targets, Shape{B, N});
  const Tensor starts = data::document_starts(id_tensor, kEos);
  CHECK(starts.to_vector<int32_t>() == layout_starts.to_vector<int32_t>());
  for (const auto& variant : variants()) {
    const std::string& name = variant.first;
    CAPTURE(name);
    const std::unique_ptr<LanguageModel> owned = double_model(variant.second);
    LanguageModel& model = *owned;
    const Variable packed_logits = model.logits(id_tensor, starts);
    const std::vector<double> packed_nll = token_losses(packed_logits.data(), target_tensor);
    // Σ of the per-token losses: the mean loss times the token count.
    scale(model.loss(id_tensor, target_tensor, starts), static_cast<double>(B * N)).backward();
    const std::vector<Tensor> packed_grads = parameter_grads(model);
    model.zero_grad();
    std::vector<double> separate_nll(packed_nll.size());
    for (const Document& d : testing::documents_of(layout)) {
      const Tensor doc_ids = testing::document_slice(id_tensor, d, 1),
                   doc_targets = testing::document_slice(target_tensor, d, 1);
      const std::vector<double> nll = token_losses(model.logits(doc_ids).data(), doc_targets);
      std::copy(nll.begin(), nll.end(), separate_nll.begin() + d.row * N + d.begin);
      scale(model.loss(doc_ids, doc_targets), static_cast<double>(d.end - d.begin)).backward();
    }
    const double loss_err = testing::max_rel(packed_nll, separate_nll);
    const double grad_err = max_difference(packed_grads, parameter_grads(model));
    MESSAGE(name, ": per-token losses ", loss_err, ", parameter gradients ", grad_err);
    CHECK(loss_err <= 1e-12);
    CHECK(grad_err <= 1e-12);
  }
}

TEST_CASE("generation: feeding EOS starts a fresh state (document_separator), and only then") {
  AttentionConfig a = variants()[1].second;  // elu1/denominator with RoPE and key shift
  LanguageModelConfig c;
  c.vocab_size = 12;
  c.d_model = kModel;
  c.layers = 1;
  c.mlp_hidden = 24;
  c.attention = a;
  c.seed = 4;
  const LanguageModel model(c);
  trainers::SamplingOptions options;
  options.tokens = 30;
  options.temperature = 1.0;
  options.seed = 17;
  options.document_separator = kEos;
  const std::vector<int32_t> fresh = trainers::generate(model, {kEos, 3, 5}, options);
  // A prompt whose last document begins at an EOS continues exactly as that document alone.
  CHECK(trainers::generate(model, {7, 1, 2, 9, kEos, 3, 5}, options) == fresh);
  // Without the reset the earlier document is in the state (the same sampling draws then pick other tokens).
  options.document_separator = -1;
  CHECK(trainers::generate(model, {7, 1, 2, 9, kEos, 3, 5}, options) != fresh);
}
