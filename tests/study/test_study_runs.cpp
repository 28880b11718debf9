// study/run_reader: metrics.jsonl deduplication after crashes and resumes, the cumulative elapsed time, the
// finished flag, eval.json fields, discovery of run directories, and errors naming the malformed file.
#include <doctest/doctest.h>

#include <cmath>

#include "study/run_reader.h"
#include "support/temp_dir.h"

using namespace lat::study;
using lat::testing::error_of;
using lat::testing::TempDir;

namespace {

std::string row(int64_t step, double loss, double elapsed, const std::string& extra = "") {
  return "{\"step\": " + std::to_string(step) + ", \"loss\": " + std::to_string(loss) +
         ", \"lr\": 0.001, \"grad_norm\": 1, \"tokens_per_s\": 100, \"elapsed_s\": " +
         std::to_string(elapsed) + extra + "}\n";
}

const char* kEval = R"({"parameters": 1000, "state_floats": 64, "tokens": 6400, "steps": 100, "wall_s": 12.5,
  "tokens_per_s": 512, "peak_memory_mib": 33.5, "device": "cpu", "byte_level": true,
  "val": {"loss": 1.5, "bits_per_byte": 2.1640425613334453, "accuracy": null, "tokens": 640, "examples": 10},
  "test": {"loss": 1.6, "bits_per_byte": 2.3083120654223415, "accuracy": null, "tokens": 640, "examples": 10},
  "positions": [{"length": 16, "available": true, "buckets": [{"begin": 0, "end": 1, "loss": 3.0}, {"begin": 1, "end": 16, "loss": 1.25}]},
                {"length": 32, "available": false, "reason": "M = 16"}]})";

}  // namespace

TEST_SUITE("study runs") {
  TEST_CASE("metrics after a crash and resume keep the last row per step, by step, with cumulative time") {
    // Invocation 1 logs steps 10..40 at 1 s intervals and crashes; invocation 2 resumes from the checkpoint
    // at step 20, so it rewrites steps 30 and 40 (with new losses) and goes on to 60; elapsed restarts at 0.
    const std::string text = row(10, 5.0, 1) + row(20, 4.0, 2) + row(30, 3.5, 3) +
                             row(40, 3.0, 4, ", \"val_loss\": 3.1") + row(30, 3.4, 1.5) + row(40, 2.9, 2.5) +
                             row(50, 2.5, 3.5) + "\n" +
                             row(60, 2.0, 4.5, ", \"val_loss\": 2.2, \"accuracy\": 0.5");
    const std::vector<CurvePoint> c = parse_metrics(text, "m.jsonl");
    REQUIRE(c.size() == 6);
    const int64_t steps[] = {10, 20, 30, 40, 50, 60};
    const double losses[] = {5.0, 4.0, 3.4, 2.9, 2.5, 2.0};
    // Kept rows 10, 20 come from invocation 1 (1 s, 2 s); 30.. from invocation 2, offset by 2 s.
    const double elapsed[] = {1, 2, 3.5, 4.5, 5.5, 6.5};
    for (size_t i = 0; i < c.size(); ++i) {
      CAPTURE(i);
      CHECK(c[i].step == steps[i]);
      CHECK(c[i].loss == doctest::Approx(losses[i]));
      CHECK(c[i].elapsed_s == doctest::Approx(elapsed[i]));
    }
    CHECK_FALSE(c[3].val_loss.has_value());  // the rewritten step 40 row has no val_loss
    CHECK(*c[5].val_loss == doctest::Approx(2.2));
    CHECK(*c[5].accuracy == doctest::Approx(0.5));
  }

  TEST_CASE("a resume from the last logged step continues the clock, a null loss reads as NaN") {
    const std::string text = row(10, 5.0, 10) + row(20, 4.0, 20) + row(30, 3.0, 0.5) +
                             "{\"step\": 40, \"loss\": null, \"elapsed_s\": 1.5}\n";
    const std::vector<CurvePoint> c = parse_metrics(text, "m.jsonl");
    REQUIRE(c.size() == 4);
    CHECK(c[2].elapsed_s == doctest::Approx(20.5));
    CHECK(c[3].elapsed_s == doctest::Approx(21.5));
    CHECK(std::isnan(c[3].loss));
  }

  TEST_CASE("malformed metrics lines name the file and line") {
    CHECK(error_of([] { parse_metrics(row(1, 2, 3) + "{\"step\": 2, \"loss\": }\n", "m.jsonl"); }) ==
          "m.jsonl:2: byte 20: unexpected character '}'");
    CHECK(error_of([] { parse_metrics("{\"loss\": 1}\n", "m.jsonl"); }) == "m.jsonl:1: missing key \"step\"");
  }

  TEST_CASE("read_runs finds every run.json under runs/, sorted, and reads eval.json when present") {
    TempDir dir("study_runs");
    dir.write(
        "runs/softmax/lr=0.01/seed=0/run.json",
        R"({"variant": "softmax", "lr": 0.01, "seed": 0, "axes": {"model.d_model": "64"}, "overrides": ["a=b"]})");
    dir.write("runs/softmax/lr=0.01/seed=0/metrics.jsonl", row(1, 3, 1) + row(2, 2, 2));
    dir.write("runs/softmax/lr=0.01/seed=0/eval.json", kEval);
    dir.write("runs/elu1/lr=0.01/seed=1/run.json",
              R"({"variant": "elu1", "lr": 0.01, "seed": 1, "axes": {}})");
    dir.write("runs/notes.txt", "not a run");
    const std::vector<RunRecord> runs = read_runs(dir.str());
    REQUIRE(runs.size() == 2);
    CHECK(runs[0].dir == "runs/elu1/lr=0.01/seed=1");
    CHECK_FALSE(runs[0].finished);
    CHECK(runs[0].curve.empty());
    const RunRecord& r = runs[1];
    CHECK(r.dir == "runs/softmax/lr=0.01/seed=0");
    CHECK(r.finished);
    CHECK(r.variant == "softmax");
    CHECK(r.lr == 0.01);
    CHECK(r.axes.at("model.d_model") == "64");
    CHECK(r.overrides == std::vector<std::string>{"a=b"});
    CHECK(r.curve.size() == 2);
    CHECK(r.parameters == 1000);
    CHECK(r.state_floats == 64);
    CHECK(r.tokens == 6400);
    CHECK(r.steps == 100);
    CHECK(r.peak_memory_mib == 33.5);
    CHECK(r.byte_level);
    CHECK(r.test.loss == 1.6);
    CHECK(*r.test.bits_per_byte == doctest::Approx(1.6 / std::log(2.0)));
    CHECK_FALSE(r.test.accuracy.has_value());
    REQUIRE(r.positions.size() == 2);
    CHECK(r.positions[0].buckets.size() == 2);
    CHECK(r.positions[0].buckets[1].end == 16);
    CHECK_FALSE(r.positions[1].available);
    CHECK(r.positions[1].reason == "M = 16");
  }

  TEST_CASE("a malformed run.json or eval.json is one line naming the file") {
    TempDir dir("study_runs_bad");
    dir.write("runs/a/run.json", R"({"variant": "a", "lr": "high", "seed": 0})");
    const std::string run_json = dir / "runs/a/run.json";
    CHECK(error_of([&] { read_run(dir.str(), "runs/a"); }) ==
          run_json + ": lr should be a number, not a string");
    dir.write("runs/a/run.json", R"({"variant": "a", "lr": 0.1, "seed": 0})");
    dir.write("runs/a/eval.json", R"({"parameters": 1})");
    CHECK(error_of([&] { read_run(dir.str(), "runs/a"); }) ==
          dir / "runs/a/eval.json" + ": missing key \"state_floats\"");
    CHECK(error_of([&] { read_runs(dir / "nowhere"); }) ==
          "study directory '" + dir / "nowhere" + "' has no runs/ folder");
  }
}
