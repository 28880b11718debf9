// The study's analysis, shared by the report's text (report.cpp) and its plots (report_plots.cpp): the
// metric, the cells (variant × values of the extra axes), each cell's learning-rate table, the lr chosen on
// the validation split, the test figures at that lr, and the paired differences from the baseline variant.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "study/run_record.h"
#include "study/stats.h"

namespace lat::study {

// The metric a study is judged by, read from a split's figures.
struct Metric {
  std::string name;  // "accuracy", "bits_per_byte" or "loss"
  bool higher_is_better = false;
  std::optional<double> of(const SplitScore& s) const;
};
// accuracy when any finished run has a test accuracy; else bits_per_byte when any is byte-level; else loss.
// A non-empty `name` forces that metric (an unknown name throws).
Metric choose_metric(const std::vector<RunRecord>& runs, const std::string& name);

using Axes = std::map<std::string, std::string>;  // extra axis -> value

// Orders axis values numerically where both read as numbers ("64" < "128"), else as text.
bool axis_value_less(const std::string& a, const std::string& b);
bool axes_less(const Axes& a, const Axes& b);
std::string axes_label(const Axes& axes);  // "data.num_kv_pairs=8, model.d_model=64" ("" for none)

struct LrRow {
  double lr = 0;
  std::map<int64_t, double> val_by_seed;  // validation metric of each finished seed
  Summary val;
};

struct Cell {
  std::string variant;
  Axes axes;
  std::vector<LrRow> lrs;         // ascending lr
  std::optional<double> best_lr;  // by the mean validation metric over seeds (absent: no finished run)
  std::vector<const RunRecord*> best_runs;  // the finished runs at best_lr, by seed
  std::map<int64_t, double> test_by_seed;
  Summary test;
  std::optional<PairedDifference> difference;  // test(this) - test(baseline), same axes and seed
};

struct Analysis {
  Metric metric;
  std::string baseline;               // "" when there is none among the runs
  std::vector<std::string> variants;  // in report order
  std::vector<std::string> axis_names;
  std::vector<Axes> combos;  // the extra-axis combinations, ordered by axes_less
  std::vector<Cell> cells;   // combo-major, then variants in order
  struct Missing {
    std::string dir, reason;
  };
  std::vector<Missing> missing;  // runs excluded from the statistics
};

// `variant_order` puts those variants first (the others follow alphabetically); `baseline` names the variant
// others are compared with ("" or absent: no differences). Runs must outlive the Analysis (cells point at
// them).
Analysis analyse(const std::vector<RunRecord>& runs, const std::string& metric_name,
                 const std::string& baseline, const std::vector<std::string>& variant_order);

// The verdict on a paired difference: "n/a" (fewer than 2 pairs), "not resolved" (the 95 % CI holds 0) or
// "resolved".
std::string verdict(const PairedDifference& d);

}  // namespace lat::study
