// write_report: the analysis of the runs as report.md and report.json, then the plots (report_plots.cpp).
#include "study/report.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "study/analysis.h"
#include "core/json.h"
#include "study/report_plots.h"

namespace lat::study {

namespace {

std::string fixed(double v, int decimals = 4) {
  if (!std::isfinite(v)) return "—";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string general(double v) {
  if (!std::isfinite(v)) return "—";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

Json optional_json(const std::optional<double>& v) {
  return v ? Json(*v) : Json();
}

Json seeds_json(const std::map<int64_t, double>& by_seed) {
  Json seeds = Json::array();
  for (const auto& [seed, v] : by_seed) seeds.push_back(seed);
  return seeds;
}

Json summary_json(const Summary& s) {
  Json j = Json::object();
  j.set("n", s.n);
  j.set("mean", s.n > 0 ? Json(s.mean) : Json());
  j.set("std", optional_json(s.std));
  if (s.has_ci()) {
    Json ci = Json::array();
    ci.push_back(*s.ci_low);
    ci.push_back(*s.ci_high);
    j.set("ci95", ci);
  } else {
    j.set("ci95", Json());
  }
  return j;
}

Json axes_json(const Axes& axes) {
  Json j = Json::object();
  for (const auto& [k, v] : axes) j.set(k, v);
  return j;
}

// "elu1 better" / "softmax better" for a resolved difference (variant - baseline).
std::string better_of(const Cell& cell, const Analysis& a) {
  const bool variant_higher = cell.difference->summary.mean > 0;
  return variant_higher == a.metric.higher_is_better ? cell.variant : a.baseline;
}

std::string mean_std(const Summary& s, int decimals = 4) {
  if (s.n == 0) return "—";
  return fixed(s.mean, decimals) + (s.std ? " ± " + fixed(*s.std, decimals) : "");
}

std::string ci_text(const Summary& s, int decimals = 4) {
  if (s.n == 0) return "—";
  if (!s.has_ci()) return "no CI (n = 1)";
  std::string text = "[";
  text.append(fixed(*s.ci_low, decimals)).append(", ").append(fixed(*s.ci_high, decimals)).append("]");
  return text;
}

Summary summary_of(const std::vector<const RunRecord*>& runs, double RunRecord::*field) {
  std::vector<double> values;
  for (const RunRecord* r : runs) values.push_back(r->*field);
  return summarize(values);
}

Json results_json(const Analysis& a) {
  Json results = Json::object();
  results.set("metric", a.metric.name);
  results.set("higher_is_better", a.metric.higher_is_better);
  results.set("baseline", a.baseline.empty() ? Json() : Json(a.baseline));
  Json axes = Json::array();
  for (const std::string& name : a.axis_names) axes.push_back(name);
  results.set("axes", axes);
  Json cells = Json::array();
  for (const Cell& c : a.cells) {
    Json cell = Json::object();
    cell.set("variant", c.variant);
    cell.set("axes", axes_json(c.axes));
    cell.set("best_lr", optional_json(c.best_lr));
    Json lrs = Json::array();
    for (const LrRow& row : c.lrs) {
      Json r = Json::object();
      r.set("lr", row.lr);
      r.set("seeds", seeds_json(row.val_by_seed));
      r.set("val", summary_json(row.val));
      lrs.push_back(r);
    }
    cell.set("lr_table", lrs);
    Json test = summary_json(c.test);
    test.set("seeds", seeds_json(c.test_by_seed));
    Json values = Json::array();
    for (const auto& [seed, v] : c.test_by_seed) values.push_back(v);
    test.set("values", values);
    cell.set("test", test);
    cell.set("parameters", c.best_runs.empty() ? Json() : Json(c.best_runs.front()->parameters));
    cell.set("state_floats", c.best_runs.empty() ? Json() : Json(c.best_runs.front()->state_floats));
    if (c.difference) {
      Json d = summary_json(c.difference->summary);
      d.set("baseline", a.baseline);
      Json seeds = Json::array(), diffs = Json::array();
      for (int64_t s : c.difference->seeds) seeds.push_back(s);
      for (double v : c.difference->differences) diffs.push_back(v);
      d.set("seeds", seeds);
      d.set("values", diffs);
      d.set("verdict", verdict(*c.difference));
      d.set("better", verdict(*c.difference) == "resolved" ? Json(better_of(c, a)) : Json());
      cell.set("difference", d);
    } else {
      cell.set("difference", Json());
    }
    cells.push_back(cell);
  }
  results.set("cells", cells);
  Json missing = Json::array();
  for (const auto& m : a.missing) {
    Json j = Json::object();
    j.set("dir", m.dir);
    j.set("reason", m.reason);
    missing.push_back(j);
  }
  results.set("missing", missing);
  return results;
}

Json measured_json(const Analysis& a) {
  Json cells = Json::array();
  for (const Cell& c : a.cells) {
    Json cell = Json::object();
    cell.set("variant", c.variant);
    cell.set("axes", axes_json(c.axes));
    cell.set("tokens_per_s", summary_json(summary_of(c.best_runs, &RunRecord::tokens_per_s)));
    cell.set("wall_s", summary_json(summary_of(c.best_runs, &RunRecord::wall_s)));
    cell.set("peak_memory_mib", summary_json(summary_of(c.best_runs, &RunRecord::peak_memory_mib)));
    std::set<std::string> devices;
    for (const RunRecord* r : c.best_runs) devices.insert(r->device);
    Json d = Json::array();
    for (const std::string& s : devices) d.push_back(s);
    cell.set("devices", d);
    cells.push_back(cell);
  }
  Json measured = Json::object();
  measured.set("cells", cells);
  return measured;
}

std::string markdown(const Analysis& a, const ReportOptions& options, const std::vector<std::string>& plots) {
  const std::string& m = a.metric.name;
  std::string md = "# " + options.title + "\n\n";
  for (const std::string& line : options.preamble) md += line + "\n";
  if (!options.preamble.empty()) md += "\n";
  md += "Metric: test **" + m + "** (" + (a.metric.higher_is_better ? "higher" : "lower") +
        " is better). In each cell (variant × extra axes) the learning rate is chosen by the mean "
        "*validation* " +
        m +
        " over seeds; the test figures are at that learning rate. 95 % CI: mean ± t(0.975, n − 1)·s/√n (none "
        "for "
        "n = 1). Δ: paired difference variant − " +
        (a.baseline.empty() ? std::string("baseline (no baseline among the runs)") : a.baseline) +
        " over the seeds both have; *resolved* when its 95 % CI excludes 0.\n\n";
  for (const Axes& combo : a.combos) {
    if (!combo.empty())
      md += "## " + axes_label(combo) + "\n\n";
    else
      md += "## Results\n\n";
    md += "| variant | best lr | test " + m + " (mean ± std) | 95 % CI | n | Δ vs " +
          (a.baseline.empty() ? "baseline" : a.baseline) +
          " (mean [95 % CI]) | verdict | parameters | state floats | tokens/s | wall s | peak MiB |\n";
    md += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    std::set<double> lrs;
    for (const Cell& c : a.cells) {
      if (c.axes != combo) continue;
      for (const LrRow& row : c.lrs) lrs.insert(row.lr);
      std::string diff = "—", v = c.variant == a.baseline ? "baseline" : "—";
      if (c.difference) {
        const Summary& d = c.difference->summary;
        v = verdict(*c.difference);
        if (v == "resolved") v += ": " + better_of(c, a) + " better";
        if (v == "n/a") v += " (" + std::to_string(d.n) + " pair" + (d.n == 1 ? "" : "s") + ")";
        if (d.n > 0) {
          diff = d.mean >= 0 ? "+" : "";
          diff.append(fixed(d.mean));
          if (d.has_ci()) diff.append(" ").append(ci_text(d));
        }
      }
      md += "| " + c.variant + " | " + (c.best_lr ? general(*c.best_lr) : "—") + " | " + mean_std(c.test) +
            " | " + ci_text(c.test) + " | " + std::to_string(c.test.n) + " | " + diff + " | " + v + " | " +
            (c.best_runs.empty() ? "—" : std::to_string(c.best_runs.front()->parameters)) + " | " +
            (c.best_runs.empty() ? "—" : std::to_string(c.best_runs.front()->state_floats)) + " | " +
            fixed(summary_of(c.best_runs, &RunRecord::tokens_per_s).mean, 0) + " | " +
            fixed(summary_of(c.best_runs, &RunRecord::wall_s).mean, 1) + " | " +
            fixed(summary_of(c.best_runs, &RunRecord::peak_memory_mib).mean, 1) + " |\n";
    }
    md += "\nValidation " + m +
          " by learning rate (mean ± std over seeds, n); the chosen lr in bold:\n\n| variant |";
    for (double lr : lrs) md += " lr " + general(lr) + " |";
    md += "\n|---|";
    for (size_t i = 0; i < lrs.size(); ++i) md += "---|";
    md += "\n";
    for (const Cell& c : a.cells) {
      if (c.axes != combo) continue;
      md += "| " + c.variant + " |";
      for (double lr : lrs) {
        auto row = std::find_if(c.lrs.begin(), c.lrs.end(), [&](const LrRow& r) { return r.lr == lr; });
        std::string cell = row == c.lrs.end() ? "—"
                           : row->val.n == 0  ? "no finished run"
                                              : mean_std(row->val) + " (" + std::to_string(row->val.n) + ")";
        if (c.best_lr && *c.best_lr == lr) cell = "**" + cell + "**";
        md += " " + cell + " |";
      }
      md += "\n";
    }
    md += "\n";
  }
  md += "## Missing runs\n\n";
  if (a.missing.empty()) md += "None: every run finished and is counted.\n";
  for (const auto& miss : a.missing)
    md += "- `" + miss.dir + "`: " + miss.reason + "; excluded from the statistics\n";
  md += "\n## Plots\n\n";
  for (const std::string& p : plots) md += "![" + p + "](plots/" + p + ")\n\n";
  return md;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) LAT_THROW("cannot write '", path, "': ", std::strerror(errno));
  out << text;
  if (!out) LAT_THROW("cannot write '", path, "': ", std::strerror(errno));
}

}  // namespace

void write_report(const std::vector<RunRecord>& runs, const ReportOptions& options,
                  const std::string& study_dir) {
  Analysis a = analyse(runs, options.metric, options.baseline, options.variant_order);
  // Runs of the grid that never started have no directory: list them too, so a partial study says so.
  for (const std::string& expected : options.expected_runs)
    if (std::none_of(runs.begin(), runs.end(), [&](const RunRecord& r) { return r.dir == expected; }))
      a.missing.push_back({expected, "not run (no run directory)"});
  const std::filesystem::path dir(study_dir);
  std::filesystem::create_directories(dir / "plots");
  const std::vector<std::string> plots = write_report_plots(a, (dir / "plots").string());

  Json report = Json::object();
  report.set("title", options.title);
  Json preamble = Json::array();
  for (const std::string& line : options.preamble) preamble.push_back(line);
  report.set("preamble", preamble);
  report.set("results", results_json(a));
  report.set("measured", measured_json(a));
  write_text((dir / "report.json").string(), report.dump(2) + "\n");
  write_text((dir / "report.md").string(), markdown(a, options, plots));
}

}  // namespace lat::study
