// study/stats: Student-t critical values against published table values, the incomplete beta against closed
// forms, and mean / sample std / CI / paired differences against hand-computed numbers.
#include <doctest/doctest.h>

#include <cmath>

#include "study/stats.h"

using namespace lat::study;

TEST_SUITE("study stats") {
  TEST_CASE("t critical values for 95 % two-sided match the published table") {
    // Student-t table, two-sided 0.05 (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
    const std::pair<double, double> table[] = {{1, 12.706}, {2, 4.303},  {3, 3.182},  {4, 2.776},
                                               {5, 2.571},  {9, 2.262},  {10, 2.228}, {20, 2.086},
                                               {30, 2.042}, {100, 1.984}};
    for (const auto& entry : table) {  // not a structured binding: CAPTURE takes a reference (clang 14)
      const auto& df = entry.first;
      const auto& t = entry.second;
      CAPTURE(df);
      CHECK(student_t_critical(0.95, df) == doctest::Approx(t).epsilon(2e-4));
    }
    CHECK(student_t_critical(0.95, 1e6) == doctest::Approx(1.960).epsilon(2e-4));
    CHECK(student_t_critical(0.99, 1) == doctest::Approx(63.657).epsilon(2e-4));
    // df = 1 is the Cauchy distribution: t = tan(π/2 · 0.95) exactly.
    CHECK(student_t_critical(0.95, 1) == doctest::Approx(std::tan(M_PI / 2 * 0.95)).epsilon(1e-9));
    // df = 2 has the closed form t = (2p - 1) / sqrt(2p(1 - p)) at p = 0.975.
    const double p = 0.975;
    CHECK(student_t_critical(0.95, 2) ==
          doctest::Approx((2 * p - 1) / std::sqrt(2 * p * (1 - p))).epsilon(1e-9));
  }

  TEST_CASE("the incomplete beta matches closed forms") {
    for (double x : {0.0, 0.1, 0.37, 0.5, 0.9, 1.0}) {
      CHECK(incomplete_beta(x, 1, 1) == doctest::Approx(x));
      CHECK(incomplete_beta(x, 2, 1) == doctest::Approx(x * x));
      CHECK(incomplete_beta(x, 1, 3) == doctest::Approx(1 - std::pow(1 - x, 3)));
    }
    CHECK(incomplete_beta(0.5, 7.5, 7.5) == doctest::Approx(0.5));
    CHECK(student_t_two_sided_p(0, 5) == doctest::Approx(1));
    CHECK(student_t_two_sided_p(2.571, 5) == doctest::Approx(0.05).epsilon(1e-3));
  }

  TEST_CASE("mean, sample std, CI and paired differences on hand-computed numbers") {
    const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};  // mean 5, sum of squares 32, s² = 32/7
    CHECK(mean(v) == doctest::Approx(5));
    CHECK(sample_std(v) == doctest::Approx(std::sqrt(32.0 / 7)));
    const Summary s = summarize(v);
    REQUIRE(s.has_ci());
    CHECK(*s.ci_high - s.mean == doctest::Approx(2.365 * std::sqrt(32.0 / 7) / std::sqrt(8.0)).epsilon(2e-4));
    CHECK(*s.ci_low == doctest::Approx(2 * s.mean - *s.ci_high));
    CHECK(s.ci_excludes_zero());

    const Summary one = summarize({0.7});
    CHECK(one.n == 1);
    CHECK(one.mean == 0.7);
    CHECK_FALSE(one.std.has_value());
    CHECK_FALSE(one.has_ci());
    CHECK(std::isnan(mean({})));

    const PairedDifference d =
        paired_difference({{0, 1.0}, {1, 2.0}, {2, 4.0}, {5, 9.0}}, {{0, 0.5}, {1, 1.0}, {2, 3.0}, {3, 7.0}});
    CHECK(d.seeds == std::vector<int64_t>{0, 1, 2});
    CHECK(d.differences == std::vector<double>{0.5, 1.0, 1.0});
    CHECK(d.summary.mean == doctest::Approx(2.5 / 3));
    CHECK(*d.summary.std == doctest::Approx(std::sqrt((1.0 / 9 + 1.0 / 36 + 1.0 / 36) / 2)));
  }
}
