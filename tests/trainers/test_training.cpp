// End-to-end training on the CPU: exact resume, loss going down, MQAR recall, and the trainer's refusals.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "trainers/checkpoint.h"
#include "trainers/communicator.h"
#include "trainers/trainer.h"

using namespace lat;
using lat::testing::error_of;
using lat::testing::TempDir;
using lat::testing::kTinyRecipe;
using lat::testing::tiny_corpus;

using lat::testing::train;

namespace {

Recipe tiny_recipe(const std::string& data_path, std::vector<std::string> overrides = {}) {
  overrides.push_back("data.path=" + data_path);
  return Recipe::from_string(kTinyRecipe, "tiny.toml", overrides);
}

}  // namespace

TEST_CASE("exact resume: 10 steps + resume + 10 steps equal 20 steps bit for bit") {
  TempDir dir("resume");
  const std::string data = dir.write("corpus.txt", tiny_corpus());
  std::vector<std::string> variant;
  SUBCASE("elu1") {}
  // FAVOR+ with a redraw every 4 steps: the resumed run must redraw the same W at the same steps.
  SUBCASE("random features, redrawn") { variant = {"attention.feature_map=random", "attention.redraw_interval=4"}; }
  SUBCASE("lightning: identity, rmsnorm, alibi, gate") {
    variant = {"attention.feature_map=identity", "attention.normalize=rmsnorm", "attention.decay=alibi",
               "attention.gate=true"};
  }
  SUBCASE("softmax with rope") { variant = {"attention.kind=softmax", "attention.rope=true"}; }
  const Recipe recipe = tiny_recipe(data, variant);
  train(recipe, dir / "straight");
  // The interrupted run: the same recipe stopped after 10 steps, then resumed to the end.
  CHECK(train(recipe, dir / "split", "", 10).interrupted);
  CHECK(train(recipe, dir / "split", "auto").steps_done == 20);

  const Checkpoint a = read_checkpoint(checkpoint_path(dir / "straight/checkpoints", 20));
  const Checkpoint b = read_checkpoint(checkpoint_path(dir / "split/checkpoints", 20));
  REQUIRE(a.metrics.loss.size() == 20);
  REQUIRE(b.metrics.loss.size() == 20);
  for (size_t i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(a.metrics.loss[i] == b.metrics.loss[i]);  // bit-identical, not approximately
  }
  REQUIRE(a.model.size() == b.model.size());
  for (const auto& entry : a.model) {  // not a structured binding: CAPTURE takes a reference (clang 14)
    const auto& name = entry.first;
    const auto& t = entry.second;
    CAPTURE(name);
    CHECK(t.to_vector<float>() == b.model.at(name).to_vector<float>());
  }
  for (const auto& [name, t] : a.optim_v) CHECK(t.to_vector<float>() == b.optim_v.at(name).to_vector<float>());
}

TEST_CASE("loss goes down over a 60-step run") {
  TempDir dir("loss");
  const std::string data = dir.write("corpus.txt", tiny_corpus());
  train(tiny_recipe(data, {"training.steps=60", "checkpoint.interval=0"}), dir / "run");
  const Checkpoint c = read_checkpoint(checkpoint_path(dir / "run/checkpoints", 60));
  REQUIRE(c.metrics.loss.size() == 60);
  const double first = std::accumulate(c.metrics.loss.begin(), c.metrics.loss.begin() + 10, 0.0) / 10;
  const double last = std::accumulate(c.metrics.loss.end() - 10, c.metrics.loss.end(), 0.0) / 10;
  MESSAGE("first-10 mean loss " << first << ", last-10 mean loss " << last);
  CHECK(last < first);
  CHECK(last < 0.8 * first);
}

TEST_CASE("the trainer refuses bad input before writing anything, and keeps existing checkpoints") {
  TempDir dir("refuse");
  const std::string data = dir.write("corpus.txt", tiny_corpus());
  // A good run leaves a checkpoint behind.
  train(tiny_recipe(data, {"training.steps=10"}), dir / "run");
  const std::string good = checkpoint_path(dir / "run/checkpoints", 10);
  REQUIRE(std::filesystem::exists(good));
  const auto good_size = std::filesystem::file_size(good);

  // Missing data file: the message names the key and the file.
  std::string e = error_of([&] { train(tiny_recipe(dir / "missing.txt"), dir / "run"); });
  CHECK(e.find("data.path") != std::string::npos);
  CHECK(e.find("missing.txt") != std::string::npos);

  // A run directory that cannot be created (its parent is a file).
  e = error_of([&] { train(tiny_recipe(data), dir / "corpus.txt/run"); });
  CHECK(e.find("run directory") != std::string::npos);

  // A corrupted checkpoint to resume from.
  const std::string bad = dir.write("bad.h5", "this is not an HDF5 file");
  e = error_of([&] { train(tiny_recipe(data), dir / "run", bad); });
  CHECK(e.find("bad.h5") != std::string::npos);

  // A checkpoint of a different model.
  e = error_of([&] { train(tiny_recipe(data, {"model.d_model=64"}), dir / "run", good); });
  CHECK(e.find("shape") != std::string::npos);

  // A vocabulary smaller than the data's token ids (bytes need 258): refused up front, since the GPU loss does not
  // read targets back.
  e = error_of([&] { train(tiny_recipe(data, {"model.vocab_size=200"}), dir / "run"); });
  CHECK(e.find("model.vocab_size") != std::string::npos);
  CHECK(e.find("258") != std::string::npos);

  CHECK(std::filesystem::file_size(good) == good_size);
  CHECK_NOTHROW(read_checkpoint(good));
}

TEST_CASE("MQAR: the shipped elu1 recipe recalls > 90% of queried values within its budget") {
  TempDir dir("mqar");
  const Recipe recipe = Recipe::from_file(std::string(LAT_SOURCE_DIR) + "/recipes/mqar/elu1.toml",
                                          {"training.device=cpu", "logging.level=warn"});
  const trainers::TrainResult result = train(recipe, dir / "run");
  REQUIRE(result.accuracy.has_value());
  MESSAGE("MQAR elu1: " << recipe.training.steps << " steps, query accuracy " << *result.accuracy << ", val_loss "
                        << result.val_loss.value_or(-1));
  CHECK(*result.accuracy > 0.9);
}
