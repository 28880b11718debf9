// Properties of a whole training run that the loss curve alone cannot show, each against an independent reference:
// the learning rate the trainer applies (metrics.jsonl's lr column) against the schedule's formula written out here,
// every field of a resumed run's /state and both AdamW moments against a straight run, grad_accum against one
// big batch, and the weight-decay flags of the real LanguageModel by parameter name.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include "autograd/nn/language_model.h"
#include "core/error.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "trainers/checkpoint.h"
#include "trainers/communicator.h"
#include "trainers/setup.h"
#include "trainers/trainer.h"

using namespace lat;
using lat::testing::TempDir;
using lat::testing::kTinyRecipe;
using lat::testing::tiny_corpus;

using lat::testing::train;

namespace {

Recipe recipe_from(std::string text, const std::string& data_path, std::vector<std::string> overrides = {}) {
  overrides.push_back("data.path=" + data_path);
  return Recipe::from_string(text, "tiny.toml", overrides);
}

// One metrics.jsonl row: {"step": 3, "loss": ..., "lr": ..., "grad_norm": ..., ...}.
struct Row {
  int64_t step;
  double lr, grad_norm;
};

double field(const std::string& line, const std::string& key) {
  const std::string tag = "\"" + key + "\": ";
  const size_t at = line.find(tag);
  REQUIRE_MESSAGE(at != std::string::npos, "no ", key, " in ", line);
  return std::stod(line.substr(at + tag.size()));
}

std::vector<Row> read_metrics(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path);
  std::vector<Row> rows;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back({static_cast<int64_t>(field(line, "step")), field(line, "lr"), field(line, "grad_norm")});
  return rows;
}

// SPEC's schedule, written out independently of optim::lr_at: optimizer step i (0-based) of T with W warmup steps
// runs at lr·(i+1)/W during warmup, then cosine from lr to min_lr over the remaining T − W steps.
double expected_cosine_lr(int64_t i, double lr, double min_lr, int64_t warmup, int64_t total) {
  if (i < warmup) return lr * static_cast<double>(i + 1) / static_cast<double>(warmup);
  const double p = static_cast<double>(i - warmup) / static_cast<double>(total - warmup);
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
}

void check_lr_column(const std::vector<Row>& rows, int64_t warmup, int64_t total) {
  REQUIRE(rows.size() == static_cast<size_t>(total));
  const double lr = 3e-3, min_lr = 0.1 * lr;  // the tiny recipe's lr and the default min_lr_ratio
  for (size_t k = 0; k < rows.size(); ++k) {
    CAPTURE(k);
    REQUIRE(rows[k].step == static_cast<int64_t>(k) + 1);
    // Logged step s is the state after optimizer step s − 1; metrics.jsonl keeps 8 significant digits.
    const double want = expected_cosine_lr(rows[k].step - 1, lr, min_lr, warmup, total);
    CHECK(std::abs(rows[k].lr - want) <= 1e-7 * want);
  }
}

}  // namespace

TEST_CASE("trainer: the lr column of metrics.jsonl is the warmup-cosine formula at every step, straight and resumed") {
  TempDir dir("lr_column");
  const std::string data = dir.write("corpus.txt", tiny_corpus());
  SUBCASE("explicit warmup of 5 steps, straight and resumed after 10") {
    const Recipe recipe = recipe_from(kTinyRecipe, data);
    train(recipe, dir / "straight");
    check_lr_column(read_metrics(dir / "straight/metrics.jsonl"), 5, 20);
    CHECK(train(recipe, dir / "split", "", 10).interrupted);
    train(recipe, dir / "split", "auto");
    check_lr_column(read_metrics(dir / "split/metrics.jsonl"), 5, 20);
  }
  SUBCASE("the default warmup (100 steps) shrinks to the 20-step run") {
    std::string text = kTinyRecipe;
    const std::string line = "warmup_steps = 5\n";
    REQUIRE(text.find(line) != std::string::npos);
    text.erase(text.find(line), line.size());
    train(recipe_from(text, data), dir / "default");
    check_lr_column(read_metrics(dir / "default/metrics.jsonl"), 20, 20);
  }
}

TEST_CASE("resume restores every field of /state and the first moment: 10 + 10 steps equal 20 in each") {
  TempDir dir("resume_state");
  const std::string data = dir.write("corpus.txt", tiny_corpus());
  const Recipe recipe = recipe_from(kTinyRecipe, data, {"attention.feature_map=random", "attention.redraw_interval=4"});
  train(recipe, dir / "straight");
  CHECK(train(recipe, dir / "split", "", 10).interrupted);
  train(recipe, dir / "split", "auto");
  const Checkpoint a = read_checkpoint(checkpoint_path(dir / "straight/checkpoints", 20));
  const Checkpoint b = read_checkpoint(checkpoint_path(dir / "split/checkpoints", 20));
  const Checkpoint half = read_checkpoint(checkpoint_path(dir / "split/checkpoints", 10));

  // Counters against hand counts: 4 rows x 32 tokens per step, one rank; one AdamW step per training step.
  CHECK(half.step == 10);
  CHECK(half.tokens_seen == 10 * 4 * 32);
  CHECK(half.optim_step == 10);
  CHECK(a.step == 20);
  CHECK(a.tokens_seen == 20 * 4 * 32);
  CHECK(a.optim_step == 20);
  CHECK(a.world_size == 1);
  // FAVOR+ with a redraw every 4 steps: the draw index is part of /state.
  REQUIRE(a.rng_offsets.count("random_features.draw") == 1);
  // Every field of the resumed run's /state equals the straight run's.
  CHECK(b.step == a.step);
  CHECK(b.tokens_seen == a.tokens_seen);
  CHECK(b.optim_step == a.optim_step);
  CHECK(b.world_size == a.world_size);
  CHECK(b.rng_offsets == a.rng_offsets);
  CHECK(b.loader_positions == a.loader_positions);
  CHECK(b.recipe == a.recipe);
  CHECK(b.metrics == a.metrics);
  REQUIRE(b.random_features.size() == a.random_features.size());
  for (const auto& entry : a.random_features) {
    const std::string& name = entry.first;  // clang 14: CAPTURE cannot take a structured binding
    CAPTURE(name);
    CHECK(entry.second.to_vector<float>() == b.random_features.at(name).to_vector<float>());
  }
  // Both moments, every parameter, bit for bit; and the moments are live state, not zeros.
  for (auto table : {&Checkpoint::optim_m, &Checkpoint::optim_v}) {
    REQUIRE((a.*table).size() == a.model.size());
    REQUIRE((b.*table).size() == a.model.size());
    for (const auto& entry : a.*table) {
      const std::string& name = entry.first;
      CAPTURE(name);
      CHECK(entry.second.to_vector<float>() == (b.*table).at(name).to_vector<float>());
    }
  }
  double m_abs = 0;
  for (const auto& [name, t] : a.optim_m)
    for (float x : t.to_vector<float>()) m_abs += std::abs(x);
  CHECK(m_abs > 0);
  // The loader resumes at the straight run's position, and that is where 20 global batches of 4 put it.
  REQUIRE(a.loader_positions.size() == 1);
  CHECK(a.loader_positions[0] == b.loader_positions[0]);
}

TEST_CASE("grad_accum = 2 with batch 2 equals one batch of 4 (no clipping): micro-batch losses are averaged") {
  TempDir dir("accum");
  const std::string data = dir.write("corpus.txt", tiny_corpus());
  const std::vector<std::string> common = {"optimizer.grad_clip=0", "training.steps=6", "checkpoint.interval=0"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), common.begin(), common.end());
    return recipe_from(kTinyRecipe, data, extra);
  };
  train(with({"training.batch_size=4"}), dir / "big");
  train(with({"training.batch_size=2", "training.grad_accum=2"}), dir / "accum");
  const std::vector<Row> big = read_metrics(dir / "big/metrics.jsonl");
  const std::vector<Row> acc = read_metrics(dir / "accum/metrics.jsonl");
  REQUIRE(big.size() == 6);
  REQUIRE(acc.size() == 6);
  const Checkpoint a = read_checkpoint(checkpoint_path(dir / "big/checkpoints", 6));
  const Checkpoint b = read_checkpoint(checkpoint_path(dir / "accum/checkpoints", 6));
  for (size_t i = 0; i < 6; ++i) {
    CAPTURE(i);
    // The same 4 windows per step, summed in another order: equal to float rounding, not a factor of 2.
    CHECK(std::abs(a.metrics.loss[i] - b.metrics.loss[i]) <= 1e-5 * a.metrics.loss[i]);
    CHECK(std::abs(big[i].grad_norm - acc[i].grad_norm) <= 1e-4 * big[i].grad_norm);
  }
  CHECK(a.tokens_seen == b.tokens_seen);
  CHECK(a.tokens_seen == 6 * 4 * 32);
}

TEST_CASE("LanguageModel: weight decay applies to exactly the weight matrices, never gains or the embedding") {
  // The rule, by name and shape: the token embedding (also the tied head) and every RMSNorm gain are exempt; every
  // other 2-D weight (attention projections, MLP, an untied head) decays.
  for (const bool tied : {true, false}) {
    for (const std::string variant : {"elu1", "lightning-gate", "softmax"}) {
      CAPTURE(tied);
      CAPTURE(variant);
      std::vector<std::string> overrides = {"data.path=unused.txt", "model.vocab_size=40",
                                            std::string("model.tie_embeddings=") + (tied ? "true" : "false")};
      if (variant == "lightning-gate")
        overrides.insert(overrides.end(), {"attention.feature_map=identity", "attention.normalize=rmsnorm",
                                           "attention.gate=true"});
      if (variant == "softmax") overrides.push_back("attention.kind=softmax");
      const Recipe recipe = Recipe::from_string(kTinyRecipe, "tiny.toml", overrides);
      const autograd::nn::LanguageModel model(trainers::model_config(recipe, 40));
      int decayed = 0, exempt = 0, gains = 0;
      bool saw_head = false;
      for (const auto& p : model.parameters()) {
        CAPTURE(p.name);
        const bool is_embedding = p.name == "embed.weight";
        const bool is_gain = p.name.size() > 5 && p.name.substr(p.name.size() - 5) == ".gain";
        saw_head = saw_head || p.name == "head.weight";
        CHECK(p.weight_decay == (p.variable.ndim() == 2 && !is_embedding));
        if (is_gain) {
          ++gains;
          CHECK(p.variable.ndim() == 1);
        }
        (p.weight_decay ? decayed : exempt) += 1;
      }
      CHECK(saw_head == !tied);
      CHECK(gains == 2 * 2 + 1);  // norm_attention and norm_mlp per layer, norm_final
      CHECK(decayed >= 2 * (4 + 3));  // at least q, k, v, o and the three MLP matrices per layer
      CHECK(exempt == gains + 1);
    }
  }
}

TEST_CASE("setup: every optimizer and schedule key reaches AdamW and the schedule (optimizer keys, one to one)") {
  // Distinct values for every key, so a key mapped to its neighbour's field shows.
  const Recipe recipe = Recipe::from_string(kTinyRecipe, "tiny.toml",
                                            {"data.path=unused.txt", "optimizer.lr=0.002", "optimizer.beta1=0.81",
                                             "optimizer.beta2=0.97", "optimizer.eps=3e-7", "optimizer.weight_decay=0.07",
                                             "schedule.min_lr_ratio=0.25", "schedule.warmup_steps=3"});
  const optim::AdamWConfig a = trainers::adamw_config(recipe);
  CHECK(a.lr == 0.002);
  CHECK(a.beta1 == 0.81);
  CHECK(a.beta2 == 0.97);
  CHECK(a.eps == 3e-7);
  CHECK(a.weight_decay == 0.07);
  const optim::ScheduleConfig s = trainers::schedule_config(recipe);
  CHECK(s.lr == 0.002);
  CHECK(s.min_lr == doctest::Approx(0.0005).epsilon(1e-12));
  CHECK(s.warmup_steps == 3);
  CHECK(s.total_steps == 20);
}

TEST_CASE("recipe: attention.max_context = training.seq_len is valid, one token shorter is refused naming both") {
  // The tiny recipe trains on 32-token windows: a context of exactly 32 is enough, 31 is not.
  CHECK_NOTHROW(Recipe::from_string(kTinyRecipe, "tiny.toml", {"data.path=unused.txt", "attention.max_context=32"}));
  CHECK_THROWS_WITH_AS(Recipe::from_string(kTinyRecipe, "tiny.toml", {"data.path=unused.txt", "attention.max_context=31"}),
                       doctest::Contains("training.seq_len = 32"), Error);
}

TEST_CASE("recipe: key_vocab = vocab leaves no values and is refused, rope checks the resolved (auto) head_dim") {
  const std::vector<std::string> mqar = {"data.kind=\"mqar\"", "data.vocab=64", "data.num_kv_pairs=4"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), mqar.begin(), mqar.end());
    return extra;
  };
  CHECK_NOTHROW(Recipe::from_string(kTinyRecipe, "tiny.toml", with({"data.key_vocab=63"})));
  CHECK_THROWS_WITH_AS(Recipe::from_string(kTinyRecipe, "tiny.toml", with({"data.key_vocab=64"})),
                       doctest::Contains("data.key_vocab"), Error);
  // d_model 30 over 2 heads: head_dim 15 (auto), odd, so rope cannot pair its dimensions.
  CHECK_NOTHROW(Recipe::from_string(kTinyRecipe, "tiny.toml", {"data.path=unused.txt", "model.d_model=30"}));
  CHECK_THROWS_WITH_AS(
      Recipe::from_string(kTinyRecipe, "tiny.toml", {"data.path=unused.txt", "model.d_model=30", "attention.rope=true"}),
      doctest::Contains("even head_dim"), Error);
}

TEST_CASE("recipe: a fractional mlp_ratio resolves to round(ratio · d_model) hidden units (key_vocab file)") {
  // 2.5 x 32 = 80; 2.7 x 32 = 86.4 -> 86. A ratio truncated to an integer first would give 64.
  const Recipe a = Recipe::from_string(kTinyRecipe, "tiny.toml", {"data.path=unused.txt", "model.mlp_hidden=0", "model.mlp_ratio=2.5"});
  CHECK(a.resolved_mlp_hidden() == 80);
  const Recipe b = Recipe::from_string(kTinyRecipe, "tiny.toml", {"data.path=unused.txt", "model.mlp_hidden=0", "model.mlp_ratio=2.7"});
  CHECK(b.resolved_mlp_hidden() == 86);
}
