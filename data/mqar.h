// MQAR, multi-query associative recall (Arora et al., "Zoology", 2023; the "Based" paper's probe): the task
// that separates attention feature maps by how much they can recall. Each sequence of length T is
//
//   k1 v1 k2 v2 ... kn vn | x x kq x x x kq' x ...
//
// n key-value pairs (distinct keys from [1, key_vocab), values from [key_vocab, vocab_size)), then every key
// asked once as a query, in random order, at even offsets of the remaining region chosen with Zoology's
// power law (offset slot g has weight a g^(a-1): most queries sit close to the pairs). Non-query positions of
// that region hold random tokens (or 0). targets[t] is the value of the key at inputs[t] for query positions
// and kIgnoreIndex (-1) everywhere else: the model must output the value right after seeing the query key.
// Sequence i is a pure function of (seed, i) through Philox.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "data/window.h"

namespace lat::data {

struct MqarConfig {
  int32_t vocab_size = 8192;
  int64_t seq_len = 256;
  int64_t num_kv_pairs = 16;
  int32_t key_vocab = 0;           // keys in [1, key_vocab), values in [key_vocab, vocab_size); 0: vocab_size / 2
  int64_t num_examples = 100000;   // windows offered to the loader (its validation split comes off the end)
  double power_a = 0.01;           // query placement p(g) ∝ g^(a-1); Zoology's default
  bool random_non_queries = true;  // filler tokens random in [0, vocab_size) (Zoology) or 0
  uint64_t seed = 0;
};

// Throws lat::Error naming the field for an inconsistent config (too few keys/values for the pairs, a
// sequence too short for pairs plus queries, ...).
void validate(const MqarConfig& config);

class MqarTask : public WindowSource {
 public:
  explicit MqarTask(const MqarConfig& config);
  int64_t num_windows() const override { return config_.num_examples; }
  int64_t seq_len() const override { return config_.seq_len; }
  void window(int64_t w, int32_t* inputs, int32_t* targets) const override;
  std::string describe() const override;

  // Sequence `index` (any index, not only those below num_examples) into inputs[T], targets[T].
  void generate(uint64_t index, int32_t* inputs, int32_t* targets) const;
  const MqarConfig& config() const { return config_; }
  int32_t key_vocab() const { return key_vocab_; }

 private:
  MqarConfig config_;
  int32_t key_vocab_;
  std::vector<double> gap_weights_;  // power-law weight of each query slot
};

struct MqarAccuracy {
  int64_t correct = 0;
  int64_t total = 0;  // positions whose target is not kIgnoreIndex
  double value() const { return total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
  MqarAccuracy& operator+=(const MqarAccuracy& o) {
    correct += o.correct;
    total += o.total;
    return *this;
  }
};

// Query accuracy: among positions where targets != kIgnoreIndex, how many predictions equal the target.
// predictions and targets: i32 [B, T] (any device; read on the host). Works for any task with ignore targets.
MqarAccuracy mqar_accuracy(const Tensor& predictions, const Tensor& targets);

// Greedy predictions: argmax over the last dimension of logits [..., V] (f32/f64, any device) → i32 [...].
Tensor argmax_last_dim(const Tensor& logits);

}  // namespace lat::data
