// A study file: a base recipe plus axes, expanded into the grid of runs lat-study trains and reports.
//
//   name = "lm"
//   recipe = "../corpus/base.toml"          # the base recipe, relative to this file
//   baseline = "softmax"                    # the variant every other one is compared with (paired by seed)
//   set = ["training.steps=2000"]           # overrides applied to every run, before the variant's own
//   learning_rates = [1e-3, 3e-3]           # swept for every variant
//   seeds = [1, 2, 3]                       # training.seed of each repetition
//   eval_tokens = 65536                     # held-out tokens scored per split (at most; MQAR: every test example)
//   eval_lengths = [1, 2, 4, 8]             # per-position loss at these multiples of training.seq_len
//   [axes]                                  # any other recipe key, every value crossed with everything else
//   "model.d_model" = [64, 128, 256]
//   [[variant]]                             # one table per variant: a name and its overrides (--set syntax)
//   name = "softmax"
//   set = ["attention.kind=softmax", "attention.rope=true"]
//
// Every run's recipe is the base recipe with, in order: `set`, the variant's `set`, the axes' values,
// optimizer.lr and training.seed. Errors are one line naming the study file and the offending key, axis or
// variant; an override the recipe layer refuses is reported with its variant, because every run's recipe is
// built (and so validated) when the study is read.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "trainers/recipe.h"

namespace lat::study {

struct Variant {
  std::string name;
  std::vector<std::string> overrides;
};

struct Axis {
  std::string key;                  // a recipe key, "section.key"
  std::vector<std::string> values;  // TOML spelling ("128", "true", "\"cosine\"")
};

// One run of the grid.
struct StudyRun {
  int64_t index = 0;  // position in the grid's fixed order (sharding and ranks divide by it)
  std::string variant;
  double lr = 0;
  int64_t seed = 0;
  std::vector<std::pair<std::string, std::string>> axes;  // key -> value without TOML quotes, in axis order
  std::vector<std::string> overrides;                       // everything applied on top of the base recipe
  std::string dir;                                          // relative to the study directory
  Recipe recipe;                                            // resolved and validated
};

struct Study {
  std::string file;         // the study file as given
  std::string name;
  std::string recipe_path;  // the base recipe, resolved against the study file's folder
  std::string baseline;     // "" when the study names none
  std::vector<std::string> overrides;
  std::vector<double> learning_rates;
  std::vector<int64_t> seeds;
  int64_t eval_tokens = 65536;
  std::vector<int64_t> eval_lengths{1, 2, 4, 8};
  std::vector<Axis> axes;
  std::vector<Variant> variants;

  // Reads and validates a study file, building every run's recipe. Throws lat::Error naming the problem.
  static Study from_file(const std::string& path);
  // The grid in its fixed order: seed (slowest), the axes (in key order), lr, then variant (fastest).
  const std::vector<StudyRun>& runs() const { return runs_; }

 private:
  std::vector<StudyRun> runs_;
  void expand();
};

// The runs a process takes: those whose grid index i has i % shard_count == shard_index (--shard I/N, 0-based
// here), then of those the j-th when j % ranks == rank (ranks of an mpirun job). Deterministic in the grid.
std::vector<const StudyRun*> select_runs(const Study& study, int shard_index, int shard_count, int rank, int ranks,
                                         const std::string& only_glob = "");

// True when `text` matches the shell-style glob (`*`, `?`); used by --only on run directories and variant names.
bool glob_match(const std::string& glob, const std::string& text);

}  // namespace lat::study
