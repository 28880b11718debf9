// Recompute and the step guard under `mpirun -np 2` on the CPU: 2 ranks with block recompute track 1 rank and
// equal 2 ranks without it bit for bit; an out-of-vocabulary target on rank 1 only makes both ranks skip that
// step (the NaN reaches rank 0 through the gradient all-reduce) and the run goes on in step.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "support/data_parallel.h"
#include "support/shell.h"
#include "support/temp_dir.h"
#include "trainers/checkpoint.h"

using namespace lat;
using namespace lat::testing;

TEST_CASE("2 ranks with block recompute equal 2 ranks without it bit for bit and track 1 rank") {
  TempDir dir("dp_recompute");
  write_inputs(dir);
  REQUIRE(lat_train(0, common_args(dir, "one", 8)).exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "two", 4)).exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "two_block", 4) + " --set training.recompute=block").exit_code == 0);
  const Checkpoint one = checkpoint(dir, "one", 20), two = checkpoint(dir, "two", 20);
  const Checkpoint block = checkpoint(dir, "two_block", 20);
  for (size_t i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(block.metrics.loss[i] == two.metrics.loss[i]);
    CHECK(relative(one.metrics.loss[i], block.metrics.loss[i]) <= 1e-6);
  }
  for (const auto& entry : two.model) {  // not a structured binding: CAPTURE takes a reference (clang 14)
    const auto& name = entry.first;
    CAPTURE(name);
    CHECK(block.model.at(name).to_vector<float>() == entry.second.to_vector<float>());
    CHECK(tensor_diff(one.model.at(name), block.model.at(name)).norm_relative <= 1e-6);
  }
}

TEST_CASE("an out-of-vocabulary target on rank 1 only makes both ranks skip the step, training goes on") {
  TempDir dir("dp_guard");
  write_inputs(dir);
  const ShellResult r = lat_train(2, common_args(dir, "bad", 4) + " --set logging.level=info",
                                  "LAT_TEST_BAD_TARGET_STEPS=5 LAT_TEST_FAULT_RANK=1");
  CAPTURE(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("step 5: 1 out-of-vocabulary target in rank 1's batch") != std::string::npos);
  // Rank 0 writes metrics.jsonl: it saw the NaN in the reduced gradient.
  std::ifstream in(dir / "bad/metrics.jsonl");
  std::string line;
  int rows = 0, skipped = 0;
  while (std::getline(in, line)) {
    ++rows;
    if (line.find("skipped") == std::string::npos) continue;
    ++skipped;
    CHECK(line.find(R"("skipped": [{"step": 5, "reason": "non-finite gradient"}])") != std::string::npos);
  }
  CHECK(rows == 20);
  CHECK(skipped == 1);
  // Rank 0 skipped as rank 1 did: its parameters equal those of a run where both ranks had the bad target.
  REQUIRE(lat_train(2, common_args(dir, "both", 4), "LAT_TEST_BAD_TARGET_STEPS=5").exit_code == 0);
  const Checkpoint bad = checkpoint(dir, "bad", 20), both = checkpoint(dir, "both", 20);
  for (const auto& entry : both.model) {  // not a structured binding: CAPTURE takes a reference (clang 14)
    const auto& name = entry.first;
    CAPTURE(name);
    CHECK(bad.model.at(name).to_vector<float>() == entry.second.to_vector<float>());
  }
}
