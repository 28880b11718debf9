// `lat-bench train` on the CPU: the trainer's step timed, and LAT_PROFILE_OPS's per-op table. Both run the real
// binary on the tiny recipe (tests/support/tiny_training.h).
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "tests/support/shell.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_training.h"

using lat::testing::run_shell;
using lat::testing::TempDir;

namespace {

std::string bench_command(TempDir& dir) {
  const std::string data = dir.write("corpus.txt", lat::testing::tiny_corpus());
  const std::string recipe = dir.write("tiny.toml", lat::testing::kTinyRecipe);
  return std::string(LAT_BINARY_DIR) + "/tools/lat-bench train " + recipe + " --steps 2 --warmup 1 --set data.path=" +
         data;
}

}  // namespace

TEST_CASE("lat-bench train prints tokens/s, MFU and the compute dtype of the trainer's step") {
  TempDir dir("bench_train");
  const auto r = run_shell(bench_command(dir));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("f32 compute (fp32 master weights)") != std::string::npos);  // the CPU trains in fp32
  CHECK(r.output.find("tokens/s ") != std::string::npos);
  CHECK(r.output.find("MFU ") != std::string::npos);
  CHECK(r.output.find("LAT_PROFILE_OPS") == std::string::npos);  // no table unless asked
}

TEST_CASE("LAT_PROFILE_OPS=1 prints a per-op table of the timed steps, forward and backward") {
  TempDir dir("bench_profile");
  const auto r = run_shell("LAT_PROFILE_OPS=1 " + bench_command(dir));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("LAT_PROFILE_OPS: ") != std::string::npos);
  CHECK(r.output.find("forward matmul") != std::string::npos);
  CHECK(r.output.find("backward matmul") != std::string::npos);
  CHECK(r.output.find("backward lightning_attention") != std::string::npos);
  CHECK(r.output.find("optimizer global norm + guard + clip + AdamW") != std::string::npos);
  // Timed steps only: per step 2 layers x (q, k, v, o, w_gate, w_up, w_down) + the LM head = 15 matmuls (the tiny
  // recipe has no gate), so 30 over the 2 timed steps; counting the warm-up step too would give 45.
  const size_t at = r.output.find("forward matmul");
  std::istringstream row(r.output.substr(at, r.output.find('\n', at) - at));
  std::string phase, op;
  double ms = 0;
  long calls = 0;
  row >> phase >> op >> ms >> calls;
  CHECK(calls == 30);
  CHECK(ms > 0);
}
