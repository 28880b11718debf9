// Data-parallel training under mpirun on the CPU (issue 7's CI acceptance): each case runs the lat-train
// binary under `mpirun -np 2` on a tiny recipe and checks the checkpoints it wrote. Built into
// lat_mpi_tests (label `mpi`) only when MPI and mpirun were found; see tests/CMakeLists.txt.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "support/data_parallel.h"
#include "support/shell.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "trainers/checkpoint.h"

using namespace lat;
using namespace lat::testing;

namespace {

// Every process whose command line mentions `marker` has gone (waits up to 5 s for the kernel to reap them).
bool none_left(const std::string& marker) {
  for (int i = 0; i < 50; ++i) {
    // "lat-trai[n]" matches lat-train but not this shell's own command line.
    if (run_shell("pgrep -f 'lat-trai[n] .*" + marker + "'").exit_code == 1) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

TEST_CASE("2 ranks x batch 4 track 1 rank x batch 8: losses and parameters within 1e-6, overlap on or off") {
  TempDir dir("dp_equiv");
  write_inputs(dir);
  REQUIRE(lat_train(0, common_args(dir, "one", 8)).exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "two", 4)).exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "two_no_overlap", 4) + " --set distributed.overlap=false").exit_code == 0);
  // Both overlap modes, forced (auto picks by spare cores), with 10 KB buckets so that ~11 are in flight.
  const std::string small = " --set distributed.bucket_mb=0.01";
  REQUIRE(lat_train(2, common_args(dir, "two_inline", 4) + small, "LAT_OVERLAP_MODE=inline").exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "two_thread", 4) + small, "LAT_OVERLAP_MODE=thread").exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "two_small_off", 4) + small + " --set distributed.overlap=false").exit_code == 0);

  const Checkpoint one = checkpoint(dir, "one", 20), two = checkpoint(dir, "two", 20);
  const Checkpoint serial = checkpoint(dir, "two_no_overlap", 20);
  const Checkpoint inl = checkpoint(dir, "two_inline", 20), thr = checkpoint(dir, "two_thread", 20);
  const Checkpoint small_off = checkpoint(dir, "two_small_off", 20);
  for (size_t i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(inl.metrics.loss[i] == small_off.metrics.loss[i]);  // bit for bit, at two ranks
    CHECK(thr.metrics.loss[i] == small_off.metrics.loss[i]);
  }
  for (const auto& entry : small_off.model) {  // not a structured binding: CAPTURE takes a reference (clang 14)
    const auto& name = entry.first;
    const auto& t = entry.second;
    CAPTURE(name);
    CHECK(inl.model.at(name).to_vector<float>() == t.to_vector<float>());
    CHECK(thr.model.at(name).to_vector<float>() == t.to_vector<float>());
  }
  CHECK(two.world_size == 2);
  REQUIRE(one.metrics.loss.size() == 20);
  REQUIRE(two.metrics.loss.size() == 20);
  double worst_loss = 0;
  for (size_t i = 0; i < 20; ++i) {
    CAPTURE(i);
    worst_loss = std::max(worst_loss, relative(one.metrics.loss[i], two.metrics.loss[i]));
    CHECK(relative(one.metrics.loss[i], two.metrics.loss[i]) <= 1e-6);
    CHECK(serial.metrics.loss[i] == two.metrics.loss[i]);  // same buckets, same order: bit for bit
  }
  double worst_norm = 0, worst_max = 0;
  std::string worst_name;
  REQUIRE(one.model.size() == two.model.size());
  for (const auto& entry : one.model) {  // not a structured binding: CAPTURE takes a reference (clang 14)
    const auto& name = entry.first;
    const auto& t = entry.second;
    CAPTURE(name);
    const TensorDiff d = tensor_diff(t, two.model.at(name));
    if (d.norm_relative > worst_norm) worst_name = name;
    worst_norm = std::max(worst_norm, d.norm_relative);
    worst_max = std::max(worst_max, d.max_relative);
    CHECK(d.norm_relative <= 1e-6);
    CHECK(two.model.at(name).to_vector<float>() == serial.model.at(name).to_vector<float>());
  }
  std::printf("dp-equivalence (1 rank x 8 vs 2 ranks x 4, 20 steps): max loss rel diff %.3g; parameters: max "
              "||a-b||/||a|| %.3g (%s), max |a_i-b_i|/max|a| %.3g\n",
              worst_loss, worst_norm, worst_name.c_str(), worst_max);
}

TEST_CASE("4 ranks x batch 2 track 1 rank x batch 8 with the inline overlap (recursive halving, two rounds)") {
  TempDir dir("dp_four");
  write_inputs(dir);
  const std::string small = " --set distributed.bucket_mb=0.01";
  REQUIRE(lat_train(0, common_args(dir, "one", 8)).exit_code == 0);
  REQUIRE(lat_train(4, common_args(dir, "four", 2) + small, "LAT_OVERLAP_MODE=inline").exit_code == 0);
  REQUIRE(lat_train(4, common_args(dir, "four_off", 2) + small + " --set distributed.overlap=false").exit_code == 0);
  const Checkpoint one = checkpoint(dir, "one", 20), four = checkpoint(dir, "four", 20);
  const Checkpoint off = checkpoint(dir, "four_off", 20);
  CHECK(four.world_size == 4);
  for (size_t i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(relative(one.metrics.loss[i], four.metrics.loss[i]) <= 1e-6);
    CHECK(relative(off.metrics.loss[i], four.metrics.loss[i]) <= 1e-6);  // summation order may differ from MPI's
  }
  for (const auto& entry : one.model) {  // not a structured binding: CAPTURE takes a reference (clang 14)
    const auto& name = entry.first;
    const auto& t = entry.second;
    CAPTURE(name);
    CHECK(tensor_diff(t, four.model.at(name)).norm_relative <= 1e-6);
  }
}

TEST_CASE("resume under mpirun -np 2 from a 2-rank checkpoint is bit-exact, and a different world size resumes when the global batch matches") {
  TempDir dir("dp_resume");
  write_inputs(dir);
  REQUIRE(lat_train(2, common_args(dir, "straight", 4)).exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "split", 4) + " --stop-after 7").exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "split", 4) + " --resume auto").exit_code == 0);
  const Checkpoint a = checkpoint(dir, "straight", 20), b = checkpoint(dir, "split", 20);
  REQUIRE(a.metrics.loss.size() == 20);
  REQUIRE(b.metrics.loss.size() == 20);
  for (size_t i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(a.metrics.loss[i] == b.metrics.loss[i]);  // bit-identical
  }
  for (const auto& entry : a.model) {  // not a structured binding: CAPTURE takes a reference (clang 14)
    const auto& name = entry.first;
    const auto& t = entry.second;
    CAPTURE(name);
    CHECK(t.to_vector<float>() == b.model.at(name).to_vector<float>());
  }

  // The 2-rank checkpoint at step 10 resumed by 1 rank with batch 8 (global batch 8 either way).
  const std::string step10 = checkpoint_path(dir / "straight/checkpoints", 10);
  REQUIRE(lat_train(0, common_args(dir, "one_rank", 8) + " --resume " + step10).exit_code == 0);
  const Checkpoint c = checkpoint(dir, "one_rank", 20);
  REQUIRE(c.metrics.loss.size() == 20);
  for (size_t i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(relative(a.metrics.loss[i], c.metrics.loss[i]) <= 1e-6);
  }
  CHECK(c.world_size == 1);

  // A different global batch (1 rank x 4 = 4 rows, the checkpoint has 8): refused in one sentence naming it.
  const ShellResult bad = lat_train(0, common_args(dir, "bad", 4) + " --resume " + step10);
  CHECK(bad.exit_code != 0);
  CHECK(bad.output.find("global batch") != std::string::npos);
  CHECK(bad.output.find("training.batch_size") != std::string::npos);
  MESSAGE(bad.output);
}

TEST_CASE("a rank that throws ends the whole job in seconds, naming the rank, leaving no process behind") {
  TempDir dir("dp_fail");
  write_inputs(dir);
  const ShellResult r = lat_train(2, common_args(dir, "fail", 4) + " --set training.steps=200",
                          "LAT_TEST_FAIL_RANK=1 LAT_TEST_FAIL_STEP=3", 60);
  MESSAGE(r.output);
  std::printf("rank failure: exit %d after %.2f s\n", r.exit_code, r.seconds);
  CHECK(r.exit_code != 0);
  CHECK(r.exit_code != 124);  // not the timeout
  CHECK(r.seconds < 20);
  CHECK(r.output.find("rank 1 of 2 failed") != std::string::npos);
  CHECK(r.output.find("fails at step 3") != std::string::npos);
  CHECK(none_left(dir / "fail"));
}

TEST_CASE("the watchdog aborts the job when a collective does not finish in distributed.watchdog_seconds") {
  TempDir dir("dp_watchdog");
  write_inputs(dir);
  // Rank 1 goes silent at step 3 (it sleeps, and never joins the gradient all-reduce); rank 0 waits in it.
  const ShellResult r = lat_train(2, common_args(dir, "hang", 4) + " --set training.steps=200 --set distributed.watchdog_seconds=2",
                          "LAT_TEST_FAIL_RANK=1 LAT_TEST_FAIL_STEP=3 LAT_TEST_FAIL_MODE=hang", 60);
  MESSAGE(r.output);
  std::printf("watchdog (2 s): exit %d after %.2f s\n", r.exit_code, r.seconds);
  CHECK(r.exit_code != 0);
  CHECK(r.exit_code != 124);
  CHECK(r.seconds < 20);
  CHECK(r.output.find("rank 0 of 2 failed: watchdog:") != std::string::npos);
  CHECK(r.output.find("has not finished after 2 s") != std::string::npos);
  CHECK(none_left(dir / "hang"));
}
