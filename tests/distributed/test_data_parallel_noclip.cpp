// Data parallelism without gradient clipping. The tiny recipe clips every step (grad_clip = 1), which rescales a
// gradient that is off by any constant factor back to the same update: a reducer that sums instead of averaging
// passed every other test. Here the clip is off and the pre-clip gradient norm (metrics.jsonl's grad_norm) of
// 2 ranks x 4 rows must equal that of 1 rank x 8 rows, step by step: the all-reduce must divide by the world size.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "support/data_parallel.h"
#include "support/temp_dir.h"
#include "trainers/checkpoint.h"

using namespace lat;
using namespace lat::testing;

TEST_CASE("2 ranks without clipping track 1 rank: the reducer averages gradients, tokens_seen counts every rank") {
  TempDir dir("dp_noclip");
  write_inputs(dir);
  const std::string noclip = " --set optimizer.grad_clip=0";
  REQUIRE(lat_train(0, common_args(dir, "one", 8) + noclip).exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "two", 4) + noclip).exit_code == 0);
  const Checkpoint one = checkpoint(dir, "one", 20), two = checkpoint(dir, "two", 20);
  const std::vector<double> n1 = grad_norms(dir / "one/metrics.jsonl"), n2 = grad_norms(dir / "two/metrics.jsonl");
  REQUIRE(n1.size() == 20);
  REQUIRE(n2.size() == 20);
  for (size_t i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(n1[i] > 0);
    CHECK(relative(n1[i], n2[i]) <= 1e-5);  // a sum over 2 ranks would be 2x
    CHECK(relative(one.metrics.loss[i], two.metrics.loss[i]) <= 1e-6);
  }
  for (const auto& entry : one.model) {
    const std::string& name = entry.first;  // clang 14: CAPTURE cannot take a structured binding
    CAPTURE(name);
    CHECK(tensor_diff(entry.second, two.model.at(name)).norm_relative <= 1e-5);
  }
  // 20 steps x 8 rows x 32 tokens, however the rows are split over ranks.
  CHECK(one.tokens_seen == 20 * 8 * 32);
  CHECK(two.tokens_seen == 20 * 8 * 32);
  CHECK(two.world_size == 2);
}
