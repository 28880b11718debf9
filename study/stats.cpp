// Mean, sample std, Student-t quantiles and paired differences. The t quantile inverts the two-sided tail
// P(|T| > t) = I_{df/(df+t²)}(df/2, 1/2) by bisection in x = df/(df+t²); the incomplete beta is the
// continued fraction of Numerical Recipes §6.4 (modified Lentz), using the symmetry I_x(a,b) = 1 -
// I_{1-x}(b,a) where the fraction converges slowly.
#include "study/stats.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace lat::study {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The continued fraction for I_x(a, b), good for x < (a + 1) / (a + b + 2).
double beta_fraction(double x, double a, double b) {
  constexpr double tiny = 1e-300, eps = 1e-16;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::abs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < eps) break;
  }
  return h;
}

}  // namespace

double mean(const std::vector<double>& values) {
  if (values.empty()) return kNaN;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double sample_std(const std::vector<double>& values) {
  if (values.size() < 2) return kNaN;
  const double m = mean(values);
  double sq = 0;
  for (double v : values) sq += (v - m) * (v - m);
  return std::sqrt(sq / static_cast<double>(values.size() - 1));
}

double incomplete_beta(double x, double a, double b) {
  LAT_CHECK(x >= 0 && x <= 1, "incomplete_beta: x = ", x, " is outside [0, 1]");
  LAT_CHECK(a > 0 && b > 0, "incomplete_beta: a = ", a, " and b = ", b, " must be positive");
  if (x == 0 || x == 1) return x;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(x, a, b) / a;
  return 1 - front * beta_fraction(1 - x, b, a) / b;
}

double student_t_two_sided_p(double t, double df) {
  LAT_CHECK(df > 0, "Student t: degrees of freedom ", df, " must be positive");
  t = std::abs(t);
  return incomplete_beta(df / (df + t * t), df / 2, 0.5);
}

double student_t_critical(double confidence, double df) {
  LAT_CHECK(confidence > 0 && confidence < 1, "Student t: confidence ", confidence, " is outside (0, 1)");
  LAT_CHECK(df >= 1, "Student t: degrees of freedom ", df, " must be at least 1");
  const double alpha = 1 - confidence;
  // I_x(df/2, 1/2) increases with x, and x = df/(df+t²) decreases with t: find the x where I_x = alpha.
  double lo = 0, hi = 1;
  for (int i = 0; i < 200 && hi - lo > 0; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid == lo || mid == hi) break;
    if (incomplete_beta(mid, df / 2, 0.5) < alpha)
      lo = mid;
    else
      hi = mid;
  }
  const double x = 0.5 * (lo + hi);
  return std::sqrt(df * (1 - x) / x);
}

Summary summarize(const std::vector<double>& values) {
  Summary s;
  s.n = static_cast<int64_t>(values.size());
  s.mean = mean(values);
  if (s.n >= 2) {
    s.std = sample_std(values);
    const double half =
        student_t_critical(0.95, static_cast<double>(s.n - 1)) * *s.std / std::sqrt(static_cast<double>(s.n));
    s.ci_low = s.mean - half;
    s.ci_high = s.mean + half;
  }
  return s;
}

PairedDifference paired_difference(const std::map<int64_t, double>& a, const std::map<int64_t, double>& b) {
  PairedDifference d;
  for (const auto& [seed, value] : a) {
    auto it = b.find(seed);
    if (it == b.end()) continue;
    d.seeds.push_back(seed);
    d.differences.push_back(value - it->second);
  }
  d.summary = summarize(d.differences);
  return d;
}

}  // namespace lat::study
