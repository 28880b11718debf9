// The SVG plotting module: ranges and ticks, the layout of panels on a grid, and the drawing of each series.
#include "study/svg.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"

namespace lat::study::svg {

namespace {

constexpr double kFont = 12, kTitleFont = 14, kCharWidth = 6.8;  // the width of a 12 px sans-serif character

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v, bool positive_only) {
    if (!std::isfinite(v) || (positive_only && v <= 0)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

// Maps data to pixels inside one panel's plot area.
struct Axes {
  double left, top, width, height;
  double x_lo, x_hi, y_lo, y_hi;
  bool log_x;
  double px(double x) const {
    const double t = log_x ? (std::log10(x) - std::log10(x_lo)) / (std::log10(x_hi) - std::log10(x_lo))
                           : (x - x_lo) / (x_hi - x_lo);
    return left + t * width;
  }
  double py(double y) const { return top + height - (y - y_lo) / (y_hi - y_lo) * height; }
};

void text(std::string& out, double x, double y, const std::string& s, const char* anchor = "middle",
          double size = kFont, const char* extra = "") {
  out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) + "\" text-anchor=\"" +
         anchor + "\"" + extra + ">" + xml_escape(s) + "</text>\n";
}

void line(std::string& out, double x1, double y1, double x2, double y2, const std::string& stroke,
          double width = 1, const char* extra = "") {
  out += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) +
         "\" stroke=\"" + stroke + "\" stroke-width=\"" + num(width) + "\"" + extra + "/>\n";
}

bool finite(double v) {
  return std::isfinite(v);
}

void draw_series(std::string& out, const Axes& ax, const Series& s) {
  const size_t n = s.x.size();
  auto ok = [&](double x, double y) { return finite(x) && finite(y) && (!ax.log_x || x > 0); };
  if (s.band_low.size() == n && s.band_high.size() == n && n > 0) {
    std::string upper, lower;
    for (size_t i = 0; i < n; ++i)
      if (ok(s.x[i], s.band_high[i]) && finite(s.band_low[i])) {
        upper += num(ax.px(s.x[i])) + "," + num(ax.py(s.band_high[i])) + " ";
        lower = num(ax.px(s.x[i])) + "," + num(ax.py(s.band_low[i])) + " " + lower;
      }
    if (!upper.empty())
      out += "<polygon points=\"" + upper + lower + "\" fill=\"" + s.color +
             "\" fill-opacity=\"0.18\" stroke=\"none\"/>\n";
  }
  if (s.line) {
    std::string points;
    auto flush = [&] {
      if (points.find(' ') != points.rfind(' '))  // at least two points
        out += "<polyline points=\"" + points + "\" fill=\"none\" stroke=\"" + s.color +
               "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6,4\"" : "") + "/>\n";
      points.clear();
    };
    for (size_t i = 0; i < n; ++i) {
      if (!ok(s.x[i], s.y[i])) {
        flush();
        continue;
      }
      points += num(ax.px(s.x[i])) + "," + num(ax.py(s.y[i])) + " ";
    }
    flush();
  }
  for (size_t i = 0; i < n; ++i) {
    if (!ok(s.x[i], s.y[i])) continue;
    const double cx = ax.px(s.x[i]), cy = ax.py(s.y[i]);
    if (s.y_err_low.size() == n && finite(s.y_err_low[i]) && finite(s.y_err_high[i])) {
      const double y1 = ax.py(s.y_err_low[i]), y2 = ax.py(s.y_err_high[i]);
      line(out, cx, y1, cx, y2, s.color, 1.5);
      line(out, cx - 4, y1, cx + 4, y1, s.color, 1.5);
      line(out, cx - 4, y2, cx + 4, y2, s.color, 1.5);
    }
    if (s.x_err_low.size() == n && ok(s.x_err_low[i], s.y[i]) && ok(s.x_err_high[i], s.y[i])) {
      const double x1 = ax.px(s.x_err_low[i]), x2 = ax.px(s.x_err_high[i]);
      line(out, x1, cy, x2, cy, s.color, 2);
      line(out, x1, cy - 5, x1, cy + 5, s.color, 2);
      line(out, x2, cy - 5, x2, cy + 5, s.color, 2);
    }
    if (s.markers)
      out += "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"3.5\" fill=\"" + s.color +
             "\" stroke=\"white\" stroke-width=\"0.8\"/>\n";
  }
}

void draw_panel(std::string& out, const Panel& p, double x0, double y0, double w, double h) {
  const bool categorical = !p.y_categories.empty();
  size_t label_chars = 0;
  for (const std::string& c : p.y_categories) label_chars = std::max(label_chars, c.size());
  const double left = categorical ? 16 + kCharWidth * static_cast<double>(label_chars) : 68;
  const double top = 30, right = 26, bottom = 46 + 15 * static_cast<double>(p.notes.size());
  Axes ax{x0 + left, y0 + top, w - left - right, h - top - bottom, 0, 1, 0, 1, p.log_x};
  if (ax.width < 40 || ax.height < 40) return;

  Range xr, yr;
  for (const Series& s : p.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!finite(s.y[i])) continue;
      xr.add(s.x[i], p.log_x);
      yr.add(s.y[i], false);
      if (i < s.band_low.size()) yr.add(s.band_low[i], false), yr.add(s.band_high[i], false);
      if (i < s.y_err_low.size()) yr.add(s.y_err_low[i], false), yr.add(s.y_err_high[i], false);
      if (i < s.x_err_low.size()) xr.add(s.x_err_low[i], p.log_x), xr.add(s.x_err_high[i], p.log_x);
    }
  }
  for (const auto& [x, label] : p.x_markers) xr.add(x, p.log_x);
  for (double x : p.x_include) xr.add(x, p.log_x);
  for (double x : p.x_ticks) xr.add(x, p.log_x);

  out += "<g>\n";
  // Long titles shrink to fit the panel (bold characters are about 0.62 em wide).
  const double title_font =
      std::min(kTitleFont, (w - 10) / (0.62 * std::max<double>(1, static_cast<double>(p.title.size()))));
  text(out, x0 + w / 2, y0 + 18, p.title, "middle", title_font, " font-weight=\"bold\"");
  out += "<rect x=\"" + num(ax.left) + "\" y=\"" + num(ax.top) + "\" width=\"" + num(ax.width) +
         "\" height=\"" + num(ax.height) + "\" fill=\"white\" stroke=\"#444\"/>\n";
  if (xr.empty()) {
    text(out, ax.left + ax.width / 2, ax.top + ax.height / 2, "no data", "middle", kFont, " fill=\"#888\"");
  } else {
    std::vector<double> xt;
    if (p.log_x) {
      const double pad = xr.hi > xr.lo ? 0.05 * std::log10(xr.hi / xr.lo) : 0.3;
      ax.x_lo = xr.lo / std::pow(10, pad);
      ax.x_hi = xr.hi * std::pow(10, pad);
      xt = p.x_ticks.empty() ? log_ticks(ax.x_lo, ax.x_hi) : p.x_ticks;
    } else {
      xt = p.x_ticks.empty() ? nice_ticks(xr.lo, xr.hi) : p.x_ticks;
      ax.x_lo = std::min(xt.front(), xr.lo);
      ax.x_hi = std::max(xt.back(), xr.hi);
    }
    std::vector<double> yt;
    if (categorical) {
      ax.y_lo = -0.5;
      ax.y_hi = static_cast<double>(p.y_categories.size()) - 0.5;
    } else {
      if (yr.empty()) yr.add(0, false);
      yt = nice_ticks(yr.lo, yr.hi);
      ax.y_lo = yt.front();
      ax.y_hi = yt.back();
    }
    // Categorical rows are drawn top down: row i sits at y = n - 1 - i in data space.
    auto cat_y = [&](double i) { return static_cast<double>(p.y_categories.size()) - 1 - i; };
    for (double t : xt) {
      const double slack = 1e-9 * (std::abs(ax.x_hi) + std::abs(ax.x_lo));
      if (t < ax.x_lo - slack || t > ax.x_hi + slack) continue;
      const double x = ax.px(t);
      line(out, x, ax.top, x, ax.top + ax.height, "#e3e3e3");
      line(out, x, ax.top + ax.height, x, ax.top + ax.height + 4, "#444");
      text(out, x, ax.top + ax.height + 17, tick_label(t));
    }
    for (double t : yt) {
      const double y = ax.py(t);
      line(out, ax.left, y, ax.left + ax.width, y, "#e3e3e3");
      line(out, ax.left - 4, y, ax.left, y, "#444");
      text(out, ax.left - 7, y + 4, tick_label(t), "end");
    }
    for (size_t i = 0; i < p.y_categories.size(); ++i)
      text(out, ax.left - 8, ax.py(cat_y(static_cast<double>(i))) + 4, p.y_categories[i], "end");
    for (const auto& [x, label] : p.x_markers) {
      if (p.log_x && x <= 0) continue;
      line(out, ax.px(x), ax.top, ax.px(x), ax.top + ax.height, "#333", 1.2, " stroke-dasharray=\"4,3\"");
      text(out, ax.px(x) + 4, ax.top + 13, label, "start", 11, " fill=\"#333\"");
    }
    for (const Series& s : p.series) {
      if (!categorical) {
        draw_series(out, ax, s);
        continue;
      }
      Series flipped = s;
      for (double& y : flipped.y) y = cat_y(y);
      draw_series(out, ax, flipped);
    }
    out += "<rect x=\"" + num(ax.left) + "\" y=\"" + num(ax.top) + "\" width=\"" + num(ax.width) +
           "\" height=\"" + num(ax.height) + "\" fill=\"none\" stroke=\"#444\"/>\n";
  }
  text(out, ax.left + ax.width / 2, ax.top + ax.height + 35, p.x_label);
  if (!categorical)
    text(out, 0, 0, p.y_label, "middle", kFont,
         (" transform=\"translate(" + num(x0 + 16) + "," + num(ax.top + ax.height / 2) + ") rotate(-90)\"")
             .c_str());
  for (size_t i = 0; i < p.notes.size(); ++i)
    text(out, x0 + 10, ax.top + ax.height + 52 + 15 * static_cast<double>(i), p.notes[i], "start", 11,
         " fill=\"#555\"");
  out += "</g>\n";
}

}  // namespace

const std::string& color(size_t i) {
  static const std::vector<std::string> palette = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                                   "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  return palette[i % palette.size()];
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string tick_label(double v) {
  if (v == 0) return "0";
  char buf[32];
  const double a = std::abs(v);
  // Large counts (tokens, steps) read better as 500k, 1.5M, 2G.
  const struct {
    double from, scale;
    const char* suffix;
  } suffixes[] = {{1e9, 1e9, "G"}, {1e6, 1e6, "M"}, {1e4, 1e3, "k"}};
  for (const auto& [from, scale, suffix] : suffixes)
    if (a >= from) {
      std::snprintf(buf, sizeof buf, "%.4g%s", v / scale, suffix);
      return buf;
    }
  std::snprintf(buf, sizeof buf, a < 1e-3 ? "%.3g" : "%.6g", v);
  return buf;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const int exponent = static_cast<int>(std::floor(std::log10(raw)));
  const double mag = std::pow(10.0, exponent);
  double multiple = 10;
  for (double m : {1.0, 2.0, 5.0})
    if (m * mag >= raw) {
      multiple = m;
      break;
    }
  const double step = multiple * mag;
  // k·m / 10^-e rather than k·(m·10^e): one rounding, so 0.1 steps give 0.6, not 0.6000000000000001.
  auto tick = [&](double k) {
    return exponent < 0 ? k * multiple / std::pow(10.0, -exponent) : k * multiple * mag;
  };
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  for (double k = first; k <= last + 0.5; ++k) ticks.push_back(k == 0 ? 0 : tick(k));
  return ticks;
}

std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> ticks;
  const int d0 = static_cast<int>(std::floor(std::log10(lo))),
            d1 = static_cast<int>(std::ceil(std::log10(hi)));
  const bool many_decades = d1 - d0 > 4;
  for (int d = d0; d <= d1; ++d)
    for (double m : many_decades ? std::vector<double>{1} : std::vector<double>{1, 2, 5}) {
      const double t = m * std::pow(10, d);
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push_back(t);
    }
  return ticks;
}

std::string render(const Figure& f) {
  // The legend: one entry per distinct label, in order of first appearance.
  std::vector<std::pair<std::string, std::string>> legend;
  for (const Panel& p : f.panels)
    for (const Series& s : p.series)
      if (!s.label.empty() &&
          std::none_of(legend.begin(), legend.end(), [&](auto& e) { return e.first == s.label; }))
        legend.emplace_back(s.label, s.color);
  const int columns =
      std::max(1, std::min(f.columns, static_cast<int>(std::max<size_t>(1, f.panels.size()))));
  const int rows =
      static_cast<int>((f.panels.size() + static_cast<size_t>(columns) - 1) / static_cast<size_t>(columns));
  const double width = f.panel_width * columns;
  // Lay the legend out in lines that fit the width.
  std::vector<std::vector<std::pair<std::string, std::string>>> legend_lines(1);
  double used = 0;
  for (const auto& entry : legend) {
    const double w = 34 + kCharWidth * static_cast<double>(entry.first.size());
    if (used + w > width - 20 && !legend_lines.back().empty()) {
      legend_lines.emplace_back();
      used = 0;
    }
    legend_lines.back().push_back(entry);
    used += w;
  }
  const double legend_h = legend.empty() ? 0 : 20 * static_cast<double>(legend_lines.size());
  const double top = 34 + legend_h;
  const double height = top + f.panel_height * std::max(1, rows) + 6;

  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" +
                    num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) +
                    "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
  out +=
      "<rect x=\"0\" y=\"0\" width=\"" + num(width) + "\" height=\"" + num(height) + "\" fill=\"white\"/>\n";
  // Like panel titles, a long figure title shrinks to fit the figure (bold characters are about 0.62 em wide).
  const double figure_title_font =
      std::min(16.0, (width - 10) / (0.62 * std::max<double>(1, static_cast<double>(f.title.size()))));
  text(out, width / 2, 22, f.title, "middle", figure_title_font, " font-weight=\"bold\"");
  for (size_t l = 0; l < legend_lines.size() && !legend.empty(); ++l) {
    double line_w = 0;
    for (const auto& e : legend_lines[l]) line_w += 34 + kCharWidth * static_cast<double>(e.first.size());
    double x = (width - line_w) / 2;
    const double y = 40 + 20 * static_cast<double>(l);
    for (const auto& [label, colour] : legend_lines[l]) {
      line(out, x, y, x + 22, y, colour, 3);
      text(out, x + 27, y + 4, label, "start");
      x += 34 + kCharWidth * static_cast<double>(label.size());
    }
  }
  for (size_t i = 0; i < f.panels.size(); ++i) {
    const double x0 = f.panel_width * static_cast<double>(i % static_cast<size_t>(columns));
    const double y0 = top + f.panel_height * static_cast<double>(i / static_cast<size_t>(columns));
    draw_panel(out, f.panels[i], x0, y0, f.panel_width, f.panel_height);
  }
  out += "</svg>\n";
  return out;
}

void write(const Figure& figure, const std::string& path) {
  std::ofstream file(path, std::ios::binary);
  if (!file) LAT_THROW("cannot write plot '", path, "': ", std::strerror(errno));
  file << render(figure);
  if (!file) LAT_THROW("cannot write plot '", path, "': ", std::strerror(errno));
}

}  // namespace lat::study::svg
