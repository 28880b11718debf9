#include "trainers/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "core/random.h"
#include "core/stop.h"

namespace lat::trainers {

int32_t sample_token(const std::vector<float>& logits, const SamplingOptions& options, uint64_t draw) {
  LAT_CHECK(!logits.empty(), "sample_token: empty logits");
  const int64_t v = static_cast<int64_t>(logits.size());
  if (options.temperature <= 0)
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<int32_t> order(static_cast<size_t>(v));
  std::iota(order.begin(), order.end(), 0);
  int64_t keep = options.top_k > 0 ? std::min(options.top_k, v) : v;
  std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                    [&](int32_t a, int32_t b) { return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]; });
  const double top = logits[static_cast<size_t>(order[0])];
  std::vector<double> p(static_cast<size_t>(keep));
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) {
    p[static_cast<size_t>(i)] = std::exp((logits[static_cast<size_t>(order[static_cast<size_t>(i)])] - top) / options.temperature);
    total += p[static_cast<size_t>(i)];
  }
  double u = static_cast<double>(philox_uniform(options.seed, draw)) * total;
  for (int64_t i = 0; i < keep; ++i) {
    u -= p[static_cast<size_t>(i)];
    if (u <= 0) return order[static_cast<size_t>(i)];
  }
  return order[static_cast<size_t>(keep - 1)];
}

int64_t generation_budget(const autograd::nn::LanguageModel& model, int64_t prompt_tokens, int64_t requested) {
  const int64_t context = model.config().attention.max_context;
  if (context <= 0) return requested;
  if (prompt_tokens > context)
    LAT_THROW("the prompt has ", prompt_tokens, " tokens, more than the model's attention.max_context = ", context);
  return std::min(requested, context - prompt_tokens);
}

std::vector<int32_t> generate(const autograd::nn::LanguageModel& model, const std::vector<int32_t>& prompt,
                              const SamplingOptions& options) {
  if (prompt.empty()) LAT_THROW("the prompt must contain at least one token");
  const int64_t tokens = generation_budget(model, static_cast<int64_t>(prompt.size()), options.tokens);
  if (tokens < options.tokens)
    log_info("generate: stopping after {} of {} tokens: prompt + sample reach the model's attention.max_context = {}",
             tokens, options.tokens, model.config().attention.max_context);
  autograd::NoGradGuard no_grad;
  autograd::nn::GenerationState state = model.start_generation();
  auto feed = [&](int32_t id) {
    if (id == options.document_separator) state = model.start_generation();  // a new document: a fresh state
    return model.step(id, state);
  };
  std::vector<float> logits;
  for (int32_t id : prompt) logits = feed(id);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < tokens; ++i) {
    if (stop_requested()) break;
    const int32_t next = sample_token(logits, options, static_cast<uint64_t>(i));
    out.push_back(next);
    if (options.on_token) options.on_token(next);
    // The last token is not fed back: its logits would go unused, and its position may be max_context itself.
    if (i + 1 < tokens) logits = feed(next);
  }
  return out;
}

}  // namespace lat::trainers
