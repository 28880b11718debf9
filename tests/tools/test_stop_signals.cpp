// Stop requests where a step or a generation never ends on its own: SIGTERM during a step of 10^12
// micro-batches, and during a generation of 10^12 tokens that streams what it has (core/stop.h).
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "support/shell.h"
#include "support/temp_dir.h"
#include "support/tool_files.h"
#include "support/tiny_training.h"

using lat::testing::run_shell;
using lat::testing::TempDir;
using Outcome = lat::testing::ShellResult;

using lat::testing::tool;

namespace {

// Runs `command` in the background, sends SIGTERM after `seconds`, and reports "exit=<status>" last.
Outcome terminate_after(const std::string& command, double seconds) {
  return run_shell("(" + command + " & pid=$!; sleep " + std::to_string(seconds) +
                   "; kill -TERM $pid; wait $pid; echo exit=$?)");
}

}  // namespace

TEST_CASE(
    "SIGTERM ends a step of 10^12 micro-batches between two of them, with a checkpoint of the last step") {
  TempDir dir("stop_accum");
  const std::string corpus = dir.write("corpus.txt", lat::testing::tiny_corpus());
  const std::string recipe = dir.write("tiny.toml", lat::testing::kTinyRecipe);
  const std::string train = tool("lat-train") + " " + recipe + " --set data.path=" + corpus +
                            " --set training.grad_accum=1000000000000 --no-sample --run-dir " + dir / "run";
  const Outcome r = terminate_after(train, 2);
  CAPTURE(r.output);
  CHECK(r.output.find("exit=0") != std::string::npos);
  CHECK(r.seconds < 20);
  // Stopped inside step 1: the state is step 0's, and the checkpoint says so.
  CHECK(std::filesystem::exists(dir / "run/checkpoints/step_00000000.h5"));
}

TEST_CASE("lat-generate streams its tokens and stops on SIGTERM during a generation of 10^12 tokens") {
  TempDir dir("stop_generate");
  const std::string corpus = dir.write("corpus.txt", lat::testing::tiny_corpus());
  const std::string recipe = dir.write("tiny.toml", lat::testing::kTinyRecipe);
  // A context of 10^9 tokens: the budget no longer ends the generation.
  const Outcome trained =
      run_shell(tool("lat-train") + " " + recipe + " --set data.path=" + corpus +
                " --set training.steps=5 --set attention.max_context=1000000000 --no-sample" + " --run-dir " +
                dir / "run");
  REQUIRE_MESSAGE(trained.exit_code == 0, trained.output);
  const std::string generate = tool("lat-generate") + " " + dir / "run/checkpoints/step_00000005.h5" +
                               " --prompt Light --tokens 1000000000000";
  const Outcome r = terminate_after(generate, 2);
  CAPTURE(r.output.substr(0, 200));
  CHECK(r.output.find("exit=0") != std::string::npos);
  CHECK(r.seconds < 20);
  // The prompt and then tokens, printed as they came (at least some hundreds in 2 s of a 2-layer model).
  CHECK(r.output.rfind("Light", 0) == 0);
  CHECK(r.output.size() > 200);
}

TEST_CASE("lat-generate --tokens 10^12 on a model with a short context ends at the context, at once") {
  TempDir dir("long_generate");
  const std::string corpus = dir.write("corpus.txt", lat::testing::tiny_corpus());
  const std::string recipe = dir.write("tiny.toml", lat::testing::kTinyRecipe);
  const Outcome trained = run_shell(tool("lat-train") + " " + recipe + " --set data.path=" + corpus +
                                    " --set training.steps=5 --no-sample --run-dir " + dir / "run");
  REQUIRE_MESSAGE(trained.exit_code == 0, trained.output);
  const Outcome r = run_shell(tool("lat-generate") + " " + dir / "run/checkpoints/step_00000005.h5" +
                              " --prompt Light --tokens 1000000000000");
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.seconds < 20);
  CHECK(r.output.find("Light") != std::string::npos);
}
