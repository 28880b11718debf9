// lat-study end to end on the shipped smoke study (recipes/study/smoke.toml, CPU): the report and every plot
// are written; the report's cells are recomputed here from the runs' own eval.json files; a study killed with
// SIGKILL and rerun, and a study cut into two shards and merged, give the same results as one uninterrupted
// study; bad study files get one-line errors. Runs the real lat-study binary from the source folder (the smoke
// study reads data/kjv/, which tools/setup.sh writes).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "core/json.h"
#include "support/sample_stats.h"
#include "support/shell.h"
#include "support/temp_dir.h"

using lat::Json;
using lat::testing::run_shell;
using lat::testing::TempDir;
namespace fs = std::filesystem;

using lat::testing::mean_of;
using lat::testing::std_of;

namespace {

std::string lat_study(const std::string& args) {
  return "cd " + std::string(LAT_SOURCE_DIR) + " && OMP_NUM_THREADS=1 timeout 300 " + std::string(LAT_BINARY_DIR) +
         "/tools/lat-study " + args;
}

// The deterministic part of a report (report.h: "results" is byte-identical for the same runs).
std::string results_of(const std::string& study_dir) {
  return Json::parse_file(study_dir + "/report.json").at("results").dump(1);
}

// A whole smoke study into `dir`, once per test binary run (the three comparisons below reuse it).
const std::string& reference_study() {
  static TempDir dir("study_reference");
  static bool done = false;
  if (!done) {
    const auto r = run_shell(lat_study("recipes/study/smoke.toml --study-dir " + dir.str()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    done = true;
  }
  static const std::string path = dir.str();
  return path;
}

// Same structure, strings and integers, and numbers equal to 1e-12 relative: a report recomputed by another build
// (another compiler's libm and contractions) may differ in the last bit of a standard deviation.
void check_same_numbers(const Json& a, const Json& b, const std::string& path) {
  INFO(path);
  REQUIRE(a.kind() == b.kind());
  if (a.is_object()) {
    REQUIRE(a.members().size() == b.members().size());
    for (size_t i = 0; i < a.members().size(); ++i) {
      REQUIRE(a.members()[i].first == b.members()[i].first);
      check_same_numbers(a.members()[i].second, b.members()[i].second, path + "/" + a.members()[i].first);
    }
  } else if (a.is_array()) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) check_same_numbers(a.items()[i], b.items()[i], path + "[" + std::to_string(i) + "]");
  } else if (a.is_number()) {
    const double x = a.as_double(path), y = b.as_double(path);
    CHECK(std::abs(x - y) <= 1e-12 * std::max(std::abs(x), std::abs(y)));
  } else {
    CHECK(a.dump() == b.dump());
  }
}

}  // namespace

TEST_CASE("lat-study smoke: report.md, report.json and every plot, and each table cell recomputed from the runs' eval.json") {
  const std::string& dir = reference_study();
  for (const char* f : {"report.md", "report.json", "plots/loss_vs_tokens.svg", "plots/loss_vs_seconds.svg",
                        "plots/lr_curves.svg", "plots/per_position.svg", "plots/forest.svg"}) {
    INFO(f);
    CHECK(fs::file_size(dir + "/" + f) > 200);
  }
  // Independent recomputation: variant -> lr -> seed -> (val, test) bits per byte, straight from eval.json.
  std::map<std::string, std::map<double, std::map<int64_t, std::pair<double, double>>>> scores;
  int runs = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir + "/runs")) {
    if (e.path().filename() != "eval.json") continue;
    const Json run = Json::parse_file((e.path().parent_path() / "run.json").string());
    const Json eval = Json::parse_file(e.path().string());
    scores[run.at("variant").as_string("variant")][run.at("lr").as_double("lr")][run.at("seed").as_int("seed")] = {
        eval.at("val").at("bits_per_byte").as_double("val"), eval.at("test").at("bits_per_byte").as_double("test")};
    ++runs;
  }
  CHECK(runs == 12);  // 3 variants x 2 learning rates x 2 seeds
  const Json results = Json::parse_file(dir + "/report.json").at("results");
  CHECK(results.at("metric").as_string("metric") == "bits_per_byte");
  std::map<std::string, std::map<int64_t, double>> best_test;  // variant -> seed -> test at its best lr
  for (const Json& cell : results.at("cells").items()) {
    const std::string variant = cell.at("variant").as_string("variant");
    INFO(variant);
    // The learning rate with the lowest mean validation score (ties: the smaller lr), chosen here.
    double best_lr = 0, best_val = INFINITY;
    for (const auto& [lr, by_seed] : scores.at(variant)) {
      std::vector<double> val;
      for (const auto& [seed, s] : by_seed) val.push_back(s.first);
      if (mean_of(val) < best_val) best_val = mean_of(val), best_lr = lr;
    }
    CHECK(cell.at("best_lr").as_double("best_lr") == best_lr);
    std::vector<double> test;
    for (const auto& [seed, s] : scores.at(variant).at(best_lr)) {
      test.push_back(s.second);
      best_test[variant][seed] = s.second;
    }
    CHECK(cell.at("test").at("mean").as_double("mean") == doctest::Approx(mean_of(test)).epsilon(1e-12));
    CHECK(cell.at("test").at("std").as_double("std") == doctest::Approx(std_of(test)).epsilon(1e-12));
    // 95 % CI with n = 2: t(0.975, 1) = 12.7062 (published table).
    const double half = 12.7062047 * std_of(test) / std::sqrt(2.0);
    CHECK(cell.at("test").at("ci95").items()[0].as_double("lo") == doctest::Approx(mean_of(test) - half).epsilon(1e-6));
  }
  for (const Json& cell : results.at("cells").items()) {
    const std::string variant = cell.at("variant").as_string("variant");
    if (variant == "softmax") continue;
    INFO(variant);
    std::vector<double> diffs;
    for (const auto& [seed, v] : best_test.at(variant)) diffs.push_back(v - best_test.at("softmax").at(seed));
    const Json& d = cell.at("difference");
    CHECK(d.at("mean").as_double("mean") == doctest::Approx(mean_of(diffs)).epsilon(1e-12));
    CHECK(d.at("std").as_double("std") == doctest::Approx(std_of(diffs)).epsilon(1e-12));
  }
  // cosFormer cannot run past its M (= the training context): the runs say so instead of failing.
  const Json cosine = Json::parse_file(dir + "/runs/cosine/lr=0.003/seed=1/eval.json").at("positions");
  REQUIRE(cosine.size() == 3);  // eval_lengths = [1, 2, 4]
  CHECK(cosine.items()[0].at("available").as_bool("available"));
  CHECK_FALSE(cosine.items()[1].at("available").as_bool("available"));
  CHECK(cosine.items()[1].at("reason").as_string("reason").find("cosFormer") != std::string::npos);
  const Json elu1 = Json::parse_file(dir + "/runs/elu1/lr=0.003/seed=1/eval.json").at("positions");
  CHECK(elu1.items()[2].at("available").as_bool("available"));
  CHECK(elu1.items()[2].at("length").as_int("length") == 128);
}

TEST_CASE("lat-study killed with SIGKILL midway and rerun gives the report of an uninterrupted study") {
  const std::string& reference = reference_study();
  TempDir dir("study_killed");
  // Start the study, wait until it is inside its sixth run (grid order: seed, lr, variant), then SIGKILL it.
  const std::string pid_file = dir / "pid";
  run_shell(lat_study("recipes/study/smoke.toml --study-dir " + dir / "s" + " > " + dir / "log" + " 2>&1 & echo $! > " +
                      pid_file));
  const std::string sixth = dir / "s/runs/cosine/lr=0.01/seed=1/run.json";
  for (int i = 0; i < 600 && !fs::exists(sixth); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(fs::exists(sixth));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // The shell wrapper's child is lat-study itself (cd && timeout lat-study): kill the whole group below it.
  run_shell("pkill -9 -f -- '--study-dir " + dir / "s" + "'");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK_FALSE(fs::exists(dir / "s/report.json"));
  const auto r = run_shell(lat_study("recipes/study/smoke.toml --study-dir " + dir / "s"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(results_of(dir / "s") == results_of(reference));
}

TEST_CASE("lat-study --shard 1/2 plus --shard 2/2 plus --report-only equals one unsharded study") {
  const std::string& reference = reference_study();
  TempDir dir("study_sharded");
  for (const char* shard : {"1/2", "2/2"}) {
    const auto r = run_shell(lat_study("recipes/study/smoke.toml --shard " + std::string(shard) + " --study-dir " + dir / "s"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_FALSE(fs::exists(dir / "s/report.json"));  // a shard leaves the report to --report-only
  }
  const auto r = run_shell(lat_study("recipes/study/smoke.toml --report-only --study-dir " + dir / "s"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(results_of(dir / "s") == results_of(reference));
}

TEST_CASE("lat-study refuses bad study files with one line naming the problem, and --dry-run lists the grid") {
  TempDir dir("study_errors");
  const std::string base = std::string(LAT_SOURCE_DIR) + "/recipes/kjv/base.toml";
  const std::string head = "recipe = \"" + base + "\"\nlearning_rates = [1e-3]\nseeds = [1]\n";
  const std::string variant = "[[variant]]\nname = \"a\"\nset = [\"attention.kind=softmax\"]\n";
  struct Case {
    const char* what;
    std::string text;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"unknown axis key", head + "[axes]\n\"model.widht\" = [64]\n" + variant, "'model.widht' is not a recipe key"},
      {"empty variant name", head + "[[variant]]\nname = \"\"\nset = []\n", "a [[variant]] without a name"},
      {"duplicate variant", head + variant + variant, "variant 'a' is defined twice"},
      {"override the recipe layer refuses", head + "[[variant]]\nname = \"bad\"\nset = [\"attention.heads=0\"]\n",
       "variant 'bad'"},
      {"override of an unknown key", head + "[[variant]]\nname = \"typo\"\nset = [\"attention.hedas=2\"]\n",
       "variant 'typo'"},
      {"no variants", head, "at least one [[variant]]"},
      {"baseline not a variant", head + "baseline = \"softmax\"\n" + variant, "baseline: 'softmax'"},
      {"axis over the learning rate", head + "[axes]\n\"optimizer.lr\" = [1e-3]\n" + variant, "use learning_rates"},
      {"unknown study key", head + "seed = [1]\n" + variant, "seed: unknown study key"},
      {"negative learning rate", "recipe = \"" + base + "\"\nlearning_rates = [-1e-3]\nseeds = [1]\n" + variant,
       "learning_rates"},
      {"missing base recipe", "recipe = \"nope.toml\"\nlearning_rates = [1e-3]\nseeds = [1]\n" + variant, "nope.toml"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string file = dir.write(std::string("s") + ".toml", c.text);
    const auto r = run_shell(lat_study(file + " --study-dir " + dir / "out" + " --dry-run"));
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find(c.expect) != std::string::npos);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(dir / "out"));
  }
  const auto r = run_shell(lat_study("recipes/study/smoke.toml --dry-run --study-dir " + dir / "dry"));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("12 runs") != std::string::npos);
  CHECK(r.output.find("runs/cosine/lr=0.01/seed=2") != std::string::npos);
  CHECK(r.output.find("parameters") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "dry"));
}

TEST_CASE("the committed study reports reproduce: --report-only on their committed run files gives their results") {
  for (const char* name : {"lm", "mqar_cpu"}) {
    INFO(name);
    const std::string committed = std::string(LAT_SOURCE_DIR) + "/docs/study/" + name;
    TempDir dir(std::string("study_committed_") + name);
    fs::copy(committed + "/runs", dir / "runs", fs::copy_options::recursive);
    const auto r = run_shell(lat_study("recipes/study/" + std::string(name) + ".toml --report-only --study-dir " + dir.str()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    check_same_numbers(Json::parse_file(dir / "report.json").at("results"),
                       Json::parse_file(committed + "/report.json").at("results"), "results");
  }
}
