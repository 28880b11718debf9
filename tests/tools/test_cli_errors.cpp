// The command-line tools on bad input: a one-line error naming the offending thing, a non-zero exit, and
// existing checkpoints left untouched. Runs the real lat-train / lat-export / lat-bench binaries.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/shell.h"
#include "support/temp_dir.h"
#include "support/tool_files.h"

using lat::testing::TempDir;
using lat::testing::run_shell;
using Outcome = lat::testing::ShellResult;

using lat::testing::tool;
using lat::testing::slurp;

namespace {

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("lat-train and lat-export refuse bad input with one line and a non-zero exit") {
  TempDir dir("cli");
  std::string corpus;
  for (int i = 0; i < 200; ++i) corpus += "And God said, Let there be light: and there was light.\n";
  const std::string data = dir.write("corpus.txt", corpus);
  const std::string recipe = dir.write("tiny.toml", R"(
[model]
d_model = 16
layers = 1
mlp_hidden = 32
[attention]
heads = 2
[data]
path = ")" + data + R"("
[training]
steps = 4
batch_size = 2
seq_len = 16
device = "cpu"
eval_interval = 0
[logging]
level = "warn"
)");
  const std::string run_dir = dir / "run";
  const std::string train = tool("lat-train") + " " + recipe + " --run-dir " + run_dir + " --no-sample";
  Outcome ok = run_shell(train);
  REQUIRE_MESSAGE(ok.exit_code == 0, ok.output);
  const std::string ckpt = run_dir + "/checkpoints/step_00000004.h5";
  REQUIRE(std::filesystem::exists(ckpt));
  const std::string before = slurp(ckpt);

  struct Case {
    const char* what;
    std::string command;
    const char* must_name;
  };
  const std::string bad_recipe = dir.write("bad_key.toml", "[training]\nstepz = 3\n");
  const std::string bad_type = dir.write("bad_type.toml", "[training]\nsteps = \"many\"\n");
  const std::string corrupt = dir.write("corrupt.h5", std::string(4096, '\x5a'));
  const Case cases[] = {
      {"unknown recipe key", tool("lat-train") + " " + bad_recipe + " --run-dir " + run_dir, "training.stepz"},
      {"wrong type", tool("lat-train") + " " + bad_type + " --run-dir " + run_dir, "training.steps"},
      {"unknown --set key", train + " --set training.stpes=3", "training.stpes"},
      {"missing data file", train + " --set data.path=" + dir / "nope.txt", "nope.txt"},
      {"missing recipe file", tool("lat-train") + " " + dir / "missing.toml", "missing.toml"},
      {"corrupted checkpoint", train + " --resume " + corrupt, "corrupt.h5"},
      {"unwritable run directory", tool("lat-train") + " " + recipe + " --run-dir " + data + "/run", "run directory"},
      {"export of a corrupted checkpoint", tool("lat-export") + " " + corrupt + " " + dir / "out.h5", "corrupt.h5"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Outcome r = run_shell(c.command);
    CAPTURE(r.output);
    CHECK(r.exit_code != 0);
    CHECK(lines(r.output) == 1);
    CHECK(r.output.find(c.must_name) != std::string::npos);
  }
  CHECK(slurp(ckpt) == before);
  CHECK(!std::filesystem::exists(dir / "out.h5"));
}

TEST_CASE("every tool refuses a malformed command line with one line naming the option and exit code 2") {
  struct Case {
    std::string command;
    const char* must_name;
  };
  const Case cases[] = {
      {tool("lat-train") + " --stop-after abc", "--stop-after: 'abc' is not a positive integer"},
      {tool("lat-train") + " --stop-after 0", "--stop-after: '0' is not a positive integer"},
      {tool("lat-train") + " --stop-after 1.5", "--stop-after: '1.5' is not a positive integer"},
      {tool("lat-train") + " --no-such-option", "--no-such-option"},
      {tool("lat-generate") + " --tokens -3 step.h5", "--tokens: '-3' is not a non-negative integer"},
      {tool("lat-generate") + " --temperature hot step.h5", "--temperature: 'hot' is not a non-negative number"},
      {tool("lat-generate"), "checkpoint is required"},
      {tool("lat-export") + " step.h5", "out is required"},
      {tool("lat-bench"), "subcommand is required"},
      {tool("lat-bench") + " gemm-cpu --size 0", "--size: '0' is not a positive integer"},
      {tool("lat-bench") + " attention-cpu --repeat x", "--repeat: 'x' is not a positive integer"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.command);
    Outcome r = run_shell(c.command);
    CAPTURE(r.output);
    CHECK(r.exit_code == 2);
    CHECK(lines(r.output) == 1);
    CHECK(r.output.find(c.must_name) != std::string::npos);
  }
}

#ifdef LAT_HAVE_CUDA
// `lat-bench la2 <args>` is refused with one line naming `named` and a non-zero exit. Options are parsed before
// the device is touched, so this runs on machines without a GPU too.
namespace {
void check_la2_refuses(const std::string& args, const std::string& named) {
  CAPTURE(args);
  Outcome r = run_shell(tool("lat-bench") + " la2 " + args);
  CAPTURE(r.output);
  CHECK(r.exit_code != 0);
  CHECK(lines(r.output) == 1);
  CHECK(r.output.find(named) != std::string::npos);
}
}  // namespace

TEST_CASE("lat-bench la2 refuses a --shape that is not BxHxN with one line and a non-zero exit") {
  for (const std::string shape : {"2x3", "1x2x3x", "0x8x1024", "1x-8x1024"})
    check_la2_refuses("--shape " + shape, "'" + shape + "'");
}

TEST_CASE("lat-bench la2 refuses a --flat-tokens that does not split into N = 1K ... 128K, before any measuring") {
  for (const std::string tokens : {"0", "-131072", "abc", "1.5"})
    check_la2_refuses("--flat-tokens=" + tokens, "--flat-tokens: '" + tokens + "' is not a positive integer");
  check_la2_refuses("--flat-tokens=1000000", "--flat-tokens 1000000 is not a positive multiple of 131072");
  check_la2_refuses("--repeat=x", "--repeat: 'x' is not a positive integer");
}
#endif

TEST_CASE("SIGINT makes lat-train write a checkpoint and exit cleanly, and the run resumes from it") {
  TempDir dir("sigint");
  std::string corpus;
  for (int i = 0; i < 4000; ++i) corpus += "And God said, Let there be light: and there was light.\n";
  const std::string data = dir.write("corpus.txt", corpus);
  const std::string args = " --set data.path=" + data + " --set training.steps=100000 --set training.device=cpu" +
                           " --set logging.level=warn --set training.eval_interval=0 --set checkpoint.interval=0" +
                           " --run-dir " + dir / "run" + " --no-sample";
  const std::string train = tool("lat-train") + " " + std::string(LAT_SOURCE_DIR) + "/recipes/quickstart.toml";
  // Start, let it take a few steps, interrupt, and collect the exit status.
  const Outcome r = run_shell("(" + train + args + " & pid=$!; sleep 3; kill -INT $pid; wait $pid; echo exit=$?)");
  CAPTURE(r.output);
  CHECK(r.output.find("exit=0") != std::string::npos);
  REQUIRE(std::filesystem::is_directory(dir / "run/checkpoints"));
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "run/checkpoints")) count += entry.path().extension() == ".h5";
  CHECK(count == 1);
  const Outcome resumed = run_shell(train + args + " --resume auto --stop-after 1");
  CAPTURE(resumed.output);
  CHECK(resumed.exit_code == 0);
}
