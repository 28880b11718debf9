// Plain-loop sample statistics for tests that recompute a report's numbers independently of study/stats.h.
#pragma once

#include <cmath>
#include <vector>

namespace lat::testing {

inline double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Sample standard deviation (n − 1).
inline double std_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace lat::testing
