// Limits on user-chosen sizes (docs/reliability.md): the memory estimate against the real model, refusals
// with an estimate, checked tensor sizes, exceptions carried out of OpenMP regions, the lightning tile longer
// than the sequence, the finite-loss guard, training.threads and stop requests between micro-batches.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <new>
#include <string>

#include "core/error.h"
#include "core/host.h"
#include "core/parallel.h"
#include "core/stop.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "kernels/cpu/lightning_attention.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "trainers/memory_estimate.h"
#include "trainers/session.h"

using lat::Recipe;
using lat::testing::error_of;
using lat::testing::TempDir;

namespace {

Recipe tiny_recipe(const TempDir& dir, const std::vector<std::string>& overrides = {}) {
  const std::string corpus = dir.write("corpus.txt", lat::testing::tiny_corpus());
  std::vector<std::string> all{"data.path=" + corpus};
  all.insert(all.end(), overrides.begin(), overrides.end());
  return Recipe::from_string(lat::testing::kTinyRecipe, "tiny.toml", all);
}

}  // namespace

TEST_CASE("limits: the memory estimate counts the parameters the model really has") {
  TempDir dir("limits_estimate");
  for (const std::vector<std::string>& o : {std::vector<std::string>{},
                                            {"model.tie_embeddings=false"},
                                            {"attention.gate=true", "model.layers=3"},
                                            {"model.mlp=false"},
                                            {"attention.heads=4", "attention.feature_map=cosine"}}) {
    const Recipe r = tiny_recipe(dir, o);
    lat::trainers::TrainingSession session(r, lat::Device::cpu());
    const double real = static_cast<double>(session.model().parameter_count());
    const lat::trainers::MemoryEstimate e =
        lat::trainers::estimate_training_memory(r, session.model().config().vocab_size, lat::Device::cpu());
    CAPTURE(real);
    CHECK(e.parameters == doctest::Approx(real).epsilon(0.01));
    CHECK(e.state_bytes >= 16 * real);
    CHECK(e.activation_bytes > 0);
  }
}

TEST_CASE(
    "limits: a run that cannot fit is refused before allocating, with the estimate and the machine's "
    "memory") {
  TempDir dir("limits_refuse");
  const Recipe r = tiny_recipe(dir, {"model.d_model=1048576", "attention.heads=2"});
  const std::string e = error_of([&] { lat::trainers::TrainingSession s(r, lat::Device::cpu()); });
  CAPTURE(e);
  CHECK(e.find("model.d_model: this run needs about") != std::string::npos);
  CHECK(e.find("TB of host memory") != std::string::npos);
  CHECK(e.find("this machine has " + lat::format_bytes(lat::host_memory_bytes())) != std::string::npos);
  // The largest accepted sizes do not overflow the estimate.
  const Recipe huge =
      tiny_recipe(dir, {"model.d_model=2147483646", "model.layers=2147483647", "attention.heads=2",
                        "model.mlp_hidden=2147483647", "training.batch_size=2147483647"});
  const auto est = lat::trainers::estimate_training_memory(huge, 258, lat::Device::cpu());
  CHECK(std::isfinite(est.total()));
  CHECK(est.total() > 1e30);
}

TEST_CASE("limits: format_bytes") {
  CHECK(lat::format_bytes(812) == "812 bytes");
  CHECK(lat::format_bytes(3.5 * 1024 * 1024) == "3.5 MiB");
  CHECK(lat::format_bytes(23.0 * 1024 * 1024 * 1024) == "23 GiB");
  CHECK(lat::format_bytes(3.2e12) == "3.2 TB");
  CHECK(lat::format_bytes(4.5e18) == "4.5 EB");
  CHECK(lat::format_bytes(1.2e25) == "1.2e+25 bytes");
}

TEST_CASE("limits: a tensor whose size in bytes overflows is refused, not allocated short") {
  const int64_t big = int64_t{1} << 40;
  const std::string e = error_of([&] { (void)lat::Tensor::empty(lat::Shape{big, big}, lat::DType::F32); });
  CHECK(e.find("[1099511627776, 1099511627776]") != std::string::npos);
  CHECK(e.find("exceeds 2^62") != std::string::npos);
}

TEST_CASE("limits: an exception thrown inside an OpenMP region comes out of it as itself") {
  lat::ParallelErrors errors;
  int ran = 0;
#pragma omp parallel for reduction(+ : ran)
  for (int i = 0; i < 64; ++i)
    errors.run([&] {
      ++ran;
      if (i == 37) throw std::bad_alloc();
    });
  CHECK(ran == 64);  // the other iterations still ran
  CHECK_THROWS_AS(errors.rethrow(), std::bad_alloc);
  lat::ParallelErrors none;
  CHECK_NOTHROW(none.rethrow());
}

TEST_CASE(
    "limits: a lightning tile longer than the sequence computes what a tile of the whole sequence does") {
  const int64_t B = 1, H = 2, N = 5, m = 3, e = 4;
  std::vector<double> q(B * H * N * m), k(q.size()), v(B * H * N * e), decay{-0.1, -0.3};
  for (size_t i = 0; i < q.size(); ++i)
    q[i] = 0.1 * static_cast<double>(i % 7) - 0.2, k[i] = 0.05 * static_cast<double>(i % 5);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.3 - 0.07 * static_cast<double>(i % 9);
  std::vector<double> out_n(v.size()), out_huge(v.size()), state_n(B * H * m * e), state_huge(state_n.size());
  lat::kernels::cpu::lightning_attention_forward<double>(q.data(), k.data(), v.data(), decay.data(), nullptr,
                                                         out_n.data(), state_n.data(), B, H, N, m, e, N);
  // 10^11 rows of tile: a decay table of that length would be 800 GB (the bad_alloc of the issue).
  lat::kernels::cpu::lightning_attention_forward<double>(q.data(), k.data(), v.data(), decay.data(), nullptr,
                                                         out_huge.data(), state_huge.data(), B, H, N, m, e,
                                                         100000000000);
  CHECK(out_huge == out_n);
  CHECK(state_huge == state_n);
}

TEST_CASE("limits: a diverged run stops after training.max_skipped_steps, naming the step and optimizer.lr") {
  TempDir dir("limits_nan");
  // The step guard skips non-finite steps (tests/trainers/test_step_guard.cpp); the run stops once
  // training.max_skipped_steps of them come in a row, with a hint at the learning rate.
  const Recipe r = tiny_recipe(dir, {"optimizer.lr=1e30", "optimizer.grad_clip=0", "training.max_skipped_steps=2"});
  const std::string e = error_of([&] { lat::testing::train(r, dir / "run"); });
  CAPTURE(e);
  CHECK(e.rfind("--set training.max_skipped_steps=2: training.max_skipped_steps: 2 steps in a row were skipped, the "
                "last at step ",
                0) == 0);
  CHECK(e.find("non-finite") != std::string::npos);
  CHECK(e.find("try a lower optimizer.lr than 1e+30") != std::string::npos);
}

TEST_CASE("limits: training.threads sets the CPU kernels' OpenMP threads, 0 keeps the default") {
  TempDir dir("limits_threads");
  const int before = lat::cpu_threads();
  {
    lat::trainers::TrainingSession s(tiny_recipe(dir, {"training.threads=1"}), lat::Device::cpu());
    CHECK(lat::cpu_threads() == 1);
  }
  lat::set_cpu_threads(before);
  {
    lat::trainers::TrainingSession s(tiny_recipe(dir, {"training.threads=0"}), lat::Device::cpu());
    CHECK(lat::cpu_threads() == before);
  }
}

TEST_CASE("limits: a stop request between micro-batches abandons the step and rewinds the loader") {
  TempDir dir("limits_stop");
  lat::trainers::TrainingSession session(tiny_recipe(dir, {"training.grad_accum=4"}), lat::Device::cpu());
  const auto start = session.loader().position().to_array();
  lat::request_stop();
  const auto r = session.step(0);
  lat::clear_stop_request();
  CHECK(r.abandoned);
  CHECK(session.loader().position().to_array() == start);
  CHECK(session.optimizer().state().step == 0);
  const auto full = session.step(0);
  CHECK_FALSE(full.abandoned);
  CHECK(full.micro_losses.size() == 4);
}
