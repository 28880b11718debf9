// Checkpoints and run directories under damage and misuse, through the real lat-train / lat-export /
// lat-generate binaries: each refusal exits non-zero with one line naming the offending file, and leaves
// every file that existed before byte-identical; no input crashes a tool (exit >= 128).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "support/shell.h"
#include "support/temp_dir.h"
#include "support/tool_files.h"
#include "trainers/checkpoint.h"

using lat::testing::run_shell;
using lat::testing::TempDir;
using Outcome = lat::testing::ShellResult;
namespace fs = std::filesystem;

using lat::testing::tool;
using lat::testing::slurp;

namespace {

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Every file under `dir` with its bytes: compared before and after a command to prove nothing was damaged.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[e.path().string()] = slurp(e.path().string());
  return files;
}

// The steps of metrics.jsonl, in file order.
std::vector<int64_t> metric_steps(const std::string& path) {
  std::vector<int64_t> steps;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) steps.push_back(std::stoll(line.substr(line.find(':') + 1)));
  return steps;
}

std::vector<int64_t> one_to(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

// A tiny run: 1 layer, d_model 16, 4 steps, a checkpoint every 2 steps, every step logged.
struct TinyRun {
  TempDir dir{"ckpt_safety"};
  std::string recipe, run_dir;
  TinyRun() {
    std::string corpus;
    for (int i = 0; i < 200; ++i) corpus += "And God said, Let there be light: and there was light.\n";
    const std::string data = dir.write("corpus.txt", corpus);
    recipe = dir.write("tiny.toml",
                       "[model]\nd_model = 16\nlayers = 1\nmlp_hidden = 32\n[attention]\nheads = 2\n"
                       "[data]\npath = \"" +
                           data +
                           "\"\n[training]\nsteps = 4\nbatch_size = 2\n"
                           "seq_len = 16\ndevice = \"cpu\"\neval_interval = 0\n[checkpoint]\ninterval = 2\n"
                           "keep_last = 0\n[logging]\ninterval = 1\nlevel = \"warn\"\n");
    run_dir = dir / "run";
  }
  std::string train(const std::string& args, const std::string& run = "") const {
    return tool("lat-train") + " " + recipe + " --no-sample --run-dir " + (run.empty() ? run_dir : run) +
           " " + args;
  }
  std::string ckpt(int64_t step) const { return lat::checkpoint_path(run_dir + "/checkpoints", step); }
  std::string metrics() const { return run_dir + "/metrics.jsonl"; }
};

// A refusal: non-zero (not a crash), one line on stdout + stderr that contains `named`, no file changed.
void check_refused(const std::string& command, const std::string& named, const std::string& dir) {
  CAPTURE(command);
  const auto before = snapshot(dir);
  const Outcome r = run_shell(command);
  CAPTURE(r.output);
  CHECK(r.exit_code == 1);
  CHECK(lines(r.output) == 1);
  CHECK(r.output.find(named) != std::string::npos);
  CHECK(r.output.find("stoll") == std::string::npos);
  CHECK(snapshot(dir) == before);
}

}  // namespace

TEST_CASE(
    "flipped bytes: lat-export, lat-train --resume and lat-generate refuse with one line and never crash") {
  TinyRun t;
  REQUIRE(run_shell(t.train("")).exit_code == 0);
  const std::string original = slurp(t.ckpt(4));
  const std::string damaged = t.dir / "damaged.h5";
  const std::string out = t.dir / "analysis.h5";
  const std::string export_cmd = tool("lat-export") + " " + damaged + " " + out;
  const std::string generate_cmd = tool("lat-generate") + " " + damaged + " --tokens 8 --seed 3";
  const std::string resume_cmd = t.train("--resume " + damaged, t.dir / "resumed");
  // Reference outputs from the undamaged file (a flip that changed nothing must behave identically).
  spit(damaged, original);
  const Outcome export_ok = run_shell(export_cmd), generate_ok = run_shell(generate_cmd);
  REQUIRE(export_ok.exit_code == 0);
  REQUIRE(generate_ok.exit_code == 0);
  fs::remove(out);

  // 200 deterministic offsets spread over the file, plus the heap that holds the root `recipe` attribute.
  std::vector<size_t> offsets;
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 200; ++i)
    offsets.push_back((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 33);
  const size_t recipe_at = original.find("[model]");
  REQUIRE(recipe_at != std::string::npos);
  for (size_t k = 0; k < 5; ++k) offsets.push_back(recipe_at + k * 7);
  int refused = 0;
  for (size_t& offset : offsets) {
    offset %= original.size();
    std::string bytes = original;
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x40);
    spit(damaged, bytes);
    CAPTURE(offset);
    for (const std::string& command : {export_cmd, generate_cmd, resume_cmd}) {
      const Outcome r = run_shell(command);
      CAPTURE(command);
      CAPTURE(r.output);
      CHECK(r.exit_code < 128);
      if (r.exit_code == 0) {
        if (command == export_cmd) CHECK(r.output == export_ok.output);
        if (command == generate_cmd) CHECK(r.output == generate_ok.output);
      } else {
        CHECK(r.exit_code == 1);
        CHECK(lines(r.output) == 1);
        CHECK(r.output.find("checkpoint '" + damaged + "'") != std::string::npos);
        ++refused;
      }
    }
    CHECK(slurp(damaged) == bytes);
    CHECK(!fs::exists(out));
  }
  CHECK(refused == static_cast<int>(3 * offsets.size()));  // the seal catches every flipped byte
}

TEST_CASE("lat-export refuses to write over its input or any checkpoint") {
  TinyRun t;
  REQUIRE(run_shell(t.train("")).exit_code == 0);
  check_refused(tool("lat-export") + " " + t.ckpt(4) + " " + t.ckpt(4),
                "output '" + t.ckpt(4) + "' is a lat checkpoint", t.dir.path());
  check_refused(tool("lat-export") + " " + t.ckpt(4) + " " + t.ckpt(2),
                "output '" + t.ckpt(2) + "' is a lat checkpoint", t.dir.path());
  check_refused(tool("lat-export") + " " + t.ckpt(4) + " " + t.recipe, "output '" + t.recipe + "' exists",
                t.dir.path());
  const std::string out = t.dir / "analysis.h5";
  CHECK(run_shell(tool("lat-export") + " " + t.ckpt(4) + " " + out).exit_code == 0);
  CHECK(run_shell(tool("lat-export") + " " + t.ckpt(2) + " " + out).exit_code ==
        0);  // replacing an export is fine
}

TEST_CASE("a fresh run refuses a run directory that holds a run, --overwrite clears it and starts over") {
  TinyRun t;
  REQUIRE(run_shell(t.train("")).exit_code == 0);
  check_refused(t.train(""), "run directory '" + t.run_dir + "' already holds a run", t.dir.path());
  check_refused(t.train("--overwrite --resume auto"), "--overwrite starts a fresh run", t.dir.path());
  check_refused(t.train("--allow-fresh"), "--allow-fresh applies only to --resume auto", t.dir.path());
  // A run directory holding only metrics (killed before its first checkpoint) is a run too.
  TinyRun u;
  fs::create_directories(u.run_dir);
  spit(u.metrics(), "{\"step\": 1, \"loss\": 5.5}\n");
  check_refused(u.train(""), "already holds a run", u.dir.path());

  const std::string notes = t.dir.write("run/notes.txt", "mine");
  const Outcome r = run_shell(t.train("--overwrite --set training.steps=2"));
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(lat::list_checkpoints(t.run_dir + "/checkpoints") == std::vector<std::string>{t.ckpt(2)});
  CHECK(metric_steps(t.metrics()) == one_to(2));
  CHECK(slurp(notes) == "mine");
}

TEST_CASE(
    "--resume auto skips a damaged newest checkpoint, and refuses to start fresh over only damaged ones") {
  TinyRun t;
  REQUIRE(run_shell(t.train("")).exit_code == 0);
  std::string bytes = slurp(t.ckpt(4));
  bytes[bytes.size() / 2] ^= 1;
  spit(t.ckpt(4), bytes);
  Outcome r = run_shell(t.train("--resume auto --set training.steps=6 --set logging.level=info"));
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("skipping unusable checkpoint: checkpoint '" + t.ckpt(4) +
                      "': damaged (checksum mismatch") != std::string::npos);
  CHECK(r.output.find("resumed from " + t.ckpt(2) + " at step 2") != std::string::npos);
  CHECK(metric_steps(t.metrics()) == one_to(6));

  // Now every checkpoint is damaged: no silent start from step 0 over them.
  for (int64_t step : {2, 4, 6}) spit(t.ckpt(step), "damaged");
  check_refused(t.train("--resume auto --set training.steps=6"),
                "--resume auto: no usable checkpoint in '" + t.run_dir +
                    "/checkpoints' (3 damaged; newest: checkpoint '" + t.ckpt(6) + "'",
                t.dir.path());
  r = run_shell(t.train("--resume auto --allow-fresh --set training.steps=3"));
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(metric_steps(t.metrics()) == one_to(3));
  CHECK(slurp(t.ckpt(4)) == "damaged");  // kept, never deleted
}

TEST_CASE("--resume PATH refuses an older checkpoint while the run holds newer ones, the latest resumes") {
  TinyRun t;
  REQUIRE(run_shell(t.train("")).exit_code == 0);
  check_refused(t.train("--resume " + t.ckpt(2) + " --set training.steps=6"),
                "--resume " + t.ckpt(2) + " continues from step 2, but this run's '" + t.ckpt(4) + "' is newer",
                t.dir.path());
  // Moved out of the way, the older checkpoint resumes, and metrics.jsonl follows it.
  fs::create_directories(t.dir / "old");
  fs::rename(t.ckpt(4), t.dir / "old/step_4.h5");
  Outcome r = run_shell(t.train("--resume " + t.ckpt(2) + " --set training.steps=6"));
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(metric_steps(t.metrics()) == one_to(6));
  // The newest checkpoint itself, and one from another directory's run, resume without complaint.
  r = run_shell(t.train("--resume " + t.ckpt(6) + " --set training.steps=8"));
  CHECK(r.exit_code == 0);
  r = run_shell(t.train("--resume " + (t.dir / "old/step_4.h5") + " --set training.steps=8", t.dir / "other"));
  CHECK(r.exit_code == 0);
}

TEST_CASE("after a crash past the last checkpoint, metrics.jsonl holds each step once, in order") {
  TinyRun t;
  REQUIRE(run_shell(t.train("")).exit_code == 0);
  // As if killed after logging steps 3 and 4 but before checkpoint 4 was renamed into place, mid-way through
  // a row, by a run that had already been resumed once without cutting the file (duplicates).
  fs::remove(t.ckpt(4));
  std::string rows = slurp(t.metrics());
  spit(t.metrics(), rows + rows.substr(0, rows.find('\n') + 1) + "{\"step\": 5, \"lo");
  const Outcome r = run_shell(t.train("--resume auto"));
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(metric_steps(t.metrics()) == one_to(4));
  const std::string text = slurp(t.metrics());
  CHECK(text.substr(0, rows.find("{\"step\": 3")) ==
        rows.substr(0, rows.find("{\"step\": 3")));  // rows 1-2 kept
}

TEST_CASE(
    "a stray checkpoint name is ignored with a warning, never 'stoll', stale .tmp files are cleaned up") {
  TinyRun t;
  const std::string stray = t.dir.write("run/checkpoints/step_99999999999999999999.h5", "stray");
  const std::string stale_ckpt = t.dir.write("run/checkpoints/step_00000002.h5.tmp", "half");
  const std::string stale_metrics = t.dir.write("run/metrics.jsonl.tmp", "half");
  const std::string other_tmp = t.dir.write("run/checkpoints/notes.tmp", "mine");
  Outcome r = run_shell(t.train(""));
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("stoll") == std::string::npos);
  CHECK(!fs::exists(stale_ckpt));
  CHECK(!fs::exists(stale_metrics));
  CHECK(slurp(other_tmp) == "mine");
  r = run_shell(t.train("--resume auto --set training.steps=6"));
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("ignoring '" + stray + "': not a checkpoint name lat writes") != std::string::npos);
  CHECK(metric_steps(t.metrics()) == one_to(6));
  CHECK(slurp(stray) == "stray");
}

TEST_CASE("NaN weights and a checkpoint of another model are refused, naming the file first") {
  TinyRun t;
  REQUIRE(run_shell(t.train("")).exit_code == 0);
  lat::Checkpoint c = lat::read_checkpoint(t.ckpt(4));
  c.model.at("layers.0.mlp.w_up.weight").data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  const std::string nan_file = t.dir / "nan.h5";
  lat::write_checkpoint(c, nan_file);
  const std::string nan_message =
      "checkpoint '" + nan_file + "': parameter layers.0.mlp.w_up.weight holds nan at flat index 5";
  check_refused(t.train("--resume " + nan_file, t.dir / "r2"), nan_message, t.dir.path());
  check_refused(tool("lat-generate") + " " + nan_file, nan_message, t.dir.path());
  check_refused(tool("lat-export") + " " + nan_file + " " + t.dir / "x.h5", nan_message, t.dir.path());

  // Written by a 2-layer model, resumed with the 1-layer recipe (and the reverse).
  REQUIRE(run_shell(t.train("--set model.layers=2", t.dir / "two")).exit_code == 0);
  const std::string two = lat::checkpoint_path(t.dir / "two/checkpoints", 4);
  check_refused(
      t.train("--resume " + two, t.dir / "r3"),
      "lat-train: checkpoint '" + two + "' does not match the recipe's model: it has parameter 'layers.1.",
      t.dir.path());
  check_refused(t.train("--resume " + t.ckpt(4) + " --set model.layers=2", t.dir / "r4"),
                "lat-train: checkpoint '" + t.ckpt(4) +
                    "' does not match the recipe's model: it has no parameter 'layers.1.",
                t.dir.path());
  check_refused(
      t.train("--resume " + t.ckpt(4) + " --set model.d_model=32 --set attention.heads=2", t.dir / "r5"),
      "lat-train: checkpoint '" + t.ckpt(4) + "' does not match the recipe's model: parameter", t.dir.path());
}
