// study/svg: tick choice (1-2-5 steps covering the data, log decades), tick labels, and XML escaping of text.
#include <doctest/doctest.h>

#include "study/svg.h"

using namespace lat::study::svg;

TEST_SUITE("study svg") {
  TEST_CASE("nice ticks cover the range with 1, 2 or 5 times a power of ten") {
    CHECK(nice_ticks(0.62, 0.97) == std::vector<double>{0.6, 0.7, 0.8, 0.9, 1.0});
    CHECK(nice_ticks(0, 1.64e6) == std::vector<double>{0, 5e5, 1e6, 1.5e6, 2e6});
    const std::vector<double> neg = nice_ticks(-0.2999, 0.01);
    CHECK(neg.front() == doctest::Approx(-0.3));
    CHECK(neg.back() == doctest::Approx(0.1));
    CHECK(nice_ticks(3, 3).size() >= 2);  // a flat series still gets an axis
  }

  TEST_CASE("log ticks are 1-2-5 per decade, or decades only over many") {
    CHECK(log_ticks(0.4, 230) == std::vector<double>{0.5, 1, 2, 5, 10, 20, 50, 100, 200});
    CHECK(log_ticks(1e-7, 1e2) == std::vector<double>{1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100});
  }

  TEST_CASE("tick labels and escaping") {
    CHECK(tick_label(0) == "0");
    CHECK(tick_label(0.003) == "0.003");
    CHECK(tick_label(1e-5) == "1e-05");
    CHECK(tick_label(2000) == "2000");
    CHECK(tick_label(5e5) == "500k");
    CHECK(tick_label(1.5e6) == "1.5M");
    CHECK(tick_label(-0.2) == "-0.2");
    CHECK(xml_escape("a<b & \"c\">") == "a&lt;b &amp; &quot;c&quot;&gt;");
    Figure f;
    f.title = "x < y";
    f.panels.push_back(Panel{});
    const std::string svg = render(f);
    CHECK(svg.find("x &lt; y") != std::string::npos);
    CHECK(svg.find("no data") != std::string::npos);
  }
}
