// study/report: a fake study written to disk with known numbers (2 variants × 2 lrs × 3 seeds, one unfinished
// run), reported, and report.json checked against mean, std, CI and paired differences recomputed here from
// the numbers written (not through study/stats); report.json is byte-identical across calls; the SVGs are
// well-formed and carry their series labels; an extra model.d_model axis gives accuracy_vs_width.svg.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/json.h"
#include "study/report.h"
#include "study/run_reader.h"
#include "support/sample_stats.h"
#include "support/temp_dir.h"
#include "support/tool_files.h"

using namespace lat::study;
using lat::Json;
using lat::json_double;
using lat::testing::TempDir;

using lat::testing::mean_of;
using lat::testing::std_of;

using lat::testing::slurp;

namespace {

std::string num(double v) {
  return json_double(v);
}

struct FakeRun {
  std::string variant;
  double lr;
  int seed;
  std::string axes_json;            // {"k": "v"}
  std::optional<double> val, test;  // accuracy; absent: loss-only study
  double val_loss, test_loss;
  int64_t parameters;
  bool finished = true;
  bool position_32_available = true;
};

void write_run(const TempDir& dir, const FakeRun& r, const std::string& axes_path) {
  const std::string d =
      "runs/" + r.variant + "/" + axes_path + "lr=" + num(r.lr) + "/seed=" + std::to_string(r.seed) + "/";
  dir.write(d + "run.json", "{\"variant\": \"" + r.variant + "\", \"lr\": " + num(r.lr) +
                                ", \"seed\": " + std::to_string(r.seed) + ", \"axes\": " + r.axes_json +
                                ", \"overrides\": []}\n");
  std::string metrics;
  for (int step = 10; step <= 40; step += 10)
    metrics +=
        "{\"step\": " + std::to_string(step) + ", \"loss\": " + num(4.0 - step / 20.0 + r.seed * 0.05) +
        ", \"lr\": 0.001, \"grad_norm\": 1, \"tokens_per_s\": 1000, \"elapsed_s\": " + num(step * 0.1) +
        (step % 20 == 0 ? ", \"val_loss\": " + num(4.1 - step / 20.0) : std::string()) + "}\n";
  dir.write(d + "metrics.jsonl", metrics);
  if (!r.finished) return;
  auto split = [&](std::optional<double> acc, double loss) {
    return "{\"loss\": " + num(loss) +
           ", \"bits_per_byte\": null, \"accuracy\": " + (acc ? num(*acc) : "null") +
           ", \"tokens\": 640, \"examples\": 10}";
  };
  const std::string p32 =
      r.position_32_available
          ? R"({"length": 32, "available": true, "buckets": [{"begin": 0, "end": 1, "loss": 3.0}, {"begin": 1, "end": 4, "loss": 2.0}, {"begin": 4, "end": 32, "loss": 1.9}]})"
          : R"({"length": 32, "available": false, "reason": "test reason"})";
  dir.write(
      d + "eval.json",
      "{\"parameters\": " + std::to_string(r.parameters) +
          ", \"state_floats\": 64, \"tokens\": 6400, \"steps\": 40, \"wall_s\": 3.25, \"tokens_per_s\": "
          "1969.2, "
          "\"peak_memory_mib\": 20.5, \"device\": \"cpu\", \"byte_level\": false, \"val\": " +
          split(r.val, r.val_loss) + ", \"test\": " + split(r.test, r.test_loss) +
          R"(, "positions": [{"length": 16, "available": true, "buckets": [{"begin": 0, "end": 1, "loss": 3.1}, {"begin": 1, "end": 4, "loss": 2.1}, {"begin": 4, "end": 16, "loss": 1.5}]}, )" +
          p32 + "]}\n");
}

// A balanced-tag check: every <name ...> is closed by </name> in order; <.../> closes itself.
bool well_formed(const std::string& xml, std::string& problem) {
  std::vector<std::string> stack;
  size_t pos = 0;
  while ((pos = xml.find('<', pos)) != std::string::npos) {
    const size_t end = xml.find('>', pos);
    if (end == std::string::npos) return problem = "unterminated tag", false;
    const std::string tag = xml.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    if (tag.empty() || tag[0] == '?' || tag[0] == '!') continue;
    if (tag.back() == '/') continue;
    const std::string name =
        tag.substr(tag[0] == '/' ? 1 : 0, tag.find_first_of(" \n", 0) - (tag[0] == '/' ? 1 : 0));
    if (tag[0] != '/') {
      stack.push_back(name);
    } else {
      if (stack.empty() || stack.back() != name) return problem = "unbalanced </" + name + ">", false;
      stack.pop_back();
    }
  }
  if (!stack.empty()) return problem = "unclosed <" + stack.back() + ">", false;
  return true;
}

void check_svg(const std::string& path, const std::vector<std::string>& must_contain) {
  CAPTURE(path);
  REQUIRE(std::filesystem::exists(path));
  const std::string svg = slurp(path);
  CHECK(svg.rfind("<svg", 0) == 0);
  std::string problem;
  CHECK_MESSAGE(well_formed(svg, problem), problem);
  for (const std::string& s : must_contain) {
    CAPTURE(s);
    CHECK(svg.find(s) != std::string::npos);
  }
}

}  // namespace

TEST_SUITE("study report") {
  TEST_CASE("report.json's statistics match an independent computation from the written numbers") {
    TempDir dir("study_report");
    const std::string axes = R"({"data.num_kv_pairs": "8"})";
    // Validation picks softmax lr 0.003 and elu1 lr 0.001; the test split would have picked the other lrs, so
    // a report that chose on test would fail below.
    const double softmax_val[2][3] = {{0.80, 0.82, 0.84}, {0.85, 0.86, 0.90}};
    const double softmax_test[2][3] = {{0.95, 0.95, 0.95}, {0.84, 0.87, 0.89}};
    const double elu1_val[2][3] = {{0.70, 0.75, 0.72}, {0.60, 0.65, 0.62}};
    const double elu1_test[2][3] = {{0.71, 0.73, 0.74}, {0.99, 0.99, 0.99}};
    const double lrs[2] = {0.001, 0.003};
    for (int l = 0; l < 2; ++l)
      for (int s = 0; s < 3; ++s) {
        write_run(dir, {"softmax", lrs[l], s, axes, softmax_val[l][s], softmax_test[l][s], 0.5, 0.6, 1000},
                  "data.num_kv_pairs=8/");
        write_run(dir, {"elu1", lrs[l], s, axes, elu1_val[l][s], elu1_test[l][s], 0.7, 0.8, 900, true, false},
                  "data.num_kv_pairs=8/");
      }
    write_run(dir, {"elu1", 0.001, 3, axes, 0.99, 0.99, 0.1, 0.1, 900, false}, "data.num_kv_pairs=8/");

    ReportOptions options;
    options.title = "test study";
    options.baseline = "softmax";
    options.variant_order = {"softmax", "elu1"};
    options.preamble = {"command: lat-study test.toml", "commit: abc123"};
    write_report(read_runs(dir.str()), options, dir.str());

    const Json report = Json::parse_file(dir / "report.json");
    CHECK(report.at("title").as_string("title") == "test study");
    CHECK(report.at("preamble").items().size() == 2);
    const Json& results = report.at("results");
    CHECK(results.at("metric").as_string("metric") == "accuracy");
    CHECK(results.at("higher_is_better").as_bool("h"));
    const auto& cells = results.at("cells").items();
    REQUIRE(cells.size() == 2);
    CHECK(cells[0].at("variant").as_string("v") == "softmax");
    CHECK(cells[1].at("variant").as_string("v") == "elu1");

    const double t2 = 4.302653;  // Student t, df = 2, 95 % two-sided (published table)
    struct Expect {
      double best_lr;
      std::vector<double> test;
      std::vector<double> val_at[2];
    };
    const Expect expect[2] = {{0.003, {0.84, 0.87, 0.89}, {{0.80, 0.82, 0.84}, {0.85, 0.86, 0.90}}},
                              {0.001, {0.71, 0.73, 0.74}, {{0.70, 0.75, 0.72}, {0.60, 0.65, 0.62}}}};
    for (int c = 0; c < 2; ++c) {
      CAPTURE(c);
      const Json& cell = cells[static_cast<size_t>(c)];
      CHECK(cell.at("axes").at("data.num_kv_pairs").as_string("a") == "8");
      CHECK(cell.at("best_lr").as_double("lr") == expect[c].best_lr);
      const Json& test = cell.at("test");
      const double m = mean_of(expect[c].test), s = std_of(expect[c].test);
      CHECK(test.at("n").as_int("n") == 3);
      CHECK(test.at("mean").as_double("mean") == doctest::Approx(m).epsilon(1e-12));
      CHECK(test.at("std").as_double("std") == doctest::Approx(s).epsilon(1e-9));
      CHECK(test.at("ci95").items()[0].as_double("lo") ==
            doctest::Approx(m - t2 * s / std::sqrt(3.0)).epsilon(1e-6));
      CHECK(test.at("ci95").items()[1].as_double("hi") ==
            doctest::Approx(m + t2 * s / std::sqrt(3.0)).epsilon(1e-6));
      const auto& lr_table = cell.at("lr_table").items();
      REQUIRE(lr_table.size() == 2);
      for (int l = 0; l < 2; ++l) {
        const Json& val = lr_table[static_cast<size_t>(l)].at("val");
        CHECK(lr_table[static_cast<size_t>(l)].at("lr").as_double("lr") == lrs[l]);
        CHECK(val.at("n").as_int("n") == 3);  // the unfinished seed 3 is not counted
        CHECK(val.at("mean").as_double("m") == doctest::Approx(mean_of(expect[c].val_at[l])).epsilon(1e-12));
        CHECK(val.at("std").as_double("s") == doctest::Approx(std_of(expect[c].val_at[l])).epsilon(1e-9));
      }
    }
    CHECK(cells[0].at("parameters").as_int("p") == 1000);
    CHECK(cells[1].at("parameters").as_int("p") == 900);
    CHECK(cells[0].at("difference").is_null());  // the baseline itself

    // elu1 − softmax per seed at their best lrs: 0.71 − 0.84, 0.73 − 0.87, 0.74 − 0.89.
    const std::vector<double> diffs = {0.71 - 0.84, 0.73 - 0.87, 0.74 - 0.89};
    const Json& d = cells[1].at("difference");
    const double dm = mean_of(diffs), ds = std_of(diffs);
    CHECK(d.at("n").as_int("n") == 3);
    CHECK(d.at("mean").as_double("m") == doctest::Approx(dm).epsilon(1e-12));
    CHECK(d.at("std").as_double("s") == doctest::Approx(ds).epsilon(1e-9));
    CHECK(d.at("ci95").items()[0].as_double("lo") ==
          doctest::Approx(dm - t2 * ds / std::sqrt(3.0)).epsilon(1e-6));
    CHECK(d.at("ci95").items()[1].as_double("hi") ==
          doctest::Approx(dm + t2 * ds / std::sqrt(3.0)).epsilon(1e-6));
    CHECK(dm + t2 * ds / std::sqrt(3.0) < 0);             // the CI excludes 0 ...
    CHECK(d.at("verdict").as_string("v") == "resolved");  // ... so it is resolved, in softmax's favour
    CHECK(d.at("better").as_string("b") == "softmax");

    const auto& missing = results.at("missing").items();
    REQUIRE(missing.size() == 1);
    CHECK(missing[0].at("dir").as_string("d") == "runs/elu1/data.num_kv_pairs=8/lr=0.001/seed=3");

    // Clock- and allocator-measured figures live only under "measured".
    const std::string results_text = results.dump();
    for (const char* key : {"tokens_per_s", "wall_s", "peak_memory", "elapsed"})
      CHECK(results_text.find(key) == std::string::npos);
    CHECK(report.at("measured").at("cells").items()[0].at("tokens_per_s").at("mean").as_double("t") ==
          doctest::Approx(1969.2));

    const std::string md = slurp(dir / "report.md");
    CHECK(md.rfind("# test study\n\ncommand: lat-study test.toml\ncommit: abc123\n", 0) == 0);
    CHECK(md.find("runs/elu1/data.num_kv_pairs=8/lr=0.001/seed=3") != std::string::npos);
    CHECK(md.find("resolved: softmax better") != std::string::npos);

    const std::string plots = dir / "plots/";
    check_svg(plots + "loss_vs_tokens.svg", {">softmax<", ">elu1<", "tokens"});
    check_svg(plots + "loss_vs_seconds.svg", {">softmax<", ">elu1<", "seconds"});
    check_svg(plots + "lr_curves.svg", {">softmax<", ">elu1<", ">0.001<", ">0.003<"});
    check_svg(plots + "per_position.svg",
              {">softmax<", "elu1 not drawn: test reason", "train context", "length 32"});
    check_svg(plots + "forest.svg", {">elu1<", "elu1 | data.num_kv_pairs=8"});
    CHECK_FALSE(std::filesystem::exists(plots + "accuracy_vs_width.svg"));

    // Same inputs, same bytes.
    const std::string first = slurp(dir / "report.json");
    write_report(read_runs(dir.str()), options, dir.str());
    CHECK(slurp(dir / "report.json") == first);
  }

  TEST_CASE("a loss study with a model.d_model axis: metric loss, n/a with one pair, n = 1 without a CI") {
    TempDir dir("study_report_width");
    for (const char* width : {"64", "128"})
      for (int s = 0; s < 2; ++s) {
        const std::string axes =
            std::string(R"({"model.d_model": ")") + width + "\", \"training.seq_len\": \"16\"}";
        const std::string path = std::string("model.d_model=") + width + "/";
        write_run(dir, {"softmax", 0.01, s, axes, std::nullopt, std::nullopt, 2.0 + s, 2.5 + s, 100}, path);
        if (s == 0 || std::string(width) == "64")
          write_run(dir, {"elu1", 0.01, s, axes, std::nullopt, std::nullopt, 2.1 + s, 2.4 + s, 90}, path);
      }
    ReportOptions options;
    options.baseline = "softmax";
    write_report(read_runs(dir.str()), options, dir.str());
    const Json results = Json::parse_file(dir / "report.json").at("results");
    CHECK(results.at("metric").as_string("m") == "loss");
    CHECK_FALSE(results.at("higher_is_better").as_bool("h"));
    const auto& cells = results.at("cells").items();
    REQUIRE(cells.size() ==
            4);  // widths 64 < 128 numerically; elu1 before softmax (alphabetical, no order given)
    CHECK(cells[0].at("axes").at("model.d_model").as_string("w") == "64");
    CHECK(cells[0].at("variant").as_string("v") == "elu1");
    CHECK(cells[2].at("axes").at("model.d_model").as_string("w") == "128");
    const Json& one = cells[2];  // elu1 at width 128: one seed
    CHECK(one.at("test").at("n").as_int("n") == 1);
    CHECK(one.at("test").at("ci95").is_null());
    CHECK(one.at("difference").at("verdict").as_string("v") == "n/a");
    // elu1 − softmax at width 64: seeds 0, 1 → (2.4 − 2.5, 3.4 − 3.5), identical, std 0: CI collapses to a
    // point.
    CHECK(cells[0].at("difference").at("mean").as_double("m") == doctest::Approx(-0.1));
    CHECK(cells[0].at("difference").at("verdict").as_string("v") == "resolved");
    CHECK(cells[0].at("difference").at("better").as_string("b") == "elu1");  // lower loss is better
    CHECK(slurp(dir / "report.md").find("no CI (n = 1)") != std::string::npos);
    check_svg(dir / "plots/accuracy_vs_width.svg", {">softmax<", ">elu1<", "d_model", ">64<", ">128<"});
  }
}
