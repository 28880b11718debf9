#include "data/mqar.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "data/rng.h"

namespace lat::data {

void validate(const MqarConfig& c) {
  if (c.vocab_size < 4) LAT_THROW("mqar: vocab_size must be at least 4, got ", c.vocab_size);
  const int32_t key_vocab = c.key_vocab == 0 ? c.vocab_size / 2 : c.key_vocab;
  if (key_vocab < 2 || key_vocab >= c.vocab_size)
    LAT_THROW("mqar: key_vocab ", key_vocab, " must lie in [2, vocab_size ", c.vocab_size, ")");
  if (c.num_kv_pairs < 1) LAT_THROW("mqar: num_kv_pairs must be at least 1, got ", c.num_kv_pairs);
  if (c.num_kv_pairs > key_vocab - 1)
    LAT_THROW("mqar: num_kv_pairs ", c.num_kv_pairs, " exceeds the ", key_vocab - 1, " distinct keys in [1, ",
              key_vocab, ")");
  if (c.num_kv_pairs > c.vocab_size - key_vocab)
    LAT_THROW("mqar: num_kv_pairs ", c.num_kv_pairs, " exceeds the ", c.vocab_size - key_vocab,
              " distinct values in [", key_vocab, ", ", c.vocab_size, ")");
  if ((c.seq_len - 2 * c.num_kv_pairs) / 2 < c.num_kv_pairs)
    LAT_THROW("mqar: seq_len ", c.seq_len, " is too short for ", c.num_kv_pairs,
              " pairs and their queries (needs at least ", 4 * c.num_kv_pairs, ")");
  if (c.num_examples < 1) LAT_THROW("mqar: num_examples must be at least 1, got ", c.num_examples);
  if (!(c.power_a > 0.0 && c.power_a <= 1.0)) LAT_THROW("mqar: power_a must lie in (0, 1], got ", c.power_a);
}

MqarTask::MqarTask(const MqarConfig& config) : config_(config) {
  validate(config_);
  key_vocab_ = config_.key_vocab == 0 ? config_.vocab_size / 2 : config_.key_vocab;
  const int64_t slots = (config_.seq_len - 2 * config_.num_kv_pairs) / 2;
  gap_weights_.resize(static_cast<size_t>(slots));
  for (int64_t g = 0; g < slots; ++g)
    gap_weights_[static_cast<size_t>(g)] = config_.power_a * std::pow(static_cast<double>(g + 1), config_.power_a - 1.0);
}

std::string MqarTask::describe() const {
  return "mqar (vocab " + std::to_string(config_.vocab_size) + ", " + std::to_string(config_.num_kv_pairs) +
         " pairs, seq_len " + std::to_string(config_.seq_len) + ")";
}

void MqarTask::window(int64_t w, int32_t* inputs, int32_t* targets) const {
  LAT_CHECK(w >= 0 && w < config_.num_examples, "mqar window ", w, " outside [0, ", config_.num_examples, ")");
  generate(static_cast<uint64_t>(w), inputs, targets);
}

namespace {

// The first k entries of a uniformly random permutation of [lo, hi) (partial Fisher–Yates).
std::vector<int32_t> sample_distinct(PhiloxStream& rng, int32_t lo, int32_t hi, int64_t k) {
  std::vector<int32_t> pool(static_cast<size_t>(hi - lo));
  std::iota(pool.begin(), pool.end(), lo);
  for (int64_t i = 0; i < k; ++i) {
    const auto j = static_cast<size_t>(i) + static_cast<size_t>(rng.below(pool.size() - static_cast<size_t>(i)));
    std::swap(pool[static_cast<size_t>(i)], pool[j]);
  }
  pool.resize(static_cast<size_t>(k));
  return pool;
}

}  // namespace

void MqarTask::generate(uint64_t index, int32_t* inputs, int32_t* targets) const {
  const int64_t n = config_.num_kv_pairs, T = config_.seq_len;
  PhiloxStream rng(config_.seed, RngDomain::Mqar, index);
  const std::vector<int32_t> keys = sample_distinct(rng, 1, key_vocab_, n);
  const std::vector<int32_t> values = sample_distinct(rng, key_vocab_, config_.vocab_size, n);

  // Query slots: n distinct slots drawn with probability ∝ weight, without replacement, in draw order
  // (Efraimidis–Spirakis: the n largest log(u) / w; sorting them by score gives the sequential draw order).
  std::vector<std::pair<double, int64_t>> scored(gap_weights_.size());
  for (size_t g = 0; g < gap_weights_.size(); ++g) scored[g] = {std::log(rng.uniform()) / gap_weights_[g], static_cast<int64_t>(g)};
  std::partial_sort(scored.begin(), scored.begin() + n, scored.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });

  for (int64_t t = 0; t < T; ++t) {
    targets[t] = kIgnoreIndex;
    inputs[t] = 0;
  }
  for (int64_t i = 0; i < n; ++i) {
    inputs[2 * i] = keys[static_cast<size_t>(i)];
    inputs[2 * i + 1] = values[static_cast<size_t>(i)];
  }
  std::vector<bool> is_query(static_cast<size_t>(T), false);
  for (int64_t q = 0; q < n; ++q) {
    const int64_t pos = 2 * n + 2 * scored[static_cast<size_t>(q)].second;
    inputs[pos] = keys[static_cast<size_t>(q)];
    targets[pos] = values[static_cast<size_t>(q)];
    is_query[static_cast<size_t>(pos)] = true;
  }
  if (config_.random_non_queries) {
    for (int64_t t = 2 * n; t < T; ++t)
      if (!is_query[static_cast<size_t>(t)]) inputs[t] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(config_.vocab_size)));
  }
}

MqarAccuracy mqar_accuracy(const Tensor& predictions, const Tensor& targets) {
  check_same_shape("mqar_accuracy", predictions, targets);
  LAT_CHECK(predictions.dtype() == DType::I32 && targets.dtype() == DType::I32,
            "mqar_accuracy: predictions and targets must be i32, got ", predictions.str(), " and ", targets.str());
  const std::vector<int32_t> p = predictions.to_vector<int32_t>(), y = targets.to_vector<int32_t>();
  MqarAccuracy acc;
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] == kIgnoreIndex) continue;
    ++acc.total;
    if (p[i] == y[i]) ++acc.correct;
  }
  return acc;
}

Tensor argmax_last_dim(const Tensor& logits) {
  LAT_CHECK(logits.ndim() >= 1 && is_floating(logits.dtype()), "argmax_last_dim: needs floating logits, got ",
            logits.str());
  const int64_t V = logits.size(-1);
  LAT_CHECK(V > 0, "argmax_last_dim: empty last dimension in ", logits.str());
  const std::vector<double> x = logits.to_vector<double>();
  std::vector<int64_t> dims = logits.shape().vec();
  dims.pop_back();
  const int64_t rows = static_cast<int64_t>(x.size()) / V;
  std::vector<int32_t> out(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = x.data() + r * V;
    out[static_cast<size_t>(r)] = static_cast<int32_t>(std::max_element(row, row + V) - row);
  }
  return Tensor::from_vector<int32_t>(out, Shape(dims));
}

}  // namespace lat::data
