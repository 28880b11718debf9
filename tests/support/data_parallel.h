// What the data-parallel end-to-end suites share (tests/distributed on the CPU, tests/gpu_mpi on two GPUs): lat-train
// under mpirun (or alone) on the tiny recipe, and the comparisons of the checkpoints it wrote. The including
// target defines LAT_MPIRUN and LAT_TRAIN_EXE (tests/CMakeLists.txt).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "support/shell.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "trainers/checkpoint.h"

namespace lat::testing {

// One rank without mpirun, or `ranks` under mpirun; `args` go to lat-train, `env` (NAME=value ...) to every rank.
// Every run is bounded by `timeout` so that a hang fails the test instead of the CI job.
inline ShellResult lat_train(int ranks, const std::string& args, const std::string& env = "", int timeout_s = 60) {
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  ::setenv("OMP_NUM_THREADS", "1", 1);
  std::string command = "timeout " + std::to_string(timeout_s) + " ";
  if (ranks > 0) {
    command += std::string(LAT_MPIRUN) + " -np " + std::to_string(ranks) +
               " --oversubscribe --bind-to none -x OMP_NUM_THREADS";
    for (size_t at = 0; at < env.size();) {  // -x NAME=value for each entry
      size_t end = env.find(' ', at);
      if (end == std::string::npos) end = env.size();
      if (end > at) command += " -x " + env.substr(at, end - at);
      at = end + 1;
    }
    command += " ";
  } else if (!env.empty()) {
    command = "env " + env + " " + command;
  }
  command += std::string(LAT_TRAIN_EXE) + " " + args + " --no-sample";
  ShellResult r = run_shell(command);
  MESSAGE("$ " << command << "\n  exit " << r.exit_code << " after " << r.seconds << " s");
  return r;
}

inline std::string common_args(const TempDir& dir, const std::string& run, int batch_size) {
  return dir / "tiny.toml" + " --run-dir " + dir / run + " --set training.batch_size=" + std::to_string(batch_size);
}

inline void write_inputs(const TempDir& dir) {
  const std::string data = dir.write("corpus.txt", tiny_corpus());
  // The data path goes into the recipe text: every rank reads the same file.
  std::string recipe = kTinyRecipe;
  recipe.replace(recipe.find("[data]\n"), 7, "[data]\npath = \"" + data + "\"\n");
  dir.write("tiny.toml", recipe);
}

inline Checkpoint checkpoint(const TempDir& dir, const std::string& run, int64_t step) {
  return read_checkpoint(checkpoint_path(dir / (run + "/checkpoints"), step));
}

inline double relative(double a, double b) { return std::abs(a - b) / std::max(std::abs(a), std::abs(b)); }

// Two ways to compare tensors: the norm-wise relative difference ||a - b||_2 / ||a||_2 (the acceptance
// measure), and the largest |a_i - b_i| relative to the tensor's largest |a_i| (reported: Adam's m / sqrt(v)
// amplifies rounding differences in elements whose gradient nearly cancels over steps).
struct TensorDiff {
  double norm_relative = 0, max_relative = 0;
};
inline TensorDiff tensor_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<float>(), y = b.to_vector<float>();
  REQUIRE(x.size() == y.size());
  double diff2 = 0, norm2 = 0, diff_max = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
    diff2 += d * d;
    norm2 += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    diff_max = std::max(diff_max, std::abs(d));
    scale = std::max(scale, std::abs(static_cast<double>(x[i])));
  }
  return {norm2 > 0 ? std::sqrt(diff2 / norm2) : std::sqrt(diff2), scale > 0 ? diff_max / scale : diff_max};
}

// The grad_norm column of a metrics.jsonl, in row order.
inline std::vector<double> grad_norms(const std::string& metrics_path) {
  std::ifstream in(metrics_path);
  REQUIRE_MESSAGE(in.good(), "cannot read ", metrics_path);
  std::vector<double> norms;
  const std::string tag = "\"grad_norm\": ";
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find(tag);
    REQUIRE_MESSAGE(at != std::string::npos, "no grad_norm in ", line);
    norms.push_back(std::stod(line.substr(at + tag.size())));
  }
  return norms;
}

}  // namespace lat::testing
