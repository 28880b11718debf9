// lat-train on the comparison's variants, through the real binary: the end-of-run sample of a cosFormer model
// stops at max_context instead of failing the run, and --print-recipe shows what FAVOR+'s auto keys resolve
// to.
#include <doctest/doctest.h>

#include <string>

#include "support/shell.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"

using lat::testing::run_shell;
using lat::testing::TempDir;

namespace {

std::string lat_train() {
  return std::string(LAT_BINARY_DIR) + "/tools/lat-train";
}

// The line of `text` that starts with `prefix` ("" if none).
std::string line_starting(const std::string& text, const std::string& prefix) {
  for (size_t at = 0; at < text.size();) {
    const size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (line.rfind(prefix, 0) == 0) return line;
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return "";
}

}  // namespace

TEST_CASE("lat-train: a cosine run's sample stops at max_context and the run exits 0") {
  TempDir dir("cosine_sample");
  const std::string data = dir.write("corpus.txt", lat::testing::tiny_corpus());
  const std::string held_out = dir.write("held_out.txt", lat::testing::tiny_corpus());
  // The shipped cosine recipe, shrunk: seq_len 16 makes max_context 16, shorter than the 300-token sample.
  const std::string cmd = lat_train() + " " + LAT_SOURCE_DIR + "/recipes/kjv/cosine.toml --run-dir " +
                          (dir / "run") + " --set data.path=" + data + " --set data.val_path=" + held_out +
                          " --set model.d_model=16 --set model.layers=1 --set model.mlp_hidden=32"
                          " --set attention.heads=2 --set attention.block=8 --set training.seq_len=16"
                          " --set training.batch_size=2 --set training.steps=2 --set schedule.warmup_steps=1"
                          " --set training.eval_interval=0 --set training.device=cpu";
  const lat::testing::ShellResult r = run_shell(cmd);
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("attention.max_context = 16") != std::string::npos);
  CHECK(r.output.find("sample (prompt \"And God said\"") != std::string::npos);
}

TEST_CASE("lat-train --print-recipe shows FAVOR+'s resolved feature count and redraw interval") {
  const std::string recipe = std::string(LAT_SOURCE_DIR) + "/recipes/kjv/random.toml";
  const lat::testing::ShellResult r = run_shell(lat_train() + " " + recipe + " --print-recipe");
  CAPTURE(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(line_starting(r.output, "feature_dim = 0").find("(here: 64)") != std::string::npos);
  CHECK(line_starting(r.output, "redraw_interval = -1").find("(here: 100)") != std::string::npos);
  const lat::testing::ShellResult fixed =
      run_shell(lat_train() + " " + recipe +
                " --print-recipe --set attention.feature_dim=48 --set attention.redraw_interval=0");
  REQUIRE(line_starting(fixed.output, "feature_dim = 48") != "");
  CHECK(line_starting(fixed.output, "feature_dim = 48").find("here") == std::string::npos);
  CHECK(line_starting(fixed.output, "redraw_interval = 0 ") != "");
}
