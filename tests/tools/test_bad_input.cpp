// The bad-input suite (docs/reliability.md): the real binaries on wrong recipes, wrong command lines and
// wrong files. Every case must exit with the expected code (2 for a malformed command line, 1 otherwise),
// print one line "lat-<tool>: ..." naming the offending key, file or value, carry no source-file suffix
// ("[x.cpp:12]"), and leave every file of an existing run directory byte-identical.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "data/bpe_train.h"
#include "data/shards.h"
#include "data/tokenizer_json.h"
#include "support/shell.h"
#include "support/temp_dir.h"
#include "support/tool_files.h"
#include "support/tiny_training.h"

using lat::testing::run_shell;
using lat::testing::TempDir;
using Outcome = lat::testing::ShellResult;
namespace fs = std::filesystem;

using lat::testing::tool;
using lat::testing::slurp;

namespace {

// Every file under `dir` with its bytes.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files[entry.path().string()] = slurp(entry.path().string());
  return files;
}

// A shell word: the text in single quotes.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string shard_bytes(int32_t magic, int32_t version, int64_t declared, int64_t actual) {
  std::string bytes(static_cast<size_t>(lat::data::kShardHeaderBytes), '\0');
  auto* header = reinterpret_cast<int32_t*>(bytes.data());
  header[0] = magic;
  header[1] = version;
  header[2] = static_cast<int32_t>(declared);
  bytes += std::string(static_cast<size_t>(2 * actual), '\x01');
  return bytes;
}

struct Case {
  std::string what;
  std::string command;
  int exit_code;
  std::string must_name;  // a substring of the one line
};

}  // namespace

TEST_CASE(
    "bad input: every tool refuses with one line naming the culprit and leaves the run directory intact") {
  TempDir dir("bad_input");
  const std::string corpus = dir.write("corpus.txt", lat::testing::tiny_corpus());
  const std::string recipe = dir.write("tiny.toml", lat::testing::kTinyRecipe);
  const std::string run = dir / "run";
  const std::string base = tool("lat-train") + " " + recipe + " --set data.path=" + corpus + " --no-sample";
  const std::string train = base + " --run-dir " + run;
  {
    Outcome ok = run_shell(train + " --set training.steps=6 --set checkpoint.interval=3");
    REQUIRE_MESSAGE(ok.exit_code == 0, ok.output);
  }
  const std::string ckpt = run + "/checkpoints/step_00000006.h5";
  REQUIRE(fs::exists(ckpt));
  const auto before = snapshot(run);
  REQUIRE(before.size() >= 3);  // recipe.toml, metrics.jsonl, checkpoints

  // Files the cases point at.
  const std::string empty_file = dir.write("empty.txt", "");
  const std::string empty_folder = dir / "empty_folder";
  fs::create_directories(empty_folder);
  const std::string missing = dir / "missing.txt";
  const std::string garbage = dir.write("garbage.h5", std::string(4096, '\x5a'));
  const std::string half_h5 = dir.write("half.h5", slurp(ckpt).substr(0, slurp(ckpt).size() / 2));
  dir.write("shards/bad_magic.bin", shard_bytes(12345, 1, 8, 8));
  dir.write("shards_v/bad_version.bin", shard_bytes(lat::data::kShardMagic, 9, 8, 8));
  dir.write("shards_t/truncated.bin", shard_bytes(lat::data::kShardMagic, lat::data::kShardVersion, 1000, 8));
  dir.write("shards_n/negative.bin", shard_bytes(lat::data::kShardMagic, lat::data::kShardVersion, -5, 0));
  dir.write("shards_x/extra.bin", shard_bytes(lat::data::kShardMagic, lat::data::kShardVersion, 4, 8));
  dir.write("shards_s/short.bin", "tiny");
  // Tokenizers: a valid one of 300 ids, a cut-off file, another model type; shards with an id beyond 300.
  const std::string tok300 = dir / "tok300.json";
  {
    const std::string text = lat::testing::tiny_corpus();
    const std::string_view view(text);
    lat::data::BpeTrainOptions o;
    o.vocab_size = 300;
    lat::data::save_tokenizer_json(lat::data::train_bpe(std::span<const std::string_view>(&view, 1), o), tok300);
  }
  const std::string corrupt_tok = dir.write("corrupt.json", slurp(tok300).substr(0, 3000));
  const std::string wordpiece = dir.write("wordpiece.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  fs::create_directories(dir / "shards_big");
  lat::data::write_shard(dir / "shards_big/big.bin", std::vector<int32_t>(5000, 5000));
  const std::string tokenize = tool("lat-tokenize");
  auto shards = [&](const std::string& folder) {
    return train + " --set data.kind=shards --set data.pattern=" + dir / folder + "/*.bin";
  };
  auto recipe_file = [&](const std::string& name, const std::string& text) {
    return tool("lat-train") + " " + dir.write(name, text) + " --set data.path=" + corpus + " --run-dir " +
           run;
  };
  auto set = [&](const std::string& assignment) { return train + " --set " + quoted(assignment); };
  auto mqar = [&](const std::string& assignment) {
    return train + " --set data.kind=mqar --set data.vocab=64 --set training.seq_len=64 --set " +
           quoted(assignment);
  };
  const std::string gen = tool("lat-generate") + " " + ckpt;

  const std::vector<Case> cases = {
      // [model]
      {"zero width", set("model.d_model=0"), 1, "model.d_model: 0 is out of range"},
      {"width beyond 2^31 (allocation size overflow)", set("model.d_model=4611686018427387904"), 1,
       "model.d_model"},
      {"negative width", set("model.d_model=-5"), 1, "model.d_model"},
      {"width as text", set("model.d_model=abc"), 1, "model.d_model: expected an integer"},
      {"fractional width", set("model.d_model=1.5"), 1, "model.d_model: expected an integer"},
      {"width too large for memory", set("model.d_model=1000000"), 1, "model.d_model: this run needs about"},
      {"no layers", set("model.layers=0"), 1, "model.layers"},
      {"10^8 layers", set("model.layers=100000000"), 1, "model.layers: this run needs about"},
      {"negative MLP width", set("model.mlp_hidden=-1"), 1, "model.mlp_hidden"},
      {"zero MLP ratio", set("model.mlp_ratio=0"), 1, "model.mlp_ratio"},
      {"huge MLP ratio", set("model.mlp_hidden=0") + " --set model.mlp_ratio=1e300", 1, "model.mlp_ratio"},
      {"zero norm epsilon", set("model.norm_eps=0"), 1, "model.norm_eps"},
      {"norm epsilon above 1", set("model.norm_eps=2"), 1, "model.norm_eps"},
      {"vocabulary of 1", set("model.vocab_size=1"), 1, "model.vocab_size"},
      {"vocabulary smaller than the data's", set("model.vocab_size=100"), 1,
       "model.vocab_size: 100 is smaller"},
      {"boolean as a word", set("model.tie_embeddings=maybe"), 1,
       "model.tie_embeddings: expected true or false"},
      // [attention]
      {"unknown attention kind", set("attention.kind=quadratic"), 1,
       "attention.kind: unknown value \"quadratic\""},
      {"near-miss feature map", set("attention.feature_map=elu"), 1, "did you mean \"elu1\""},
      {"unknown normalisation", set("attention.normalize=layer"), 1, "attention.normalize"},
      {"unknown decay", set("attention.decay=exp"), 1, "attention.decay"},
      {"no heads", set("attention.heads=0"), 1, "attention.heads"},
      {"heads not dividing the width", set("attention.heads=3"), 1,
       "is not divisible by attention.heads = 3"},
      {"negative head width", set("attention.head_dim=-1"), 1, "attention.head_dim"},
      {"zero tile", set("attention.block=0"), 1, "attention.block"},
      {"tile of 10^11 (bad_alloc in OpenMP)", set("attention.block=100000000000"), 1, "attention.block"},
      {"context shorter than a sequence", set("attention.max_context=8"), 1, "attention.max_context"},
      {"redraw interval below -1", set("attention.redraw_interval=-2"), 1, "attention.redraw_interval"},
      {"integer for a boolean", set("attention.rope=1"), 1, "attention.rope: expected true or false"},
      {"negative feature count", set("attention.feature_dim=-3"), 1, "attention.feature_dim"},
      {"odd head width with RoPE", set("attention.rope=true") + " --set attention.head_dim=15", 1,
       "attention"},
      // [optimizer]
      {"zero learning rate", set("optimizer.lr=0"), 1, "optimizer.lr: 0 is out of range"},
      {"negative learning rate", set("optimizer.lr=-1"), 1, "optimizer.lr"},
      {"infinite learning rate", set("optimizer.lr=inf"), 1, "optimizer.lr: inf is out of range"},
      {"NaN learning rate", set("optimizer.lr=nan"), 1, "optimizer.lr: nan is out of range"},
      {"beta1 of 1", set("optimizer.beta1=1"), 1, "optimizer.beta1"},
      {"negative beta2", set("optimizer.beta2=-0.1"), 1, "optimizer.beta2"},
      {"zero epsilon", set("optimizer.eps=0"), 1, "optimizer.eps"},
      {"negative weight decay", set("optimizer.weight_decay=-1"), 1, "optimizer.weight_decay"},
      {"negative clip", set("optimizer.grad_clip=-1"), 1, "optimizer.grad_clip"},
      {"divergence (lr 1e30): stops at the step, names the key",
       base + " --run-dir " + dir / "diverged" + " --set optimizer.lr=1e30 --set optimizer.grad_clip=0", 1,
       "optimizer.lr: the training loss is"},
      // [schedule]
      {"unknown schedule", set("schedule.kind=exponential"), 1, "schedule.kind"},
      {"negative warmup", set("schedule.warmup_steps=-1"), 1, "schedule.warmup_steps"},
      {"warmup longer than the run", set("schedule.warmup_steps=100000"), 1,
       "schedule.warmup_steps: warmup of"},
      {"min lr ratio above 1", set("schedule.min_lr_ratio=2"), 1, "schedule.min_lr_ratio"},
      // [data]
      {"unknown data kind", set("data.kind=audio"), 1, "data.kind"},
      {"missing data file", set("data.path=" + missing), 1, "missing.txt"},
      {"endless device as data (/dev/zero)", set("data.path=/dev/zero"), 1,
       "'/dev/zero' is not a regular file"},
      {"empty data file", set("data.path=" + empty_file), 1, "empty.txt"},
      {"empty data folder", set("data.path=" + empty_folder), 1, "empty_folder"},
      {"no data path", set("data.path=\"\""), 1, "data.path: required"},
      {"validation file = training file", set("data.val_path=" + corpus), 1, "data.val_path"},
      {"missing validation file", set("data.val_path=" + missing), 1, "data.val_path"},
      {"validation share of 1", set("data.val_fraction=1"), 1, "data.val_fraction"},
      {"negative validation share", set("data.val_fraction=-0.5"), 1, "data.val_fraction"},
      {"evaluation without validation data (val_loss nan)",
       set("data.val_fraction=0") + " --set training.eval_interval=5", 1,
       "data.val_fraction: no validation data"},
      {"shards without a pattern", set("data.kind=shards"), 1, "data.pattern: required"},
      {"shard pattern matching nothing",
       set("data.kind=shards") + " --set data.pattern=" + dir / "none/*.bin", 1, "data.pattern"},
      {"shard with a wrong magic", shards("shards"), 1, "bad_magic.bin"},
      {"shard with a wrong version", shards("shards_v"), 1, "bad_version.bin"},
      {"truncated shard", shards("shards_t"), 1, "truncated.bin"},
      {"shard declaring negative tokens", shards("shards_n"), 1, "negative.bin"},
      {"shard with trailing bytes", shards("shards_x"), 1, "extra.bin"},
      {"shard shorter than its header", shards("shards_s"), 1, "short.bin"},
      {"corrupt tokenizer.json", set("data.tokenizer=" + corrupt_tok), 1, "data.tokenizer: tokenizer '"},
      {"tokenizer of another model type", set("data.tokenizer=" + wordpiece), 1, "model type 'WordPiece' is not supported"},
      {"missing tokenizer", set("data.tokenizer=" + missing), 1, "data.tokenizer"},
      {"tokenizer larger than model.vocab_size", set("data.tokenizer=" + tok300) + " --set model.vocab_size=280", 1,
       "model.vocab_size: 280 is smaller than the tokenizer's vocabulary (300"},
      {"shard ids beyond the tokenizer", shards("shards_big") + " --set data.tokenizer=" + tok300, 1,
       "holds token 5000, outside the vocabulary of data.tokenizer"},
      {"tokenizer for MQAR", mqar("data.tokenizer=" + tok300), 1, "data.tokenizer: MQAR makes its own tokens"},
      {"MQAR vocabulary of 2", mqar("data.vocab=2"), 1, "data.vocab"},
      {"MQAR keys filling the vocabulary", mqar("data.key_vocab=64"), 1, "data.key_vocab"},
      {"MQAR pairs beyond the sequence", mqar("data.num_kv_pairs=1000"), 1, "num_kv_pairs"},
      {"MQAR zero examples", mqar("data.num_examples=0"), 1, "data.num_examples"},
      {"MQAR negative placement power", mqar("data.power_a=-1"), 1, "data.power_a"},
      // [training]
      {"zero steps", set("training.steps=0"), 1, "training.steps"},
      {"zero batch", set("training.batch_size=0"), 1, "training.batch_size"},
      {"batch larger than the data", set("training.batch_size=100000"), 1, "batch_size 100000"},
      {"sequence of 1", set("training.seq_len=1"), 1, "training.seq_len"},
      {"zero accumulation", set("training.grad_accum=0"), 1, "training.grad_accum"},
      {"unknown device", set("training.device=tpu"), 1, "training.device: unknown value \"tpu\""},
      {"bf16 on the CPU", set("training.precision=bf16"), 1, "training.precision"},
      {"negative seed", set("training.seed=-1"), 1, "training.seed"},
      {"negative eval interval", set("training.eval_interval=-1"), 1, "training.eval_interval"},
      {"zero eval batches", set("training.eval_batches=0"), 1, "training.eval_batches"},
      {"negative threads", set("training.threads=-1"), 1, "training.threads"},
      {"absurd thread count", set("training.threads=100000"), 1, "training.threads"},
      // [checkpoint], [logging], [distributed]
      {"negative checkpoint interval", set("checkpoint.interval=-1"), 1, "checkpoint.interval"},
      {"negative keep_last", set("checkpoint.keep_last=-1"), 1, "checkpoint.keep_last"},
      {"empty checkpoint folder", set("checkpoint.dir=\"\""), 1, "checkpoint.dir"},
      {"zero log interval", set("logging.interval=0"), 1, "logging.interval"},
      {"unknown log level", set("logging.level=verbose"), 1, "logging.level"},
      {"zero bucket", set("distributed.bucket_mb=0"), 1, "distributed.bucket_mb"},
      {"negative watchdog", set("distributed.watchdog_seconds=-1"), 1, "distributed.watchdog_seconds"},
      // --set itself
      {"value with an embedded newline", set("training.steps=3\n[model]\nlayers=9"), 1, "must be one line"},
      {"no '='", set("training.steps"), 1, "expected section.key=value"},
      {"no section", set("steps=3"), 1, "steps: expected section.key"},
      {"misspelt key", set("training.stpes=3"), 1, "did you mean training.steps?"},
      {"unknown section", set("nosuch.key=1"), 1, "nosuch.key: unknown key"},
      {"empty value", set("training.steps="), 1, "training.steps: expected an integer"},
      {"array value", set("training.steps=[1, 2]"), 1, "training.steps: expected an integer"},
      {"table for a path", set("data.path={a = 1}"), 1, "{a = 1}"},
      // Recipe files
      {"TOML syntax error", recipe_file("syntax.toml", "[training\nsteps = 3\n"), 1, "syntax.toml:1"},
      {"unknown section in a file", recipe_file("section.toml", "[trainin]\nsteps = 3\n"), 1,
       "did you mean training?"},
      {"duplicate key", recipe_file("dup.toml", "[training]\nsteps = 1\nsteps = 2\n"), 1, "dup.toml:3"},
      {"section that is a value", recipe_file("notable.toml", "training = 3\n"), 1,
       "expected a table [training]"},
      {"missing include", recipe_file("inc.toml", "include = \"nowhere.toml\"\n"), 1, "nowhere.toml"},
      {"include cycle", recipe_file("cycle.toml", "include = \"cycle.toml\"\n"), 1, "include cycle"},
      {"include of a number", recipe_file("incnum.toml", "include = 3\n"), 1,
       "include: expected a file name"},
      {"string for an integer", recipe_file("type.toml", "[training]\nsteps = \"100\"\n"), 1, "type.toml:2"},
      {"date for an integer", recipe_file("date.toml", "[training]\nsteps = 1979-05-27\n"), 1, "got date"},
      {"binary garbage recipe", recipe_file("garbage.toml", std::string("\x01\xff\xfe[\x00\x7f]=", 8)), 1,
       "garbage.toml"},
      {"recipe is a folder", tool("lat-train") + " " + empty_folder + " --run-dir " + run, 1,
       "is a directory"},
      {"missing recipe", tool("lat-train") + " " + dir / "missing.toml" + " --run-dir " + run, 1,
       "missing.toml"},
      // lat-train's command line
      {"--stop-after 0", train + " --stop-after 0", 2, "--stop-after: '0' is not a positive integer"},
      {"--stop-after text", train + " --stop-after soon", 2, "--stop-after: 'soon'"},
      {"unknown flag", train + " --fast", 2, "--fast"},
      {"--set without a value", train + " --set", 2, "--set"},
      {"resume from a missing file", train + " --resume " + missing, 1, "missing.txt"},
      {"resume from garbage", train + " --resume " + garbage, 1, "garbage.h5"},
      {"resume from half a checkpoint", train + " --resume " + half_h5, 1, "half.h5"},
      {"run directory under a file", base + " --run-dir " + corpus + "/run", 1, "run directory"},
      // lat-generate
      {"generate: no checkpoint", tool("lat-generate"), 2, "checkpoint is required"},
      {"generate: negative tokens", gen + " --tokens -1", 2, "--tokens: '-1' is not a non-negative integer"},
      {"generate: tokens as an expression", gen + " --tokens 10^12", 2, "--tokens: '10^12'"},
      {"generate: negative temperature", gen + " --temperature -1", 2, "--temperature: '-1'"},
      {"generate: top-k as text", gen + " --top-k many", 2, "--top-k: 'many'"},
      {"generate: seed as text", gen + " --seed abc", 2, "--seed"},
      {"generate: missing checkpoint", tool("lat-generate") + " " + missing, 1, "missing.txt"},
      {"generate: garbage checkpoint", tool("lat-generate") + " " + garbage, 1, "garbage.h5"},
      {"generate: half a checkpoint", tool("lat-generate") + " " + half_h5, 1, "half.h5"},
      {"generate: unknown device", gen + " --device tpu", 1, "tpu"},
      {"generate: prompt beyond the context", gen + " --prompt " + std::string(100, 'a'), 1,
       "attention.max_context"},
      // lat-export, lat-bench, lat-study
      {"export: no output", tool("lat-export") + " " + ckpt, 2, "out is required"},
      {"export: garbage input", tool("lat-export") + " " + garbage + " " + dir / "out.h5", 1, "garbage.h5"},
      {"export: missing input", tool("lat-export") + " " + missing + " " + dir / "out.h5", 1, "missing.txt"},
      {"bench: no subcommand", tool("lat-bench"), 2, "subcommand is required"},
      {"bench: zero size", tool("lat-bench") + " gemm-cpu --size 0", 2,
       "--size: '0' is not a positive integer"},
      {"bench: unknown subcommand", tool("lat-bench") + " warp-drive", 2, "subcommand"},
      {"tokenize: no subcommand", tokenize, 2, "subcommand is required"},
      {"tokenize: corrupt tokenizer", tokenize + " encode --tokenizer " + corrupt_tok + " --out " + dir / "tok_out " + corpus,
       1, "corrupt.json"},
      {"tokenize: unknown model type", tokenize + " encode --tokenizer " + wordpiece + " --out " + dir / "tok_out " + corpus,
       1, "WordPiece"},
      {"tokenize: missing input", tokenize + " encode --tokenizer " + tok300 + " --out " + dir / "tok_out " + missing, 1,
       "missing.txt"},
      {"tokenize: vocabulary below 256", tokenize + " train --vocab 10 --out " + dir / "t.json " + corpus, 1, "cannot hold"},
      {"tokenize: unknown split pattern", tokenize + " train --vocab 300 --pattern perl --out " + dir / "t.json " + corpus, 1,
       "--pattern 'perl'"},
      {"tokenize: shard tokens as text", tokenize + " encode --tokenizer " + tok300 + " --shard-tokens many --out x " + corpus,
       2, "--shard-tokens: 'many'"},
      {"study: no study file", tool("lat-study"), 2, "study is required"},
      {"study: missing study file", tool("lat-study") + " " + missing, 1, "missing.txt"},
      {"study: recipe as a study", tool("lat-study") + " " + recipe + " --dry-run", 1, "tiny.toml"},
  };
  MESSAGE(cases.size() << " bad-input cases");
  CHECK(cases.size() >= 80);
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const Outcome r = run_shell(c.command + " </dev/null");
    CAPTURE(r.output);
    CHECK(r.exit_code == c.exit_code);
    // One line, from the tool, naming the culprit, with no source location.
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
    CHECK(r.output.rfind("lat-", 0) == 0);
    CHECK(r.output.find(c.must_name) != std::string::npos);
    CHECK(r.output.find(".cpp:") == std::string::npos);
    CHECK(snapshot(run) == before);
  }
  CHECK(!fs::exists(dir / "out.h5"));
  CHECK(!fs::exists(dir / "diverged/checkpoints"));
}
