#include "trainers/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/random.h"

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

std::vector<int32_t> generate(const autograd::nn::LanguageModel& model, const std::vector<int32_t>& prompt,
                              const SamplingOptions& options) {
  LAT_CHECK(!prompt.empty(), "generate: the prompt must contain at least one token");
  autograd::NoGradGuard no_grad;
  autograd::nn::GenerationState state = model.start_generation();
  std::vector<float> logits;
  for (int32_t id : prompt) logits = model.step(id, state);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < options.tokens; ++i) {
    const int32_t next = sample_token(logits, options, static_cast<uint64_t>(i));
    out.push_back(next);
    logits = model.step(next, state);
  }
  return out;
}

}  // namespace lat::trainers
