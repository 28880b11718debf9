// What lat-study measures on a trained model, beyond the trainer's periodic val_loss: the validation and test
// splits scored in full (up to a token budget), bits per byte for byte-level data, MQAR query accuracy on the
// held-out test sequences, and the loss per position in log-spaced buckets at the training context and at
// multiples of it. Variants that cannot run past their context (cosFormer's M) say so instead of failing.
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/nn/language_model.h"
#include "study/run_record.h"
#include "trainers/recipe.h"

namespace lat::study {

struct EvalOptions {
  int64_t max_tokens = 65536;                  // per split and per evaluated length (MQAR test: every example)
  std::vector<int64_t> length_multiples{1, 2, 4, 8};  // of training.seq_len; the first must be 1
};

struct Evaluation {
  SplitScore val, test;
  std::vector<PositionProfile> positions;  // one per length multiple
};

// Scores `model` (trained under `recipe`) on the recipe's held-out splits. Throws lat::Error when the recipe has
// no test split (trainers::make_eval_source names the key).
Evaluation evaluate(const autograd::nn::LanguageModel& model, const Recipe& recipe, const EvalOptions& options);

// The log-spaced position buckets of a sequence of `length` tokens: [0, 1), [1, 2), [2, 4), [4, 8), ...,
// the last one ending at `length`.
std::vector<PositionBucket> position_buckets(int64_t length);

// Mean negative log-likelihood (nats) of each row's target under logits [rows, V] (host doubles), rows whose
// target is `ignore` skipped: returns per-row values (NaN where ignored). A reference-free helper shared by
// the split scores and the per-position profile.
std::vector<double> token_nll(const std::vector<double>& logits, int64_t vocab, const std::vector<int32_t>& targets,
                              int32_t ignore);

}  // namespace lat::study
