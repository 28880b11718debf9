#include "study/evaluate.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/variable.h"
#include "core/error.h"
#include "data/loader.h"
#include "data/mqar.h"
#include "kernels/embedding.h"
#include "trainers/setup.h"

namespace lat::study {
namespace {

// Sequences scored per forward pass: the training batch, fewer for long evaluation lengths, and few enough that
// the logits ([rows · length, V]) stay under 2^26 elements.
int64_t eval_batch(const Recipe& recipe, int64_t length, int64_t vocab) {
  const int64_t by_tokens = recipe.training.batch_size * recipe.training.seq_len / std::max<int64_t>(length, 1);
  const int64_t by_memory = (int64_t{1} << 26) / std::max<int64_t>(length * vocab, 1);
  return std::max<int64_t>(std::min(by_tokens, by_memory), 1);
}

struct Scores {
  double nll_sum = 0;
  int64_t tokens = 0;
  int64_t examples = 0;
  data::MqarAccuracy accuracy;
  std::vector<double> bucket_sum;
  std::vector<int64_t> bucket_count;
};

// Scores windows [0, count) of `source` (sequence length L) with the model: total NLL, tokens, accuracy, and
// per-bucket sums when `buckets` is not empty. Documents restart attention as they did in training
// (trainers::document_separator).
Scores score(const autograd::nn::LanguageModel& model, const Recipe& recipe, const data::WindowSource& source,
             int64_t count, int64_t batch_rows, bool with_accuracy, const std::vector<PositionBucket>& buckets) {
  autograd::NoGradGuard no_grad;
  const Device device = model.parameters().front().variable.data().device();
  const int32_t separator = trainers::document_separator(recipe, device);
  const int64_t L = source.seq_len();
  Scores s;
  s.bucket_sum.assign(buckets.size(), 0.0);
  s.bucket_count.assign(buckets.size(), 0);
  // Bucket of each position, once.
  std::vector<int> bucket_of(static_cast<size_t>(L), -1);
  for (size_t b = 0; b < buckets.size(); ++b)
    for (int64_t p = buckets[b].begin; p < buckets[b].end; ++p) bucket_of[static_cast<size_t>(p)] = static_cast<int>(b);
  for (int64_t first = 0; first < count; first += batch_rows) {
    std::vector<int64_t> windows;
    for (int64_t w = first; w < std::min(count, first + batch_rows); ++w) windows.push_back(w);
    const data::Batch batch = data::make_batch(source, windows, separator);
    s.examples += static_cast<int64_t>(windows.size());
    const Tensor starts = batch.document_starts.defined() ? batch.document_starts.to(device) : Tensor();
    const Tensor logits = model.logits(batch.inputs.to(device), starts).data();  // [rows · L, V]
    const int64_t V = logits.size(-1);
    // Only rows with a target are scored: gather them on the device first (MQAR scores a few query positions of
    // each sequence, and its logits are large), so the host copy holds just those rows.
    const std::vector<int32_t> y = batch.targets.to_vector<int32_t>();
    std::vector<int32_t> kept, kept_targets;
    for (size_t i = 0; i < y.size(); ++i)
      if (y[i] != data::kIgnoreIndex) kept.push_back(static_cast<int32_t>(i)), kept_targets.push_back(y[i]);
    if (kept.empty()) continue;
    const int64_t n = static_cast<int64_t>(kept.size());
    Tensor picked = logits;
    if (kept.size() < y.size()) {
      picked = Tensor::empty(Shape{n, V}, logits.dtype(), device);  // the gather keeps the logits' dtype
      kernels::embedding_forward(logits, Tensor::from_vector<int32_t>(kept, Shape{n}, device), picked);
    }
    const Tensor host = picked.to(Device::cpu()).to(DType::F64);
    const std::vector<double> nll = token_nll(host.to_vector<double>(), V, kept_targets, data::kIgnoreIndex);
    for (size_t i = 0; i < nll.size(); ++i) {
      s.nll_sum += nll[i];
      s.tokens += 1;
      const int b = buckets.empty() ? -1 : bucket_of[static_cast<size_t>(kept[i] % L)];
      if (b >= 0) {
        s.bucket_sum[static_cast<size_t>(b)] += nll[i];
        s.bucket_count[static_cast<size_t>(b)] += 1;
      }
    }
    if (with_accuracy)
      s.accuracy += data::mqar_accuracy(data::argmax_last_dim(host).reshape({1, n}),
                                        Tensor::from_vector<int32_t>(kept_targets, Shape{1, n}));
  }
  return s;
}

SplitScore split_score(const autograd::nn::LanguageModel& model, const Recipe& recipe, trainers::Split split,
                       const EvalOptions& options) {
  const int64_t T = recipe.training.seq_len;
  const auto source = trainers::make_eval_source(recipe, split, T);
  const bool mqar = recipe.data.kind == DataKind::Mqar;
  // MQAR is scored on every held-out sequence (the accuracy's resolution); text up to the token budget.
  const int64_t count = mqar ? source->num_windows()
                             : std::min(source->num_windows(), std::max<int64_t>(1, options.max_tokens / T));
  const Scores s = score(model, recipe, *source, count, eval_batch(recipe, T, model.config().vocab_size), mqar, {});
  SplitScore out;
  out.loss = s.tokens > 0 ? s.nll_sum / static_cast<double>(s.tokens) : std::nan("");
  if (trainers::byte_level(recipe)) out.bits_per_byte = out.loss / std::log(2.0);
  if (mqar) out.accuracy = s.accuracy.value();
  out.tokens = s.tokens;
  out.examples = s.examples;
  return out;
}

PositionProfile position_profile(const autograd::nn::LanguageModel& model, const Recipe& recipe, int64_t length,
                                 const EvalOptions& options) {
  PositionProfile p;
  p.length = length;
  const bool cosine = recipe.attention.kind == AttentionKind::Linear && recipe.attention.feature_map == FeatureMap::Cosine;
  if (cosine && length > recipe.resolved_max_context()) {
    p.available = false;
    p.reason = "cosFormer's M = " + std::to_string(recipe.resolved_max_context()) + " (attention.max_context)";
    return p;
  }
  std::shared_ptr<const data::WindowSource> source;
  try {
    source = trainers::make_eval_source(recipe, trainers::Split::Test, length);
  } catch (const Error& e) {
    p.available = false;
    p.reason = e.what();
    return p;
  }
  const int64_t count = recipe.data.kind == DataKind::Mqar
                            ? source->num_windows()
                            : std::min(source->num_windows(), std::max<int64_t>(1, options.max_tokens / length));
  if (count < 1) {
    p.available = false;
    p.reason = "the test split holds no sequence of " + std::to_string(length) + " tokens";
    return p;
  }
  p.buckets = position_buckets(length);
  const Scores s =
      score(model, recipe, *source, count, eval_batch(recipe, length, model.config().vocab_size), false, p.buckets);
  for (size_t b = 0; b < p.buckets.size(); ++b)
    p.buckets[b].loss = s.bucket_count[b] > 0 ? s.bucket_sum[b] / static_cast<double>(s.bucket_count[b]) : std::nan("");
  return p;
}

}  // namespace

std::vector<double> token_nll(const std::vector<double>& logits, int64_t vocab, const std::vector<int32_t>& targets,
                              int32_t ignore) {
  LAT_CHECK(vocab > 0 && logits.size() == targets.size() * static_cast<size_t>(vocab), "token_nll: ", logits.size(),
            " logits for ", targets.size(), " targets of vocabulary ", vocab);
  std::vector<double> out(targets.size(), std::numeric_limits<double>::quiet_NaN());
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i] == ignore) continue;
    LAT_CHECK(targets[i] >= 0 && targets[i] < vocab, "token_nll: target ", targets[i], " outside the vocabulary of ", vocab);
    const double* row = logits.data() + i * static_cast<size_t>(vocab);
    const double m = *std::max_element(row, row + vocab);
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - m);
    out[i] = m + std::log(sum) - row[targets[i]];
  }
  return out;
}

std::vector<PositionBucket> position_buckets(int64_t length) {
  std::vector<PositionBucket> out;
  for (int64_t begin = 0, end = 1; begin < length; begin = end, end *= 2) out.push_back({begin, std::min(end, length), 0.0});
  return out;
}

Evaluation evaluate(const autograd::nn::LanguageModel& model, const Recipe& recipe, const EvalOptions& options) {
  LAT_CHECK(!options.length_multiples.empty() && options.length_multiples.front() == 1,
            "evaluate: the evaluated lengths must start at the training context (multiple 1)");
  Evaluation e;
  e.val = split_score(model, recipe, trainers::Split::Validation, options);
  e.test = split_score(model, recipe, trainers::Split::Test, options);
  for (int64_t m : options.length_multiples)
    e.positions.push_back(position_profile(model, recipe, m * recipe.training.seq_len, options));
  return e;
}

}  // namespace lat::study
