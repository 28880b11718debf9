// ZeRO-1 (distributed.zero = 1; issue 24) under mpirun on the CPU: each rank keeps AdamW's state for 1/world
// of the parameters, gradients are reduce-scattered and the updated parameters all-gathered. The runs must
// track one rank within the data-parallel tolerances (clipping on and off: without clipping a reduce-scatter
// that forgot to average, or a global norm that forgot the other ranks' shards, shows in the gradient norm),
// each rank must hold its share of the state (read from the log, against the parameter count of the
// checkpoint), and checkpoints must stay world-size independent: written by 2 ZeRO-1 ranks, resumed by 1;
// written by 1, resumed by 2.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "support/data_parallel.h"
#include "support/temp_dir.h"
#include "trainers/checkpoint.h"

using namespace lat;
using namespace lat::testing;

namespace {

const std::string kZero = " --set distributed.zero=1";
const std::string kSmallBuckets = " --set distributed.bucket_mb=0.01";  // ~12 buckets of the tiny model
const std::string kInfo = " --set logging.level=info";                  // the bucket and ZeRO-1 log lines

// The integers after `tag` in `output`, separated by ", " (e.g. the per-rank counts of the ZeRO-1 log line).
std::vector<int64_t> numbers_after(const std::string& output, const std::string& tag) {
  const size_t at = output.find(tag);
  REQUIRE_MESSAGE(at != std::string::npos, "no '", tag, "' in the output");
  std::vector<int64_t> out;
  size_t pos = at + tag.size();
  for (;;) {
    size_t used = 0;
    out.push_back(std::stoll(output.substr(pos), &used));
    pos += used;
    if (output.compare(pos, 2, ", ") != 0) break;
    pos += 2;
  }
  return out;
}

int64_t parameter_count(const Checkpoint& ck) {
  int64_t n = 0;
  for (const auto& entry : ck.model) n += entry.second.numel();
  return n;
}

// The log's per-rank AdamW state ("ZeRO-1: AdamW state per rank: a, b of T elements") against the
// checkpoint's parameter count: the shares cover the model exactly once and each is 1/world of it, up to
// world - 1 elements per bucket (each bucket is split into equal chunks, the last one padded).
void check_shares(const std::string& output, const Checkpoint& ck, int world) {
  const std::vector<int64_t> shares = numbers_after(output, "ZeRO-1: AdamW state per rank: ");
  const int64_t total = parameter_count(ck);
  const int64_t buckets = numbers_after(output, "gradient buckets: ").front();
  REQUIRE(shares.size() == static_cast<size_t>(world));
  int64_t sum = 0;
  for (size_t r = 0; r < shares.size(); ++r) {
    CAPTURE(r);
    sum += shares[r];
    CHECK(std::abs(static_cast<double>(shares[r]) - static_cast<double>(total) / world) <=
          static_cast<double>((world - 1) * buckets));
    std::printf(
        "ZeRO-1, %d ranks, %lld bucket%s: rank %zu holds AdamW state for %lld of %lld parameters (%.4f; 1/%d "
        "= "
        "%.4f)\n",
        world, static_cast<long long>(buckets), buckets > 1 ? "s" : "", r, static_cast<long long>(shares[r]),
        static_cast<long long>(total), static_cast<double>(shares[r]) / static_cast<double>(total), world,
        1.0 / world);
  }
  CHECK(sum == total);
}

// Losses and parameters of `b` against `a`: within `tolerance` (relative), or bit for bit when it is 0.
void check_tracks(const Checkpoint& a, const Checkpoint& b, double tolerance, const char* what) {
  REQUIRE(a.metrics.loss.size() == b.metrics.loss.size());
  double worst_loss = 0, worst_param = 0;
  for (size_t i = 0; i < a.metrics.loss.size(); ++i) {
    CAPTURE(i);
    worst_loss = std::max(worst_loss, relative(a.metrics.loss[i], b.metrics.loss[i]));
    if (tolerance == 0)
      CHECK(a.metrics.loss[i] == b.metrics.loss[i]);
    else
      CHECK(relative(a.metrics.loss[i], b.metrics.loss[i]) <= tolerance);
  }
  REQUIRE(a.model.size() == b.model.size());
  for (const auto& entry : a.model) {  // not a structured binding: CAPTURE takes a reference (clang 14)
    const auto& name = entry.first;
    CAPTURE(name);
    const TensorDiff d = tensor_diff(entry.second, b.model.at(name));
    worst_param = std::max(worst_param, d.norm_relative);
    if (tolerance == 0)
      CHECK(entry.second.to_vector<float>() == b.model.at(name).to_vector<float>());
    else
      CHECK(d.norm_relative <= tolerance);
  }
  std::printf("%s: max loss rel diff %.3g, max parameter ||a-b||/||a|| %.3g\n", what, worst_loss,
              worst_param);
}

// AdamW's moments of two checkpoints under the same names, within `tolerance` (norm-wise relative).
void check_moments(const Checkpoint& a, const Checkpoint& b, double tolerance, const char* what) {
  REQUIRE(a.optim_m.size() == a.model.size());
  REQUIRE(b.optim_m.size() == a.model.size());
  CHECK(a.optim_step == b.optim_step);
  double worst = 0;
  for (const auto* pair : {&a.optim_m, &a.optim_v}) {
    const auto& other = pair == &a.optim_m ? b.optim_m : b.optim_v;
    for (const auto& entry : *pair) {
      const auto& name = entry.first;
      CAPTURE(name);
      REQUIRE(other.count(name) == 1);
      const double d = tensor_diff(entry.second, other.at(name)).norm_relative;
      worst = std::max(worst, d);
      CHECK(d <= tolerance);
    }
  }
  std::printf("%s: AdamW m and v, max ||a-b||/||a|| %.3g\n", what, worst);
}

}  // namespace

TEST_CASE(
    "ZeRO-1: 2 ranks x batch 4 track 1 rank x batch 8 over 20 steps, clip on and off, every overlap mode") {
  TempDir dir("zero_equiv");
  write_inputs(dir);
  const std::string noclip = " --set optimizer.grad_clip=0";
  REQUIRE(lat_train(0, common_args(dir, "one", 8)).exit_code == 0);
  REQUIRE(lat_train(0, common_args(dir, "one_noclip", 8) + noclip).exit_code == 0);
  const ShellResult zero = lat_train(2, common_args(dir, "zero", 4) + kZero + kInfo);
  REQUIRE(zero.exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "zero_noclip", 4) + kZero + noclip).exit_code == 0);
  // Both overlap modes, forced, and overlap off, with ~12 buckets (several reduce-scatters in flight).
  const ShellResult inl = lat_train(2, common_args(dir, "zero_inline", 4) + kZero + kSmallBuckets + kInfo,
                                    "LAT_OVERLAP_MODE=inline");
  REQUIRE(inl.exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "zero_thread", 4) + kZero + kSmallBuckets, "LAT_OVERLAP_MODE=thread")
              .exit_code == 0);
  REQUIRE(lat_train(
              2, common_args(dir, "zero_off", 4) + kZero + kSmallBuckets + " --set distributed.overlap=false")
              .exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "plain_off", 4) + kSmallBuckets + " --set distributed.overlap=false")
              .exit_code == 0);

  const Checkpoint one = checkpoint(dir, "one", 20), z = checkpoint(dir, "zero", 20);
  CHECK(z.world_size == 2);
  check_tracks(one, z, 1e-6, "ZeRO-1 (2 ranks x 4) against 1 rank x 8, 20 steps");
  const Checkpoint one_noclip = checkpoint(dir, "one_noclip", 20),
                   z_noclip = checkpoint(dir, "zero_noclip", 20);
  check_tracks(one_noclip, z_noclip, 1e-5, "ZeRO-1 without clipping against 1 rank");
  const std::vector<double> n1 = grad_norms(dir / "one_noclip/metrics.jsonl");
  const std::vector<double> n2 = grad_norms(dir / "zero_noclip/metrics.jsonl");
  REQUIRE(n1.size() == 20);
  REQUIRE(n2.size() == 20);
  for (size_t i = 0; i < 20; ++i) {
    CAPTURE(i);
    CHECK(n1[i] > 0);
    CHECK(relative(n1[i], n2[i]) <= 1e-5);  // a sum over ranks would be 2x; one rank's shard alone about 0.7x
  }
  // At two ranks every element of a reduce-scatter is a + b: the overlap modes agree bit for bit.
  const Checkpoint off = checkpoint(dir, "zero_off", 20);
  check_tracks(off, checkpoint(dir, "zero_inline", 20), 0, "ZeRO-1 inline overlap against overlap off");
  check_tracks(off, checkpoint(dir, "zero_thread", 20), 0, "ZeRO-1 thread overlap against overlap off");
  // The same buckets without ZeRO-1: the same numbers up to the order of the global norm's sum; the gathered
  // moments are the ones plain data parallelism keeps whole.
  const Checkpoint plain = checkpoint(dir, "plain_off", 20);
  check_tracks(plain, off, 1e-6, "ZeRO-1 against plain data parallel (same buckets)");
  check_moments(plain, off, 1e-5, "ZeRO-1 checkpoint against plain data parallel");

  check_shares(zero.output, z, 2);
  check_shares(inl.output, off, 2);
}

TEST_CASE("ZeRO-1: 3 ranks (uneven shares, padded buckets) track plain data parallelism and 1 rank x batch 12") {
  TempDir dir("zero_three");
  write_inputs(dir);
  REQUIRE(lat_train(0, common_args(dir, "one", 12)).exit_code == 0);
  REQUIRE(lat_train(3, common_args(dir, "plain", 4) + kSmallBuckets).exit_code == 0);
  const ShellResult three = lat_train(3, common_args(dir, "three", 4) + kZero + kSmallBuckets + kInfo);
  REQUIRE(three.exit_code == 0);
  const Checkpoint one = checkpoint(dir, "one", 20), plain = checkpoint(dir, "plain", 20);
  const Checkpoint z = checkpoint(dir, "three", 20);
  CHECK(z.world_size == 3);
  check_tracks(plain, z, 1e-6, "ZeRO-1 against plain data parallel, 3 ranks x 4");
  check_moments(plain, z, 1e-5, "ZeRO-1 checkpoint against plain data parallel, 3 ranks");
  check_tracks(one, plain, 1e-5, "plain data parallel (3 ranks x 4) against 1 rank x 12, 20 steps");
  check_tracks(one, z, 1e-5, "ZeRO-1 (3 ranks x 4) against 1 rank x 12, 20 steps");
  check_shares(three.output, z, 3);
}

TEST_CASE("ZeRO-1 checkpoints: resumed bit for bit by 2 ranks, and across world sizes (2 ranks to 1, 1 to 2)") {
  TempDir dir("zero_resume");
  write_inputs(dir);
  REQUIRE(lat_train(2, common_args(dir, "straight", 4) + kZero).exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "split", 4) + kZero + " --stop-after 7").exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "split", 4) + kZero + " --resume auto").exit_code == 0);
  const Checkpoint straight = checkpoint(dir, "straight", 20);
  check_tracks(straight, checkpoint(dir, "split", 20), 0, "ZeRO-1 stopped at step 7 and resumed on 2 ranks");

  // 2 ZeRO-1 ranks' step-10 checkpoint, resumed by 1 rank x 8 (the same global batch), as the data-parallel
  // resume test demands of a plain checkpoint.
  const std::string zero10 = checkpoint_path(dir / "straight/checkpoints", 10);
  REQUIRE(lat_train(0, common_args(dir, "on_one", 8) + " --resume " + zero10).exit_code == 0);
  const Checkpoint on_one = checkpoint(dir, "on_one", 20);
  CHECK(on_one.world_size == 1);
  check_tracks(straight, on_one, 1e-6, "2 ZeRO-1 ranks' checkpoint of step 10 resumed on 1 rank");

  // 1 rank's step-10 checkpoint resumed by 2 ZeRO-1 ranks, and by 2 plain ranks: both continue from the same
  // whole state, so they must agree with each other as tightly as ZeRO-1 agrees with plain data parallelism,
  // and with the uninterrupted 1-rank run as 2 ranks agree with 1.
  REQUIRE(lat_train(0, common_args(dir, "one", 8)).exit_code == 0);
  const std::string one10 = checkpoint_path(dir / "one/checkpoints", 10);
  REQUIRE(lat_train(2, common_args(dir, "on_two", 4) + kZero + " --resume " + one10).exit_code == 0);
  REQUIRE(lat_train(2, common_args(dir, "on_two_plain", 4) + " --resume " + one10).exit_code == 0);
  const Checkpoint one = checkpoint(dir, "one", 20), on_two = checkpoint(dir, "on_two", 20);
  CHECK(on_two.world_size == 2);
  check_tracks(one, on_two, 1e-6, "1 rank's checkpoint of step 10 resumed on 2 ZeRO-1 ranks");
  check_tracks(checkpoint(dir, "on_two_plain", 20), on_two, 1e-6,
               "1 rank's checkpoint resumed on 2 ZeRO-1 ranks against 2 plain ranks");
  check_moments(checkpoint(dir, "on_two_plain", 20), on_two, 1e-5,
                "resumed on 2 ZeRO-1 ranks against 2 plain ranks");
}
