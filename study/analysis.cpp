// The study's analysis: grouping runs into cells, choosing each cell's lr on validation, summarising the test
// metric at that lr, and pairing seeds with the baseline.
#include "study/analysis.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "core/error.h"

namespace lat::study {

namespace {

std::optional<double> as_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<double> Metric::of(const SplitScore& s) const {
  if (name == "accuracy") return s.accuracy;
  if (name == "bits_per_byte") return s.bits_per_byte;
  return s.loss;
}

Metric choose_metric(const std::vector<RunRecord>& runs, const std::string& name) {
  Metric m;
  if (!name.empty()) {
    if (name != "accuracy" && name != "bits_per_byte" && name != "loss")
      LAT_THROW("unknown study metric '", name, "' (expected accuracy, bits_per_byte or loss)");
    m.name = name;
  } else {
    bool any_accuracy = false, any_byte_level = false;
    for (const RunRecord& r : runs) {
      if (!r.finished) continue;
      any_accuracy = any_accuracy || r.test.accuracy.has_value();
      any_byte_level = any_byte_level || r.byte_level;
    }
    m.name = any_accuracy ? "accuracy" : any_byte_level ? "bits_per_byte" : "loss";
  }
  m.higher_is_better = m.name == "accuracy";
  return m;
}

bool axis_value_less(const std::string& a, const std::string& b) {
  const auto na = as_number(a), nb = as_number(b);
  if (na && nb && *na != *nb) return *na < *nb;
  if (na.has_value() != nb.has_value()) return na.has_value();  // numbers before text
  return a < b;
}

bool axes_less(const Axes& a, const Axes& b) {
  auto ia = a.begin(), ib = b.begin();
  for (; ia != a.end() && ib != b.end(); ++ia, ++ib) {
    if (ia->first != ib->first) return ia->first < ib->first;
    if (ia->second != ib->second) return axis_value_less(ia->second, ib->second);
  }
  return ia == a.end() && ib != b.end();
}

std::string axes_label(const Axes& axes) {
  std::string s;
  for (const auto& [k, v] : axes) s += (s.empty() ? "" : ", ") + k + "=" + v;
  return s;
}

std::string verdict(const PairedDifference& d) {
  if (d.summary.n < 2) return "n/a";
  return d.summary.ci_excludes_zero() ? "resolved" : "not resolved";
}

Analysis analyse(const std::vector<RunRecord>& runs, const std::string& metric_name,
                 const std::string& baseline, const std::vector<std::string>& variant_order) {
  Analysis a;
  a.metric = choose_metric(runs, metric_name);

  std::set<std::string> variant_set, axis_set;
  std::vector<Axes> combos;
  for (const RunRecord& r : runs) {
    variant_set.insert(r.variant);
    for (const auto& [k, v] : r.axes) axis_set.insert(k);
    if (std::find(combos.begin(), combos.end(), r.axes) == combos.end()) combos.push_back(r.axes);
  }
  for (const std::string& v : variant_order)
    if (variant_set.count(v) && std::find(a.variants.begin(), a.variants.end(), v) == a.variants.end())
      a.variants.push_back(v);
  for (const std::string& v : variant_set)
    if (std::find(a.variants.begin(), a.variants.end(), v) == a.variants.end()) a.variants.push_back(v);
  a.axis_names.assign(axis_set.begin(), axis_set.end());
  std::sort(combos.begin(), combos.end(), axes_less);
  a.combos = combos;
  if (variant_set.count(baseline)) a.baseline = baseline;

  for (const RunRecord& r : runs) {
    if (!r.finished)
      a.missing.push_back({r.dir, "unfinished (no eval.json)"});
    else if (!a.metric.of(r.val))
      a.missing.push_back({r.dir, "eval.json has no validation " + a.metric.name});
    else if (!a.metric.of(r.test))
      a.missing.push_back({r.dir, "eval.json has no test " + a.metric.name});
  }
  auto usable = [&](const RunRecord& r) { return r.finished && a.metric.of(r.val) && a.metric.of(r.test); };

  for (const Axes& combo : a.combos) {
    for (const std::string& variant : a.variants) {
      Cell cell;
      cell.variant = variant;
      cell.axes = combo;
      std::map<double, std::vector<const RunRecord*>> by_lr;
      double best_mean = 0;
      for (const RunRecord& r : runs)
        if (r.variant == variant && r.axes == combo) by_lr[r.lr];  // every lr tried, finished or not
      if (by_lr.empty()) continue;
      for (const RunRecord& r : runs)
        if (r.variant == variant && r.axes == combo && usable(r)) by_lr[r.lr].push_back(&r);
      for (auto& [lr, lr_runs] : by_lr) {
        std::sort(lr_runs.begin(), lr_runs.end(),
                  [](const RunRecord* x, const RunRecord* y) { return x->seed < y->seed; });
        LrRow row;
        row.lr = lr;
        std::vector<double> values;
        for (const RunRecord* r : lr_runs) {
          if (row.val_by_seed.count(r->seed))
            LAT_THROW("two runs of variant ", variant, " at lr ", lr, " have seed ", r->seed, " (", r->dir,
                      ")");
          row.val_by_seed[r->seed] = *a.metric.of(r->val);
          values.push_back(*a.metric.of(r->val));
        }
        row.val = summarize(values);
        cell.lrs.push_back(row);
        if (values.empty()) continue;
        // Ties keep the smaller lr.
        const bool better = !cell.best_lr ||
                            (a.metric.higher_is_better ? row.val.mean > best_mean : row.val.mean < best_mean);
        if (better) {
          best_mean = row.val.mean;
          cell.best_lr = lr;
          cell.best_runs = lr_runs;
        }
      }
      std::vector<double> test_values;
      for (const RunRecord* r : cell.best_runs) {
        cell.test_by_seed[r->seed] = *a.metric.of(r->test);
        test_values.push_back(*a.metric.of(r->test));
      }
      cell.test = summarize(test_values);
      a.cells.push_back(std::move(cell));
    }
  }

  if (!a.baseline.empty()) {
    for (Cell& cell : a.cells) {
      if (cell.variant == a.baseline || !cell.best_lr) continue;
      for (const Cell& base : a.cells)
        if (base.variant == a.baseline && base.axes == cell.axes && base.best_lr)
          cell.difference = paired_difference(cell.test_by_seed, base.test_by_seed);
    }
  }
  return a;
}

}  // namespace lat::study
