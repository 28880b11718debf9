// Checkpoints: one HDF5 file per checkpoint, readable by h5py, MATLAB, Julia and h5dump
// (docs/checkpoints.md).
//
//   /                       attribute lat_checkpoint_version = 1, attribute recipe (resolved TOML text)
//   /model/<name as groups>  fp32 parameters: "layers.3.mlp.w_up" -> /model/layers/3/mlp/w_up
//   /optim                   attribute step; /optim/m/<tree>, /optim/v/<tree> (AdamW moments, fp32)
//   /state                   attributes step, tokens_seen, world_size; dataset loader_positions int64
//                            [ranks, k]; group rng_offsets (one uint64 attribute per stream);
//                            group random_features/<tree> (fp32 feature draws)
//   /metrics                 datasets step int64, loss f64, val_loss f64 (NaN where not evaluated)
//
// Writing goes to "<path>.tmp", is flushed and fsync'ed, then renamed over <path>: a crash never leaves a
// half-written file under a real name. Reading never modifies the file and refuses anything that is not a
// complete lat checkpoint with a lat::Error naming the file and the problem. Tensors cross this API on the
// CPU (the caller moves GPU tensors to the host); HDF5 stays inside checkpoint.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lat {

constexpr int64_t kCheckpointVersion = 1;

struct MetricsHistory {
  std::vector<int64_t> step;
  std::vector<double> loss;
  std::vector<double> val_loss;                  // NaN where the step had no validation
  bool operator==(const MetricsHistory&) const;  // NaN == NaN here
};

struct Checkpoint {
  // Dotted parameter name (the nn::Module registry's) -> fp32 CPU tensor. Other floating dtypes and
  // devices are converted on write; reads give contiguous fp32 CPU tensors.
  std::map<std::string, Tensor> model;
  // AdamW moments under the same names as `model` (empty maps: no optimizer state, as in an export).
  std::map<std::string, Tensor> optim_m, optim_v;
  int64_t optim_step = 0;  // AdamW's bias-correction step

  int64_t step = 0;
  int64_t tokens_seen = 0;
  int64_t world_size = 1;
  std::map<std::string, uint64_t> rng_offsets;         // Philox stream name -> offset
  std::vector<std::vector<int64_t>> loader_positions;  // [rank][k]: every rank's loader state, same k
  std::map<std::string, Tensor> random_features;       // name -> fp32 draws (random-feature attention)

  std::string recipe;  // the resolved recipe (Recipe::to_toml())
  MetricsHistory metrics;
};

// Writes `ckpt` to `path` atomically (path.tmp, flush, fsync, rename). Throws lat::Error naming the file.
void write_checkpoint(const Checkpoint& ckpt, const std::string& path);

// Reads and validates a checkpoint. A missing, truncated, foreign (no lat_checkpoint_version attribute) or
// damaged file -> lat::Error "checkpoint '<path>': <what is wrong>". The file is opened read-only.
Checkpoint read_checkpoint(const std::string& path);

// "<dir>/step_00000100.h5"
std::string checkpoint_path(const std::string& dir, int64_t step);

// Creates `dir` if needed, writes checkpoint_path(dir, ckpt.step), then (only once that file is complete)
// deletes the oldest step_*.h5 in `dir` beyond the newest `keep_last` (0: keep all; the file just written
// is never deleted). Returns the path written.
std::string save_checkpoint(const Checkpoint& ckpt, const std::string& dir, int64_t keep_last);

// The step_*.h5 files in `dir`, newest (highest step) first. Empty when `dir` does not exist.
std::vector<std::string> list_checkpoints(const std::string& dir);

// The newest checkpoint in `dir` that reads and validates completely (for `--resume auto`); broken ones
// are skipped with a warning naming them and why. std::nullopt when there is none.
std::optional<std::string> latest_valid_checkpoint(const std::string& dir);

// Writes an analysis file (for lat-export): the /model tree (fp32, each dataset with a `shape` attribute),
// /metrics, root attributes lat_export_version = 1, step, tokens_seen, recipe, and a /config group with
// one attribute per recipe key ("model.d_model" = 128, ...). No optimizer or training state.
void export_analysis(const Checkpoint& ckpt, const std::string& out_path);

}  // namespace lat
