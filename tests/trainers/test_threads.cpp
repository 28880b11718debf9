// The CPU thread count (core/threads.h): training gives the same bits for any number of OpenMP threads, which
// is what lets the thread count follow the machine's load; and the load-following decision itself.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/random.h"
#include "core/threads.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "trainers/session.h"

using lat::LoadFollowingThreads;
using lat::Recipe;
using lat::testing::TempDir;

namespace {

struct Trajectory {
  std::vector<double> losses, grad_norms;
  std::vector<std::vector<float>> params;
};

// Six steps of a model large enough that every CPU kernel's parallel branch runs (the tiny recipe's sizes stay
// under several kernels' serial thresholds), with `threads` OpenMP threads.
Trajectory train_with_threads(const TempDir& dir, const std::string& variant, int threads) {
  const std::string corpus = dir.write("corpus.txt", lat::testing::tiny_corpus());
  std::vector<std::string> overrides{"data.path=" + corpus, "training.threads=" + std::to_string(threads),
                                     "model.d_model=64", "model.mlp_hidden=128", "attention.heads=2",
                                     "training.seq_len=128", "training.batch_size=8", "attention.block=32",
                                     "data.val_fraction=0"};
  if (variant == "softmax") {
    overrides.push_back("attention.kind=softmax");
  } else if (variant == "lightning") {
    for (const char* o : {"attention.feature_map=identity", "attention.normalize=rmsnorm", "attention.decay=alibi"})
      overrides.push_back(o);
  } else {
    overrides.push_back("attention.feature_map=" + variant);
  }
  const Recipe recipe = Recipe::from_string(lat::testing::kTinyRecipe, "tiny.toml", overrides);
  lat::trainers::TrainingSession session(recipe, lat::Device::cpu());
  Trajectory t;
  for (int64_t step = 0; step < 6; ++step) {
    const auto r = session.step(step);
    t.losses.push_back(r.loss());
    t.grad_norms.push_back(r.grad_norm());
  }
  for (const auto& p : session.parameters()) {
    const lat::Tensor cpu = p.variable.data().to(lat::Device::cpu()).contiguous();
    const float* data = cpu.data<float>();
    t.params.emplace_back(data, data + cpu.numel());
  }
  return t;
}

}  // namespace

TEST_CASE("threads: training gives identical bits with 1, 2 and 3 OpenMP threads, for every attention variant") {
  TempDir dir("threads_bits");
  const int saved = lat::cpu_threads();
  for (const std::string variant : {"elu1", "lightning", "cosine", "random", "softmax"}) {
    CAPTURE(variant);
    const Trajectory one = train_with_threads(dir, variant, 1);
    for (int threads : {2, 3}) {
      CAPTURE(threads);
      const Trajectory many = train_with_threads(dir, variant, threads);
      CHECK(many.losses == one.losses);
      CHECK(many.grad_norms == one.grad_norms);
      CHECK(many.params == one.params);
    }
  }
  lat::set_cpu_threads(saved);
}

TEST_CASE("threads: the CPU reductions give the same bits for 1, 2 and 3 threads") {
  // 300,000 terms: well above the size where the reductions go parallel, and not a multiple of their chunk.
  lat::Tensor x = lat::Tensor::empty({300001}, lat::DType::F64);  // f64: float rounding would hide differences
  lat::fill_normal(x, 11, 0);
  const int saved = lat::cpu_threads();
  std::vector<double> sums;
  std::vector<double> squares;
  for (int threads : {1, 2, 3}) {
    lat::set_cpu_threads(threads);
    lat::Tensor out = lat::Tensor::empty({}, lat::DType::F64);
    lat::kernels::sum(x, out);
    sums.push_back(out.data<double>()[0]);
    squares.push_back(lat::kernels::sum_of_squares(x));
  }
  lat::set_cpu_threads(saved);
  CHECK(sums[1] == sums[0]);
  CHECK(sums[2] == sums[0]);
  CHECK(squares[1] == squares[0]);
  CHECK(squares[2] == squares[0]);
}

TEST_CASE("threads: the load-following count is the cores other processes leave free, between 1 and the ceiling") {
  // Two cores, one busy neighbour: it gets about 2/3 of a core while we run two threads, a whole one while we
  // run one; either way one thread is the choice.
  CHECK(LoadFollowingThreads::threads_for(2, 0.67, 2) == 1);
  CHECK(LoadFollowingThreads::threads_for(2, 1.0, 2) == 1);
  CHECK(LoadFollowingThreads::threads_for(2, 0.05, 2) == 2);  // idle but for noise
  CHECK(LoadFollowingThreads::threads_for(2, 0.4, 2) == 2);   // a neighbour that mostly sleeps
  CHECK(LoadFollowingThreads::threads_for(2, 5.0, 2) == 1);   // never fewer than one
  CHECK(LoadFollowingThreads::threads_for(2, -0.3, 2) == 2);  // counter noise below zero
  CHECK(LoadFollowingThreads::threads_for(16, 4.2, 8) == 8);  // never more than the ceiling
  CHECK(LoadFollowingThreads::threads_for(16, 10.4, 16) == 6);
}

TEST_CASE("threads: the load-following count starts at the ceiling and goes back to it when it ends") {
  const int saved = lat::cpu_threads();
  lat::set_cpu_threads(1);
  {
    LoadFollowingThreads follow(3, /*interval_s=*/1e9);  // never re-decides within the test
    CHECK(lat::cpu_threads() == 3);
    CHECK(follow.update() == 3);
    lat::set_cpu_threads(2);
  }
  CHECK(lat::cpu_threads() == 3);
  lat::set_cpu_threads(saved);
}
