// The study's statistics: mean, sample standard deviation, Student-t critical values (computed from the
// regularised incomplete beta function, no table), 95 % confidence intervals and paired differences.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace lat::study {

double mean(const std::vector<double>& values);        // NaN for no values
double sample_std(const std::vector<double>& values);  // divides by n - 1; NaN for fewer than 2 values

// I_x(a, b), the regularised incomplete beta function, for 0 <= x <= 1 and a, b > 0.
double incomplete_beta(double x, double a, double b);
// P(|T| > t) for Student's t with df degrees of freedom (t >= 0, df > 0).
double student_t_two_sided_p(double t, double df);
// The t with P(|T| > t) = 1 - confidence, by bisection on the incomplete beta (df >= 1; 0 < confidence < 1).
// t_critical(0.95, 1) = 12.706, t_critical(0.95, 30) = 2.042.
double student_t_critical(double confidence, double df);

// n values summarised; the 95 % interval is mean ± t(0.975, n - 1)·s/√n and is absent for n < 2.
struct Summary {
  int64_t n = 0;
  double mean = 0;
  std::optional<double> std;  // sample std, n >= 2
  std::optional<double> ci_low, ci_high;
  bool has_ci() const { return ci_low.has_value(); }
  bool ci_excludes_zero() const { return has_ci() && (*ci_low > 0 || *ci_high < 0); }
};
Summary summarize(const std::vector<double>& values);

// a - b over the seeds present in both (seed -> value); the seeds in order, their differences, and their
// summary.
struct PairedDifference {
  std::vector<int64_t> seeds;
  std::vector<double> differences;
  Summary summary;
};
PairedDifference paired_difference(const std::map<int64_t, double>& a, const std::map<int64_t, double>& b);

}  // namespace lat::study
