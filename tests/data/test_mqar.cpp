#include <doctest/doctest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "data/mqar.h"
#include "support/temp_dir.h"

using namespace lat;
using namespace lat::data;

namespace {

struct Seq {
  std::vector<int32_t> x, y;
};

Seq generate(const MqarTask& task, uint64_t index) {
  const auto T = static_cast<size_t>(task.seq_len());
  Seq s{std::vector<int32_t>(T), std::vector<int32_t>(T)};
  task.generate(index, s.x.data(), s.y.data());
  return s;
}

}  // namespace

TEST_CASE("mqar: sequences are a pure function of (seed, index)") {
  MqarConfig c;
  c.vocab_size = 512;
  c.seq_len = 128;
  c.num_kv_pairs = 8;
  c.seed = 1234;
  MqarTask a(c), b(c);
  for (uint64_t i : {0ull, 1ull, 77ull, 1ull << 40}) {
    const Seq sa = generate(a, i), sb = generate(b, i);
    CHECK(sa.x == sb.x);
    CHECK(sa.y == sb.y);
  }
  CHECK(generate(a, 0).x != generate(a, 1).x);
  c.seed = 1235;
  CHECK(generate(MqarTask(c), 0).x != generate(a, 0).x);
}

TEST_CASE("mqar: every query asks a key seen earlier and its target is that key's value") {
  for (bool random_fill : {true, false}) {
    MqarConfig c;
    c.vocab_size = 300;
    c.key_vocab = 100;
    c.seq_len = 96;
    c.num_kv_pairs = 12;
    c.random_non_queries = random_fill;
    c.seed = 7;
    MqarTask task(c);
    std::map<int64_t, int64_t> query_offsets;  // position of queries relative to the pairs, over sequences
    for (uint64_t i = 0; i < 200; ++i) {
      const Seq s = generate(task, i);
      std::map<int32_t, int32_t> value_of;
      for (int64_t p = 0; p < c.num_kv_pairs; ++p) {
        const int32_t k = s.x[2 * p], v = s.x[2 * p + 1];
        CHECK(k >= 1);
        CHECK(k < 100);
        CHECK(v >= 100);
        CHECK(v < 300);
        CHECK(value_of.count(k) == 0);  // distinct keys
        value_of[k] = v;
        CHECK(s.y[2 * p] == kIgnoreIndex);
        CHECK(s.y[2 * p + 1] == kIgnoreIndex);
      }
      std::set<int32_t> asked;
      for (int64_t t = 2 * c.num_kv_pairs; t < c.seq_len; ++t) {
        if (s.y[t] == kIgnoreIndex) {
          if (!random_fill) CHECK(s.x[t] == 0);
          CHECK(s.x[t] >= 0);
          CHECK(s.x[t] < 300);
          continue;
        }
        REQUIRE(value_of.count(s.x[t]) == 1);
        CHECK(s.y[t] == value_of[s.x[t]]);
        CHECK((t - 2 * c.num_kv_pairs) % 2 == 0);
        asked.insert(s.x[t]);
        ++query_offsets[(t - 2 * c.num_kv_pairs) / 2];
      }
      CHECK(asked.size() == static_cast<size_t>(c.num_kv_pairs));  // every key asked exactly once
    }
    // Zoology's power law puts queries near the pairs more often than far from them.
    CHECK(query_offsets[0] > query_offsets[(c.seq_len - 2 * c.num_kv_pairs) / 2 - 1]);
  }
}

TEST_CASE("mqar: accuracy counts only query positions, argmax, config errors") {
  Tensor y = Tensor::from_vector<int32_t>({-1, 5, -1, 7, 9, -1}, Shape{2, 3});
  Tensor p = Tensor::from_vector<int32_t>({3, 5, 0, 7, 8, 1}, Shape{2, 3});
  const MqarAccuracy acc = mqar_accuracy(p, y);
  CHECK(acc.total == 3);
  CHECK(acc.correct == 2);
  CHECK(acc.value() == doctest::Approx(2.0 / 3.0));

  Tensor logits = Tensor::from_vector<float>({0.f, 2.f, 1.f, 5.f, -1.f, 4.f}, Shape{1, 2, 3});
  CHECK(argmax_last_dim(logits).to_vector<int32_t>() == std::vector<int32_t>{1, 0});
  CHECK(argmax_last_dim(logits).shape() == Shape{1, 2});

  MqarConfig c;
  c.vocab_size = 64;
  c.num_kv_pairs = 40;
  CHECK(lat::testing::error_of([&] { validate(c); }).find("num_kv_pairs 40") != std::string::npos);
  c.num_kv_pairs = 8;
  c.seq_len = 31;
  CHECK(lat::testing::error_of([&] { validate(c); }).find("seq_len 31") != std::string::npos);
  c.seq_len = 32;
  CHECK_NOTHROW(validate(c));
}
