// The report's SVG plots, each drawn from the Analysis with the svg module: one colour per variant
// throughout, one panel per combination of the extra axes where a plot has several.
#include "study/report_plots.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "study/svg.h"

namespace lat::study {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const char* kWidthAxis = "model.d_model";

const std::string& variant_color(const Analysis& a, const std::string& variant) {
  const auto it = std::find(a.variants.begin(), a.variants.end(), variant);
  return svg::color(static_cast<size_t>(it - a.variants.begin()));
}

std::string panel_title(const Axes& combo) {
  return combo.empty() ? "all runs" : axes_label(combo);
}

int columns_for(size_t panels) {
  return panels <= 1 ? 1 : panels <= 4 ? 2 : 3;
}

// Mean, min and max over seeds of a per-step quantity, on the union of the seeds' steps.
struct Aggregate {
  std::vector<double> x, mean, low, high;
};
template <class XFn, class YFn>
Aggregate aggregate_curves(const std::vector<const RunRecord*>& runs, XFn x_of, YFn y_of) {
  std::map<int64_t, std::vector<std::pair<double, double>>> by_step;  // step -> (x, y) per seed
  for (const RunRecord* r : runs)
    for (const CurvePoint& p : r->curve) {
      const std::optional<double> y = y_of(p);
      if (y && std::isfinite(*y)) by_step[p.step].emplace_back(x_of(*r, p), *y);
    }
  Aggregate g;
  for (const auto& [step, points] : by_step) {
    double xs = 0, ys = 0, lo = points.front().second, hi = lo;
    for (const auto& [x, y] : points) {
      xs += x;
      ys += y;
      lo = std::min(lo, y);
      hi = std::max(hi, y);
    }
    const double n = static_cast<double>(points.size());
    g.x.push_back(xs / n);
    g.mean.push_back(ys / n);
    g.low.push_back(lo);
    g.high.push_back(hi);
  }
  return g;
}

double tokens_at(const RunRecord& r, const CurvePoint& p) {
  return r.steps > 0
             ? static_cast<double>(p.step) * static_cast<double>(r.tokens) / static_cast<double>(r.steps)
             : static_cast<double>(p.step);
}

svg::Figure loss_figure(const Analysis& a, bool by_seconds) {
  svg::Figure f;
  f.title = std::string("Training loss vs ") + (by_seconds ? "wall-clock seconds" : "tokens") +
            " at each variant's best lr";
  for (const Axes& combo : a.combos) {
    svg::Panel p;
    p.title = panel_title(combo);
    p.x_label = by_seconds ? "elapsed seconds (cumulative over resumes)" : "tokens";
    p.y_label = "loss (nats/token)";
    p.notes = {"line: mean training loss over seeds, band: min–max; dots: validation loss (mean)"};
    for (const Cell& c : a.cells) {
      if (c.axes != combo || c.best_runs.empty()) continue;
      auto x_of = [&](const RunRecord& r, const CurvePoint& q) {
        return by_seconds ? q.elapsed_s : tokens_at(r, q);
      };
      const Aggregate train = aggregate_curves(
          c.best_runs, x_of, [](const CurvePoint& q) { return std::optional<double>(q.loss); });
      const Aggregate val =
          aggregate_curves(c.best_runs, x_of, [](const CurvePoint& q) { return q.val_loss; });
      svg::Series s;
      s.label = c.variant;
      s.color = variant_color(a, c.variant);
      s.x = train.x;
      s.y = train.mean;
      s.band_low = train.low;
      s.band_high = train.high;
      p.series.push_back(s);
      if (!val.x.empty()) {
        svg::Series v;
        v.label = c.variant;
        v.color = s.color;
        v.x = val.x;
        v.y = val.mean;
        v.line = false;
        v.markers = true;
        p.series.push_back(v);
      }
    }
    f.panels.push_back(p);
  }
  f.columns = columns_for(f.panels.size());
  return f;
}

svg::Figure lr_figure(const Analysis& a) {
  svg::Figure f;
  f.title = "Validation " + a.metric.name + " vs learning rate (mean ± std over seeds)";
  for (const Axes& combo : a.combos) {
    svg::Panel p;
    p.title = panel_title(combo);
    p.x_label = "learning rate";
    p.y_label = "validation " + a.metric.name;
    p.log_x = true;
    std::set<double> lrs;
    for (const Cell& c : a.cells) {
      if (c.axes != combo) continue;
      svg::Series s;
      s.label = c.variant;
      s.color = variant_color(a, c.variant);
      s.markers = true;
      for (const LrRow& row : c.lrs) {
        if (row.val.n == 0) continue;
        lrs.insert(row.lr);
        s.x.push_back(row.lr);
        s.y.push_back(row.val.mean);
        s.y_err_low.push_back(row.val.std ? row.val.mean - *row.val.std : kNaN);
        s.y_err_high.push_back(row.val.std ? row.val.mean + *row.val.std : kNaN);
      }
      p.series.push_back(s);
    }
    p.x_ticks.assign(lrs.begin(), lrs.end());
    f.panels.push_back(p);
  }
  f.columns = columns_for(f.panels.size());
  return f;
}

svg::Figure position_figure(const Analysis& a) {
  svg::Figure f;
  f.title = "Loss by position at each variant's best lr (mean over seeds)";
  for (const Axes& combo : a.combos) {
    std::set<int64_t> lengths;
    int64_t train_context = 0;
    for (const Cell& c : a.cells)
      if (c.axes == combo)
        for (const RunRecord* r : c.best_runs) {
          for (const PositionProfile& prof : r->positions) lengths.insert(prof.length);
          if (!r->positions.empty()) train_context = r->positions.front().length;
        }
    for (int64_t length : lengths) {
      svg::Panel p;
      p.title = (combo.empty() ? "" : axes_label(combo) + ", ") + "length " + std::to_string(length);
      p.x_label = "position (bucket midpoint)";
      p.y_label = "loss (nats/token)";
      p.log_x = true;
      if (train_context > 0) p.x_markers.emplace_back(static_cast<double>(train_context), "train context");
      for (const Cell& c : a.cells) {
        if (c.axes != combo) continue;
        std::map<std::pair<int64_t, int64_t>, std::vector<double>> buckets;
        std::string unavailable;
        for (const RunRecord* r : c.best_runs)
          for (const PositionProfile& prof : r->positions) {
            if (prof.length != length) continue;
            if (!prof.available)
              unavailable = prof.reason.empty() ? "not available" : prof.reason;
            else
              for (const PositionBucket& b : prof.buckets) buckets[{b.begin, b.end}].push_back(b.loss);
          }
        if (!unavailable.empty() && buckets.empty()) {
          p.notes.push_back(c.variant + " not drawn: " + unavailable);
          continue;
        }
        svg::Series s;
        s.label = c.variant;
        s.color = variant_color(a, c.variant);
        s.markers = true;
        for (const auto& [range, losses] : buckets) {
          s.x.push_back(0.5 * static_cast<double>(range.first + range.second));
          s.y.push_back(mean(losses));
        }
        if (!s.x.empty()) p.series.push_back(s);
      }
      f.panels.push_back(p);
    }
  }
  // One row per combination, one column per evaluated length.
  size_t lengths = 1;
  for (const Cell& c : a.cells)
    for (const RunRecord* r : c.best_runs) lengths = std::max(lengths, r->positions.size());
  f.columns = static_cast<int>(std::min<size_t>(4, lengths));
  return f;
}

svg::Figure width_figure(const Analysis& a) {
  svg::Figure f;
  f.title = "Test " + a.metric.name + " vs model width at each variant's best lr (mean, 95 % CI)";
  std::vector<Axes> rest_combos;
  for (const Axes& combo : a.combos) {
    Axes rest = combo;
    rest.erase(kWidthAxis);
    if (std::find(rest_combos.begin(), rest_combos.end(), rest) == rest_combos.end())
      rest_combos.push_back(rest);
  }
  std::sort(rest_combos.begin(), rest_combos.end(), axes_less);
  for (const Axes& rest : rest_combos) {
    svg::Panel p;
    p.title = panel_title(rest);
    p.x_label = "d_model";
    p.y_label = "test " + a.metric.name;
    p.log_x = true;
    std::set<double> widths;
    for (const std::string& variant : a.variants) {
      svg::Series s;
      s.label = variant;
      s.color = variant_color(a, variant);
      s.markers = true;
      std::vector<const Cell*> cells;
      for (const Cell& c : a.cells) {
        Axes c_rest = c.axes;
        c_rest.erase(kWidthAxis);
        if (c.variant == variant && c_rest == rest && c.test.n > 0 && c.axes.count(kWidthAxis))
          cells.push_back(&c);
      }
      std::sort(cells.begin(), cells.end(), [](const Cell* x, const Cell* y) {
        return axis_value_less(x->axes.at(kWidthAxis), y->axes.at(kWidthAxis));
      });
      for (const Cell* c : cells) {
        const double w = std::strtod(c->axes.at(kWidthAxis).c_str(), nullptr);
        widths.insert(w);
        s.x.push_back(w);
        s.y.push_back(c->test.mean);
        s.y_err_low.push_back(c->test.has_ci() ? *c->test.ci_low : kNaN);
        s.y_err_high.push_back(c->test.has_ci() ? *c->test.ci_high : kNaN);
      }
      if (!s.x.empty()) p.series.push_back(s);
    }
    p.x_ticks.assign(widths.begin(), widths.end());
    f.panels.push_back(p);
  }
  f.columns = columns_for(f.panels.size());
  return f;
}

svg::Figure forest_figure(const Analysis& a) {
  svg::Figure f;
  f.title = "Paired test " + a.metric.name + " difference from " +
            (a.baseline.empty() ? "the baseline" : a.baseline) + " (mean, 95 % CI)";
  svg::Panel p;
  p.title = a.metric.higher_is_better ? "right of 0: better than the baseline"
                                      : "left of 0: better than the baseline";
  p.x_label = "test " + a.metric.name + ": variant − " + (a.baseline.empty() ? "baseline" : a.baseline);
  p.x_markers.emplace_back(0.0, "");
  p.x_include.push_back(0);
  if (a.baseline.empty()) p.notes.push_back("no baseline variant among the runs: no differences");
  for (const Cell& c : a.cells) {
    if (!c.difference) continue;
    const Summary& d = c.difference->summary;
    const double row = static_cast<double>(p.y_categories.size());
    std::string label = c.variant + (c.axes.empty() ? "" : " | " + axes_label(c.axes));
    if (d.n < 2) label += " (n/a: " + std::to_string(d.n) + " pair" + (d.n == 1 ? ")" : "s)");
    p.y_categories.push_back(label);
    if (d.n == 0) continue;
    svg::Series s;
    s.label = c.variant;
    s.color = variant_color(a, c.variant);
    s.line = false;
    s.markers = true;
    s.x = {d.mean};
    s.y = {row};
    if (d.has_ci()) {
      s.x_err_low = {*d.ci_low};
      s.x_err_high = {*d.ci_high};
    }
    p.series.push_back(s);
  }
  if (p.y_categories.empty()) p.notes.push_back("no paired differences to show");
  f.columns = 1;
  f.panel_width = 760;
  f.panel_height = 110 + 28 * static_cast<double>(std::max<size_t>(2, p.y_categories.size())) +
                   15 * static_cast<double>(p.notes.size());
  f.panels.push_back(p);
  return f;
}

}  // namespace

std::vector<std::string> write_report_plots(const Analysis& a, const std::string& plots_dir) {
  std::vector<std::pair<std::string, svg::Figure>> figures;
  figures.emplace_back("loss_vs_tokens.svg", loss_figure(a, false));
  figures.emplace_back("loss_vs_seconds.svg", loss_figure(a, true));
  figures.emplace_back("lr_curves.svg", lr_figure(a));
  figures.emplace_back("per_position.svg", position_figure(a));
  if (std::find(a.axis_names.begin(), a.axis_names.end(), kWidthAxis) != a.axis_names.end())
    figures.emplace_back("accuracy_vs_width.svg", width_figure(a));
  figures.emplace_back("forest.svg", forest_figure(a));
  std::vector<std::string> names;
  for (const auto& [name, figure] : figures) {
    svg::write(figure, (std::filesystem::path(plots_dir) / name).string());
    names.push_back(name);
  }
  return names;
}

}  // namespace lat::study
