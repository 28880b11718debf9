// Sampling text from a trained model (lat-generate, and the sample printed at the end of a text run).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "autograd/nn/language_model.h"

namespace lat::trainers {

struct SamplingOptions {
  int64_t tokens = 200;
  double temperature = 0.8;  // 0: greedy
  int64_t top_k = 0;         // 0: all
  uint64_t seed = 0;
  // ≥ 0: the token that begins a document (EOS; data/documents.h). Feeding it, from the prompt or the sample,
  // first resets the model to a fresh state, as document boundaries do in training. -1: one stream throughout.
  int32_t document_separator = -1;
  std::function<void(int32_t)> on_token;  // called with each token as it is sampled (lat-generate streams)
};

// Continues `prompt` (token ids, non-empty) by options.tokens tokens, or fewer so that prompt and sample stay
// within the model's attention.max_context (cosFormer's positions end there; RoPE and the other variants were
// trained no further), logging a note when it stops early. Linear attention advances a fixed-size recurrent
// state per token (O(1) per token); softmax attention keeps a KV cache. A stop request (core/stop.h: SIGINT,
// SIGTERM) ends it after the current token; the tokens so far are returned.
std::vector<int32_t> generate(const autograd::nn::LanguageModel& model, const std::vector<int32_t>& prompt,
                              const SamplingOptions& options);

// How many tokens generate() produces after `prompt_tokens` when `requested` are asked for: at most
// max_context - prompt_tokens (no limit when the model's max_context is 0). A prompt longer than max_context is
// a lat::Error naming attention.max_context.
int64_t generation_budget(const autograd::nn::LanguageModel& model, int64_t prompt_tokens, int64_t requested);

// Picks a token from logits [V] (host, fp32) with temperature and top-k, using Philox draw `draw` of `seed`.
int32_t sample_token(const std::vector<float>& logits, const SamplingOptions& options, uint64_t draw);

}  // namespace lat::trainers
