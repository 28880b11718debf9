// The big bench recipes (recipes/bench/lat-350m, lat-760m, lat-1.3b; issue 24): GPT-3 medium, large and XL
// shapes with 128-dim heads, sized in their class by the memory estimate (whose parameter count test_limits
// checks against real models), accepted by lat-train --print-recipe; and the estimate's account of ZeRO-1,
// which splits AdamW's two moments over the ranks and nothing else.
#include <doctest/doctest.h>

#include <string>

#include "core/error.h"
#include "core/host.h"
#include "support/shell.h"
#include "support/temp_dir.h"
#include "trainers/memory_estimate.h"
#include "trainers/recipe.h"

using lat::Recipe;

namespace {

struct BenchShape {
  const char* file;
  int64_t d_model, layers, heads;
  double min_parameters,
      max_parameters;  // the class the name promises (GPT-3's 350M, 760M, 1.3B), give or take
};
constexpr BenchShape kShapes[] = {
    {"lat-350m.toml", 1024, 24, 8, 0.30e9, 0.42e9},
    {"lat-760m.toml", 1536, 24, 12, 0.70e9, 0.86e9},
    {"lat-1.3b.toml", 2048, 24, 16, 1.20e9, 1.45e9},
};

std::string bench_recipe(const char* file) {
  return std::string(LAT_SOURCE_DIR) + "/recipes/bench/" + file;
}

}  // namespace

TEST_CASE("bench recipes: 350M, 760M and 1.3B are GPT-3 medium, large and XL shapes with 128-dim heads") {
  for (const BenchShape& shape : kShapes) {
    const std::string file = shape.file;
    CAPTURE(file);
    const Recipe r = Recipe::from_file(bench_recipe(shape.file));
    CHECK(r.model.d_model == shape.d_model);
    CHECK(r.model.layers == shape.layers);
    CHECK(r.attention.heads == shape.heads);
    CHECK(r.resolved_head_dim() == 128);
    CHECK(r.training.seq_len == 2048);
    const auto e = lat::trainers::estimate_training_memory(r, r.model.vocab_size, lat::Device::cpu());
    CAPTURE(e.parameters);
    CHECK(e.parameters >= shape.min_parameters);
    CHECK(e.parameters <= shape.max_parameters);
    MESSAGE(file << ": " << e.parameters << " parameters; one rank: weights, gradients and AdamW "
                       << lat::format_bytes(e.state_bytes)
                       << ", activations of one micro-batch (bf16 on CUDA) "
                       << lat::format_bytes(lat::trainers::estimate_training_memory(r, r.model.vocab_size,
                                                                                    lat::Device::cuda(0))
                                                .activation_bytes));
  }
}

TEST_CASE(
    "memory estimate: ZeRO-1 divides AdamW's moments by the world size, and only with more than one rank") {
  const Recipe plain = Recipe::from_file(bench_recipe("lat-1.3b.toml"));
  const Recipe zero = Recipe::from_file(bench_recipe("lat-1.3b.toml"), {"distributed.zero=1"});
  const int64_t vocab = plain.model.vocab_size;
  using lat::trainers::estimate_training_memory;
  const auto one = estimate_training_memory(plain, vocab, lat::Device::cpu());
  CHECK(one.optimizer_bytes == doctest::Approx(8 * one.parameters));  // fp32 m and v
  for (const int world : {2, 4, 8}) {
    CAPTURE(world);
    const auto sharded = estimate_training_memory(zero, vocab, lat::Device::cpu(), world);
    const auto unsharded = estimate_training_memory(plain, vocab, lat::Device::cpu(), world);
    CHECK(sharded.parameters == one.parameters);
    CHECK(sharded.optimizer_bytes == doctest::Approx(one.optimizer_bytes / world));
    CHECK(sharded.state_bytes ==
          doctest::Approx(unsharded.state_bytes - one.optimizer_bytes * (1.0 - 1.0 / world)));
    CHECK(sharded.activation_bytes == one.activation_bytes);
    // Without ZeRO-1 every rank keeps the whole state, and the reducer's flat fp32 buckets besides.
    CHECK(unsharded.optimizer_bytes == one.optimizer_bytes);
    CHECK(unsharded.state_bytes == doctest::Approx(one.state_bytes + 4 * one.parameters));
  }
  CHECK(estimate_training_memory(zero, vocab, lat::Device::cpu(), 1).state_bytes == one.state_bytes);
}

TEST_CASE("distributed.zero accepts 0 and 1 and refuses other stages, naming the key") {
  CHECK(Recipe::from_file(bench_recipe("lat-350m.toml")).distributed.zero == 0);
  CHECK(Recipe::from_file(bench_recipe("lat-350m.toml"), {"distributed.zero=1"}).distributed.zero == 1);
  const std::string e = lat::testing::error_of(
      [] { Recipe::from_file(bench_recipe("lat-350m.toml"), {"distributed.zero=2"}); });
  CAPTURE(e);
  CHECK(e.find("distributed.zero") != std::string::npos);
  CHECK(e.find("[0, 1]") != std::string::npos);
}

TEST_CASE("lat-train --print-recipe accepts the bench recipes and prints what parses back to them") {
  for (const BenchShape& shape : kShapes) {
    const std::string file = shape.file;
    CAPTURE(file);
    const lat::testing::ShellResult r =
        lat::testing::run_shell(std::string(LAT_BINARY_DIR) + "/tools/lat-train " + bench_recipe(shape.file) +
                                " --print-recipe --set distributed.zero=1");
    CAPTURE(r.output);
    REQUIRE(r.exit_code == 0);
    const Recipe printed = Recipe::from_string(r.output, "printed.toml");
    CHECK(printed == Recipe::from_file(bench_recipe(shape.file), {"distributed.zero=1"}));
    CHECK(r.output.find("zero = 1") != std::string::npos);
  }
}
