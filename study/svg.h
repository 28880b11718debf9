// A small SVG plotting module written directly (no dependency): figures of one or more panels, each with
// axes, "nice" ticks and labels, axis titles, an optional log x axis or categorical y axis, line series with
// shaded bands, markers, vertical and horizontal error bars, vertical marker lines and notes; one legend per
// figure.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lat::study::svg {

struct Series {
  std::string label;  // legend entry; series sharing a label share one entry; "" = not in the legend
  std::string color;
  std::vector<double> x, y;                   // NaN y values break the line
  std::vector<double> band_low, band_high;    // a shaded band around the line (empty: none)
  std::vector<double> y_err_low, y_err_high;  // vertical error bars, absolute ends (empty: none)
  std::vector<double> x_err_low, x_err_high;  // horizontal error bars, absolute ends (empty: none)
  bool line = true;
  bool markers = false;
  bool dashed = false;
};

struct Panel {
  std::string title, x_label, y_label;
  bool log_x = false;
  std::vector<double> x_ticks;                            // explicit x ticks (empty: chosen automatically)
  std::vector<std::pair<double, std::string>> x_markers;  // vertical dashed lines with a label
  std::vector<double> x_include;                          // values the x range must include (e.g. 0)
  std::vector<std::string> y_categories;  // non-empty: a categorical y axis, row i at y = i, listed top down
  std::vector<Series> series;
  std::vector<std::string> notes;  // lines of text under the panel
};

struct Figure {
  std::string title;
  std::vector<Panel> panels;
  int columns = 2;
  double panel_width = 460, panel_height = 330;
};

std::string render(const Figure& figure);
void write(const Figure& figure, const std::string& path);  // errors name the path

// Tick values covering [lo, hi] with a step of 1, 2 or 5 × 10^k, about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// Ticks for a log axis over [lo, hi] (lo > 0): 1, 2, 5 × 10^k, or only powers of 10 over many decades.
std::vector<double> log_ticks(double lo, double hi);
std::string tick_label(double v);  // "0.003", "1e-05", "2000", "50k", "1.5M"
// The i-th colour of a palette of distinguishable colours (cycles after ten).
const std::string& color(size_t i);
std::string xml_escape(const std::string& text);

}  // namespace lat::study::svg
