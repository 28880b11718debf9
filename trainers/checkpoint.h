// Checkpoints: one HDF5 file per checkpoint, readable by h5py, MATLAB, Julia and h5dump
// (docs/checkpoints.md).
//
//   bytes 0-511              lat's integrity seal (an HDF5 user block; trainers/file_seal.h): size and CRC-64
//   /                        attribute lat_checkpoint_version = 2, attribute recipe (resolved TOML text),
//                            attribute tokenizer (tokenizer.json text; absent for byte-level runs)
//   /model/<name as groups>  fp32 parameters: "layers.3.mlp.w_up" -> /model/layers/3/mlp/w_up
//   /optim                   attribute step; /optim/m/<tree>, /optim/v/<tree> (AdamW moments, fp32)
//   /state                   attributes step, tokens_seen, world_size; dataset loader_positions int64
//                            [ranks, k]; group rng_offsets (one uint64 attribute per stream);
//                            group random_features/<tree> (fp32 feature draws)
//   /metrics                 datasets step int64, loss f64, val_loss f64 (NaN where not evaluated)
//
// Every dataset with values is chunked with HDF5's Fletcher32 checksum. Writing goes to "<path>.tmp", is
// closed, sealed and fsync'ed, then renamed over <path>: a crash never leaves a half-written file under a
// real name. Reading verifies the seal before HDF5 sees the file, parses it once in a forked child (a crash
// there means "damaged"), never modifies the file, and refuses anything that is not a complete, finite lat
// checkpoint with a lat::Error naming the file and the problem. Tensors cross this API on the CPU. Code by
// role: checkpoint_write.cpp, checkpoint_read.cpp, checkpoint_dir.cpp (the checkpoints/ folder),
// checkpoint_checks.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lat {

// 2: the integrity seal and Fletcher32 datasets (version 1 files had neither and are refused).
constexpr int64_t kCheckpointVersion = 2;
constexpr const char* kCheckpointVersionAttr = "lat_checkpoint_version";
constexpr const char* kExportVersionAttr = "lat_export_version";

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

  std::string recipe;     // the resolved recipe (Recipe::to_toml())
  std::string tokenizer;  // the run's BPE tokenizer as tokenizer.json text; "" for bytes (trainers/run_tokenizer.h)
  MetricsHistory metrics;
};

// Writes `ckpt` to `path` atomically (path.tmp, flush, fsync, rename). Throws lat::Error naming the file.
void write_checkpoint(const Checkpoint& ckpt, const std::string& path);

// Reads and validates a checkpoint. A missing, truncated, foreign, damaged (seal or checksum mismatch, or
// HDF5 crashed reading it in the child) or non-finite (NaN/inf weights or moments, negative v) file ->
// lat::Error "checkpoint '<path>': <what is wrong>". The file is opened read-only.
Checkpoint read_checkpoint(const std::string& path);

// "<dir>/step_00000100.h5"
std::string checkpoint_path(const std::string& dir, int64_t step);

// Creates `dir` if needed, writes checkpoint_path(dir, ckpt.step), then (only once that file is complete)
// deletes the oldest step_*.h5 in `dir` beyond the newest `keep_last` (0: keep all; the file just written
// is never deleted). Returns the path written.
std::string save_checkpoint(const Checkpoint& ckpt, const std::string& dir, int64_t keep_last);

// The step number in a checkpoint file name: "step_00000100.h5" -> 100. std::nullopt for any other name,
// including digits that do not fit an int64.
std::optional<int64_t> checkpoint_step(const std::string& filename);

// The step_*.h5 files in `dir`, newest (highest step) first. Empty when `dir` does not exist. Files whose
// name looks like a checkpoint but whose step does not parse are left out (and appended to `ignored` when
// given).
std::vector<std::string> list_checkpoints(const std::string& dir,
                                          std::vector<std::string>* ignored = nullptr);

// What `--resume auto` finds in a checkpoint folder.
struct CheckpointScan {
  std::optional<std::string> latest;  // the newest checkpoint that reads and validates completely
  std::vector<std::string>
      damaged;  // the newer ones that do not: "checkpoint '<path>': <why>" (left in place)
  std::vector<std::string> ignored;  // files named step_<digits>.h5 whose step does not fit an int64
};
// Scans `dir` newest first until a checkpoint validates. Logs nothing: the caller decides what to say.
CheckpointScan scan_checkpoints(const std::string& dir);

// Writes an analysis file (for lat-export): the /model tree (fp32, each dataset with a `shape` attribute),
// /metrics, root attributes lat_export_version = 1, step, tokens_seen, recipe, tokenizer (when the run has one),
// and a /config group with
// one attribute per recipe key ("model.d_model" = 128, ...). No optimizer or training state. Sealed like a
// checkpoint. Refuses, before writing, an `out_path` that exists and is not an earlier analysis file: a
// checkpoint (the input included) or anyone's other file.
void export_analysis(const Checkpoint& ckpt, const std::string& out_path);

}  // namespace lat
