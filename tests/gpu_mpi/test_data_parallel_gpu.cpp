// Data-parallel training on two GPUs (NCCL, one rank per GPU, launched by mpirun) against one GPU: the tiny
// recipe on CUDA in fp32, 2 ranks × batch 4 against 1 rank × batch 8 over the same data, with every overlap mode
// (the communication stream, the compute-stream thread, none). GPU runs are not bit-deterministic (the embedding
// backward adds with atomics), so they are compared within 1e-5 rather than bit for bit; a reduction that
// dropped, doubled or failed to average a bucket moves the losses by more than 1e-2.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "support/data_parallel.h"

using namespace lat;
using namespace lat::testing;

namespace {

const std::string kOnCuda = " --set training.device=cuda --set training.precision=fp32";
const std::string kNcclEnv = "NCCL_NVLS_ENABLE=0";  // NVLink multicast off on shared hosts

}  // namespace

TEST_CASE("two GPUs x batch 4 track one GPU x batch 8 (fp32) in every overlap mode") {
  TempDir dir("dp_gpu");
  write_inputs(dir);
  REQUIRE(lat_train(0, common_args(dir, "one", 8) + kOnCuda, kNcclEnv, 120).exit_code == 0);
  // Small buckets so that several all-reduces are in flight next to backward.
  const std::string small = kOnCuda + " --set distributed.bucket_mb=0.01";
  REQUIRE(lat_train(2, common_args(dir, "stream", 4) + small, kNcclEnv + " LAT_OVERLAP_MODE=auto", 120).exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "thread", 4) + small, kNcclEnv + " LAT_OVERLAP_MODE=thread", 120).exit_code ==
          0);
  REQUIRE(lat_train(2, common_args(dir, "off", 4) + small + " --set distributed.overlap=false", kNcclEnv, 120)
              .exit_code == 0);
  const Checkpoint one = checkpoint(dir, "one", 20);
  REQUIRE(one.metrics.loss.size() == 20);
  for (const char* run : {"stream", "thread", "off"}) {
    CAPTURE(run);
    const Checkpoint two = checkpoint(dir, run, 20);
    CHECK(two.world_size == 2);
    REQUIRE(two.metrics.loss.size() == 20);
    double worst_loss = 0, worst_param = 0;
    for (size_t i = 0; i < 20; ++i) {
      CAPTURE(i);
      worst_loss = std::max(worst_loss, relative(one.metrics.loss[i], two.metrics.loss[i]));
      CHECK(relative(one.metrics.loss[i], two.metrics.loss[i]) <= 1e-5);
    }
    REQUIRE(one.model.size() == two.model.size());
    for (const auto& [name, t] : one.model) {
      CAPTURE(name);
      const TensorDiff d = tensor_diff(t, two.model.at(name));
      worst_param = std::max(worst_param, d.norm_relative);
      CHECK(d.norm_relative <= 1e-5);
    }
    std::printf("two GPUs (%s) against one, 20 steps: max loss rel diff %.3g, max parameter ||a-b||/||a|| %.3g\n",
                run, worst_loss, worst_param);
  }
}

TEST_CASE("two GPUs with ZeRO-1 (reduce-scatter, sharded AdamW, all-gather over NCCL) track one GPU (fp32)") {
  TempDir dir("zero_gpu");
  write_inputs(dir);
  REQUIRE(lat_train(0, common_args(dir, "one", 8) + kOnCuda, kNcclEnv, 120).exit_code == 0);
  const std::string zero = kOnCuda + " --set distributed.zero=1 --set distributed.bucket_mb=0.01 --set logging.level=info";
  const ShellResult stream = lat_train(2, common_args(dir, "zero", 4) + zero, kNcclEnv, 120);
  REQUIRE(stream.exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "zero_off", 4) + zero + " --set distributed.overlap=false", kNcclEnv, 120)
              .exit_code == 0);
  CHECK(stream.output.find("ZeRO-1: AdamW state per rank: ") != std::string::npos);
  const Checkpoint one = checkpoint(dir, "one", 20);
  for (const char* run : {"zero", "zero_off"}) {
    CAPTURE(run);
    const Checkpoint two = checkpoint(dir, run, 20);
    REQUIRE(two.metrics.loss.size() == 20);
    for (size_t i = 0; i < 20; ++i) {
      CAPTURE(i);
      CHECK(relative(one.metrics.loss[i], two.metrics.loss[i]) <= 1e-5);
    }
    for (const auto& entry : one.model) {
      const std::string& name = entry.first;
      CAPTURE(name);
      CHECK(tensor_diff(entry.second, two.model.at(name)).norm_relative <= 1e-5);
    }
  }
}
