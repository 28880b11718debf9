// Evaluation sources (trainers/setup.h make_eval_source): validation and test splits that never overlap the
// training data, at the training length and longer, for text, shards and MQAR; the Trainer's val_loss on
// data.val_path; and the recipe errors for held-out data that is missing or broken.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <set>

#include "autograd/ops.h"
#include "core/error.h"
#include "data/mqar.h"
#include "data/shards.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "trainers/session.h"
#include "trainers/setup.h"
#include "trainers/trainer.h"

using namespace lat;
using lat::testing::error_of;
using lat::testing::kTinyRecipe;
using lat::testing::TempDir;
using trainers::make_eval_source;
using trainers::Split;

namespace {

// Random "sentences" from a 60-word list: one seed per split, so a 64-byte window of one split is (with
// overwhelming probability) nowhere in another.
std::string random_text(uint32_t seed, size_t bytes) {
  static const char* words[] = {
      "alpha",   "bravo",  "charlie", "delta",    "echo",   "foxtrot", "golf",   "hotel", "india",  "juliet",
      "kilo",    "lima",   "mike",    "november", "oscar",  "papa",    "quebec", "romeo", "sierra", "tango",
      "uniform", "victor", "whiskey", "xray",     "yankee", "zulu",    "red",    "green", "blue",   "cyan",
      "magenta", "yellow", "black",   "white",    "north",  "south",   "east",   "west",  "up",     "down",
      "one",     "two",    "three",   "four",     "five",   "six",     "seven",  "eight", "nine",   "ten",
      "apple",   "pear",   "plum",    "fig",      "lemon",  "lime",    "river",  "hill",  "stone",  "tree"};
  std::mt19937 rng(seed);
  std::string out;
  while (out.size() < bytes) {
    out += words[rng() % 60];
    out += rng() % 9 == 0 ? ".\n" : " ";
  }
  return out;
}

std::string window_text(const data::WindowSource& s, int64_t w) {
  std::vector<int32_t> x(static_cast<size_t>(s.seq_len())), y(x.size());
  s.window(w, x.data(), y.data());
  return std::string(x.begin(), x.end());
}

Recipe text_recipe(const std::vector<std::string>& overrides) {
  return Recipe::from_string(kTinyRecipe, "tiny.toml", overrides);
}

}  // namespace

TEST_CASE("eval sources (text): val_path and test_path windows are their files' text, never training text") {
  TempDir dir("eval_text");
  const std::string train = random_text(1, 20000), val = random_text(2, 3000), test = random_text(3, 3000);
  const Recipe r =
      text_recipe({"data.path=" + dir.write("train.txt", train), "data.val_path=" + dir.write("v.txt", val),
                   "data.test_path=" + dir.write("t.txt", test)});
  for (Split split : {Split::Validation, Split::Test}) {
    const std::string& held = split == Split::Validation ? val : test;
    for (int64_t T : {32, 64, 128}) {  // 1x, 2x, 4x training.seq_len
      CAPTURE(T);
      auto s = make_eval_source(r, split, T);
      CHECK(s->seq_len() == T);
      CHECK(s->num_windows() == static_cast<int64_t>((held.size() - 1) / T));
      for (int64_t w = 0; w < s->num_windows(); ++w) {
        const std::string text = window_text(*s, w);
        CHECK(text == held.substr(static_cast<size_t>(w * T), static_cast<size_t>(T)));
        if (T >= 64) CHECK(train.find(text) == std::string::npos);
      }
    }
  }
  // The session holds nothing out of data.path when val_path is set, and validates on v.txt.
  trainers::TrainingSession session(r, Device::cpu());
  CHECK(session.loader().num_train_windows() == static_cast<int64_t>((train.size() - 1) / 32));
  data::Batch b;
  auto it = session.loader().validation(1);
  REQUIRE(it.next(b));
  const int32_t* x = b.inputs.data<int32_t>();
  CHECK(std::string(x, x + 32) == val.substr(0, 32));
}

TEST_CASE("eval sources (text): without val_path, Validation is the loader's held-out tail at any length") {
  TempDir dir("eval_tail");
  const std::string train = random_text(4, 10000);
  const Recipe r =
      text_recipe({"data.path=" + dir.write("train.txt", train)});  // val_fraction 0.1, seq_len 32
  const int64_t W = static_cast<int64_t>((train.size() - 1) / 32);
  const int64_t V = std::llround(0.1 * static_cast<double>(W));
  const size_t tail = static_cast<size_t>((W - V) * 32);  // first byte of the held-out windows
  trainers::TrainingSession session(r, Device::cpu());
  REQUIRE(session.loader().num_val_windows() == V);

  // At the training length: exactly the loader's validation batches, row by row.
  auto same_len = make_eval_source(r, Split::Validation, 32);
  CHECK(same_len->num_windows() == V);
  auto it = session.loader().validation();
  data::Batch b;
  int64_t w = 0;
  while (it.next(b))
    for (int64_t row = 0; row < 4; ++row, ++w) {
      const int32_t* x = b.inputs.data<int32_t>() + row * 32;
      CHECK(window_text(*same_len, w) == std::string(x, x + 32));
    }
  CHECK(w == session.loader().num_val_batches() * 4);

  // At 2x and 4x: the same held-out bytes cut into longer windows; none of it is training text.
  for (int64_t T : {64, 128}) {
    CAPTURE(T);
    auto s = make_eval_source(r, Split::Validation, T);
    CHECK(s->num_windows() == static_cast<int64_t>((train.size() - tail - 1) / T));
    for (int64_t k = 0; k < s->num_windows(); ++k) {
      CHECK(window_text(*s, k) == train.substr(tail + static_cast<size_t>(k * T), static_cast<size_t>(T)));
      CHECK(train.substr(0, tail + 1).find(window_text(*s, k)) == std::string::npos);
    }
  }
  // No test_path: the recipe has no test split, and the error says which key would give one.
  CHECK(error_of([&] { make_eval_source(r, Split::Test, 32); }) ==
        "tiny.toml: data.test_path: is not set, so the recipe has no test split");
}

TEST_CASE("eval sources (mqar): validation is the loader's tail, test indices follow num_examples") {
  const Recipe r =
      Recipe::from_string(kTinyRecipe, "tiny.toml",
                          {"data.kind=mqar", "data.vocab=64", "data.num_kv_pairs=4", "data.num_examples=200",
                           "data.test_examples=40", "data.val_fraction=0.1"});
  data::MqarConfig c;
  c.vocab_size = 64;
  c.seq_len = 32;
  c.num_kv_pairs = 4;
  c.seed = 7;  // training.seed of the tiny recipe
  const data::MqarTask reference(c);
  auto sequence = [](const data::WindowSource& s, int64_t w) {
    std::vector<int32_t> x(static_cast<size_t>(s.seq_len())), y(x.size());
    s.window(w, x.data(), y.data());
    return x;
  };
  auto generated = [&](const data::MqarTask& task, uint64_t index) {
    std::vector<int32_t> x(static_cast<size_t>(task.seq_len())), y(x.size());
    task.generate(index, x.data(), y.data());
    return x;
  };
  auto val = make_eval_source(r, Split::Validation, 32);
  auto test = make_eval_source(r, Split::Test, 32);
  REQUIRE(val->num_windows() == 20);
  REQUIRE(test->num_windows() == 40);
  std::set<std::vector<int32_t>> seen;  // training and validation sequences
  for (uint64_t i = 0; i < 200; ++i) seen.insert(generated(reference, i));
  for (int64_t w = 0; w < 20; ++w)
    CHECK(sequence(*val, w) == generated(reference, 180 + static_cast<uint64_t>(w)));
  for (int64_t w = 0; w < 40; ++w) {
    const std::vector<int32_t> x = sequence(*test, w);
    CHECK(x == generated(reference, 200 + static_cast<uint64_t>(w)));
    CHECK(seen.count(x) == 0);
  }
  // The session's validation batches are the same sequences.
  trainers::TrainingSession session(r, Device::cpu());
  data::Batch b;
  auto it = session.loader().validation(1);
  REQUIRE(it.next(b));
  const int32_t* x = b.inputs.data<int32_t>();
  CHECK(std::vector<int32_t>(x, x + 32) == generated(reference, 180));
  // At 2x the length: the same indices, generated at 64 tokens.
  data::MqarConfig c2 = c;
  c2.seq_len = 64;
  const data::MqarTask longer(c2);
  auto test2 = make_eval_source(r, Split::Test, 64);
  CHECK(test2->seq_len() == 64);
  CHECK(sequence(*test2, 5) == generated(longer, 205));
}

TEST_CASE(
    "data.random_non_queries = false fills non-query positions with 0, true (Zoology) with random tokens") {
  for (bool random_fill : {true, false}) {
    const Recipe r =
        Recipe::from_string(kTinyRecipe, "tiny.toml",
                            {"data.kind=mqar", "data.vocab=64", "data.num_kv_pairs=4",
                             std::string("data.random_non_queries=") + (random_fill ? "true" : "false")});
    auto s = trainers::make_window_source(r);
    int64_t filler = 0, nonzero = 0;
    std::vector<int32_t> x(32), y(32);
    for (int64_t w = 0; w < 50; ++w) {
      s->window(w, x.data(), y.data());
      for (int64_t t = 8; t < 32; ++t)  // after the 4 key-value pairs
        if (y[static_cast<size_t>(t)] == data::kIgnoreIndex)
          ++filler, nonzero += x[static_cast<size_t>(t)] != 0;
    }
    CHECK(filler > 500);
    if (random_fill)
      CHECK(nonzero > filler / 2);
    else
      CHECK(nonzero == 0);
  }
}

TEST_CASE("eval sources (shards): val_pattern and test_pattern, refused with the key's name when broken") {
  TempDir dir("eval_shards");
  std::vector<int32_t> train(2000), val(300), test(300);
  for (size_t i = 0; i < train.size(); ++i) train[i] = static_cast<int32_t>(i % 500);
  for (size_t i = 0; i < val.size(); ++i) val[i] = static_cast<int32_t>(1000 + i);
  for (size_t i = 0; i < test.size(); ++i) test[i] = static_cast<int32_t>(2000 + i);
  data::write_shard(dir / "train_000.bin", train);
  data::write_shard(dir / "val_000.bin", val);
  data::write_shard(dir / "test_000.bin", test);
  auto recipe = [&](std::vector<std::string> o) {
    o.insert(o.begin(), {"data.kind=shards", "data.pattern=" + dir / "train_*.bin"});
    return Recipe::from_string(kTinyRecipe, "tiny.toml", o);
  };
  const Recipe r =
      recipe({"data.val_pattern=" + dir / "val_*.bin", "data.test_pattern=" + dir / "test_*.bin"});
  for (auto [split, first] : {std::pair{Split::Validation, 1000}, std::pair{Split::Test, 2000}}) {
    auto s = make_eval_source(r, split, 64);
    CHECK(s->num_windows() == 299 / 64);
    std::vector<int32_t> x(64), y(64);
    s->window(1, x.data(), y.data());
    CHECK(x[0] == first + 64);
    CHECK(y[63] == first + 128);
  }
  trainers::TrainingSession session(r, Device::cpu());
  CHECK(session.loader().num_train_windows() == 1999 / 32);  // nothing held out of the train shards

  CHECK(error_of([&] { make_eval_source(recipe({}), Split::Test, 32); }) ==
        "tiny.toml: data.test_pattern: is not set, so the recipe has no test split");
  dir.write("bad_val.bin", std::string(2048, '\x07'));  // wrong magic
  const std::string bad = error_of(
      [&] { trainers::TrainingSession(recipe({"data.val_pattern=" + dir / "bad_*.bin"}), Device::cpu()); });
  CHECK(bad.find("--set data.val_pattern=" + dir / "bad_*.bin" + ": data.val_pattern: ") == 0);
  CHECK(bad.find("bad_val.bin") != std::string::npos);
  CHECK(bad.find("magic") != std::string::npos);
  const std::string none = error_of([&] {
    make_eval_source(recipe({"data.val_pattern=" + dir / "nothing_*.bin"}), Split::Validation, 32);
  });
  CHECK(none.find("data.val_pattern: ") != std::string::npos);
  CHECK(none.find("nothing_*.bin") != std::string::npos);
}

TEST_CASE("held-out text that is missing or too short is an error naming the key, byte_level is text") {
  TempDir dir("eval_errors");
  const std::string train = dir.write("train.txt", random_text(5, 5000));
  const std::string missing = dir / "nope.txt";
  CHECK(error_of([&] {
          trainers::TrainingSession(text_recipe({"data.path=" + train, "data.val_path=" + missing}),
                                    Device::cpu());
        }) ==
        "--set data.val_path=" + missing + ": data.val_path: data file '" + missing + "' does not exist");
  const Recipe short_test =
      text_recipe({"data.path=" + train, "data.test_path=" + dir.write("t.txt", "tiny")});
  CHECK(error_of([&] { make_eval_source(short_test, Split::Test, 32); }).find("data.test_path: text '") !=
        std::string::npos);
  CHECK(trainers::byte_level(short_test));
  CHECK(!trainers::byte_level(Recipe::from_string(
      kTinyRecipe, "tiny.toml", {"data.kind=mqar", "data.vocab=64", "data.num_kv_pairs=4"})));
}

TEST_CASE("the Trainer's val_loss is the model's loss on data.val_path") {
  TempDir dir("eval_trainer");
  const std::string val = random_text(6, 4000);
  const Recipe r = text_recipe({"data.path=" + dir.write("train.txt", lat::testing::tiny_corpus()),
                                "data.val_path=" + dir.write("val.txt", val), "training.eval_interval=10",
                                "training.eval_batches=2", "training.steps=10"});
  auto comm = trainers::make_communicator();
  trainers::TrainOptions options;
  options.run_dir = dir / "run";
  trainers::Trainer trainer(r, options, *comm);
  const trainers::TrainResult result = trainer.run();
  REQUIRE(result.val_loss.has_value());
  // Reference: the trained model's mean loss over the first 2 batches of 4 windows of val.txt, cut by hand.
  autograd::NoGradGuard no_grad;
  double sum = 0;
  for (int64_t batch = 0; batch < 2; ++batch) {
    Tensor x = Tensor::empty(Shape{4, 32}, DType::I32), y = Tensor::empty(Shape{4, 32}, DType::I32);
    for (int64_t i = 0; i < 4 * 32; ++i) {
      const size_t at = static_cast<size_t>(batch * 4 * 32 + (i / 32) * 32 + i % 32);
      x.data<int32_t>()[i] = static_cast<unsigned char>(val[at]);
      y.data<int32_t>()[i] = static_cast<unsigned char>(val[at + 1]);
    }
    sum += autograd::softmax_cross_entropy(trainer.model().logits(x), y.reshape({-1}), data::kIgnoreIndex)
               .data()
               .item();
  }
  CHECK(*result.val_loss == doctest::Approx(sum / 2).epsilon(1e-9));
}
