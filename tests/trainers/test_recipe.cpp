#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"
#include "trainers/recipe.h"
#include "support/temp_dir.h"

using namespace lat;
using lat::testing::TempDir;
using lat::testing::error_of;

namespace {

// The lat::Error message of `f`, or "" when it does not throw.
const char* kFull = R"(
[model]
vocab_size = 300
d_model = 96
layers = 3
mlp_hidden = 200
mlp_ratio = 3.5
tie_embeddings = false
norm_eps = 1e-6

[attention]
kind = "linear"
feature_map = "random"
normalize = "rmsnorm"
decay = "alibi"
rope = true
heads = 3
head_dim = 32
feature_dim = 48
block = 32
max_context = 512
redraw_interval = 100
gate = true

[optimizer]
lr = 6e-4
beta1 = 0.8
beta2 = 0.99
eps = 1e-10
weight_decay = 0.05
grad_clip = 0.5

[schedule]
kind = "linear"
warmup_steps = 7
min_lr_ratio = 0.0

[data]
kind = "mqar"
path = "x/y.txt"
val_path = "x/val"
test_path = "x/test"
pattern = "shards/*.bin"
val_pattern = "shards/val_*.bin"
test_pattern = "shards/test_*.bin"
val_fraction = 0.1
vocab = 512
key_vocab = 200
num_kv_pairs = 4
num_examples = 5000
power_a = 0.02
random_non_queries = false
test_examples = 77

[training]
steps = 1e3
batch_size = 5
seq_len = 64
grad_accum = 2
device = "cpu"
seed = 42
eval_interval = 0
eval_batches = 3
precision = "fp32"

[checkpoint]
interval = 50
keep_last = 0
dir = "ck"

[logging]
interval = 1
level = "debug"

[distributed]
bucket_mb = 12.5
overlap = false
watchdog_seconds = 0
zero = 1
)";

}  // namespace

TEST_CASE("recipe: an empty recipe is all defaults and valid") {
  Recipe r = Recipe::from_string("");
  CHECK(r == Recipe{});
  CHECK(r.resolved_head_dim() == 32);
  CHECK(r.resolved_feature_dim() == 32);
  CHECK(r.resolved_mlp_hidden() == 512);
  CHECK(r.resolved_max_context() == r.training.seq_len);
  CHECK(r.origin("training.steps") == "default");
}

TEST_CASE("recipe: every section and key parses") {
  Recipe r = Recipe::from_string(kFull, "full.toml");
  CHECK(r.model.vocab_size == 300);
  CHECK(r.model.d_model == 96);
  CHECK(r.model.layers == 3);
  CHECK(r.model.mlp_hidden == 200);
  CHECK(r.model.mlp_ratio == 3.5);
  CHECK(!r.model.tie_embeddings);
  CHECK(r.model.norm_eps == 1e-6);
  CHECK(r.attention.kind == AttentionKind::Linear);
  CHECK(r.attention.feature_map == FeatureMap::Random);
  CHECK(r.attention.normalize == AttentionNormalize::RmsNorm);
  CHECK(r.attention.decay == AttentionDecay::Alibi);
  CHECK(r.attention.rope);
  CHECK(r.attention.heads == 3);
  CHECK(r.attention.head_dim == 32);
  CHECK(r.attention.feature_dim == 48);
  CHECK(r.attention.block == 32);
  CHECK(r.attention.max_context == 512);
  CHECK(r.attention.redraw_interval == 100);
  CHECK(r.attention.gate);
  CHECK(r.optimizer.lr == 6e-4);
  CHECK(r.optimizer.beta1 == 0.8);
  CHECK(r.optimizer.beta2 == 0.99);
  CHECK(r.optimizer.eps == 1e-10);
  CHECK(r.optimizer.weight_decay == 0.05);
  CHECK(r.optimizer.grad_clip == 0.5);
  CHECK(r.schedule.kind == ScheduleKind::Linear);
  CHECK(r.schedule.warmup_steps == 7);
  CHECK(r.schedule.min_lr_ratio == 0.0);
  CHECK(r.data.kind == DataKind::Mqar);
  CHECK(r.data.path == "x/y.txt");
  CHECK(r.data.pattern == "shards/*.bin");
  CHECK(r.data.val_pattern == "shards/val_*.bin");
  CHECK(r.data.val_fraction == 0.1);
  CHECK(r.data.vocab == 512);
  CHECK(r.data.key_vocab == 200);
  CHECK(r.data.num_kv_pairs == 4);
  CHECK(r.data.num_examples == 5000);
  CHECK(r.data.power_a == 0.02);
  CHECK(r.data.val_path == "x/val");
  CHECK(r.data.test_path == "x/test");
  CHECK(r.data.test_pattern == "shards/test_*.bin");
  CHECK(!r.data.random_non_queries);
  CHECK(r.data.test_examples == 77);
  CHECK(r.training.steps == 1000);  // 1e3: a whole-number float is accepted for an integer key
  CHECK(r.training.batch_size == 5);
  CHECK(r.training.seq_len == 64);
  CHECK(r.training.grad_accum == 2);
  CHECK(r.training.device == DeviceKind::Cpu);
  CHECK(r.training.seed == 42);
  CHECK(r.training.eval_interval == 0);
  CHECK(r.training.eval_batches == 3);
  CHECK(r.training.precision == Precision::Fp32);
  CHECK(r.checkpoint.interval == 50);
  CHECK(r.checkpoint.keep_last == 0);
  CHECK(r.checkpoint.dir == "ck");
  CHECK(r.logging.interval == 1);
  CHECK(r.logging.level == LogLevel::Debug);
  CHECK(r.distributed.bucket_mb == 12.5);
  CHECK(!r.distributed.overlap);
  CHECK(r.distributed.watchdog_seconds == 0);
  CHECK(r.distributed.zero == 1);
  CHECK(r.resolved_feature_dim() == 48);
  CHECK(r.resolved_mlp_hidden() == 200);
  CHECK(r.origin("model.d_model") == "full.toml:4");
  CHECK(std::string(to_string(FeatureMap::Random)) == "random");
}

TEST_CASE("recipe: to_toml writes every key and parses back to an identical recipe") {
  for (const Recipe& r : {Recipe{}, Recipe::from_string(kFull, "full.toml"), Recipe::embedded_default()}) {
    std::string text = r.to_toml();
    for (const std::string& key : Recipe::keys()) {
      std::string name = key.substr(key.find('.') + 1);
      CHECK_MESSAGE(text.find("\n" + name + " = ") != std::string::npos, key);
    }
    Recipe back = Recipe::from_string(text, "resolved.toml");
    CHECK(back == r);
    CHECK(back.to_toml() == text);
  }
  Recipe odd;
  odd.data.path = "quote\" back\\slash\ttab é";
  odd.optimizer.lr = 0.1 + 0.2;  // not a short decimal: needs all 17 digits
  odd.optimizer.eps = 1e-300;
  odd.distributed.bucket_mb = 3.0;
  CHECK(Recipe::from_string(odd.to_toml()) == odd);
  // 56 + data.val_path, test_path, test_pattern, random_non_queries, test_examples + model.mlp + training.threads
  // + data.tokenizer + training.recompute, max_skipped_steps, skip_loss_z, skip_norm_z + checkpoint.async
  // + distributed.zero + data.document_boundaries, eot_token
  CHECK(Recipe::keys().size() == 72);
}

TEST_CASE("recipe: include composes, nested, relative to the including file, later values win") {
  TempDir dir("recipe_include");
  dir.write("base.toml", "[training]\nsteps = 10\nbatch_size = 3\nseed = 5\n[model]\nd_model = 64\n");
  dir.write("mid/mid.toml", "include = \"../base.toml\"\n[training]\nbatch_size = 4\n[model]\nlayers = 2\n");
  std::string top = dir.write("mid/top/top.toml", "include = \"../mid.toml\"\n[training]\nseed = 9\n");
  Recipe r = Recipe::from_file(top);
  CHECK(r.training.steps == 10);
  CHECK(r.training.batch_size == 4);
  CHECK(r.training.seed == 9);
  CHECK(r.model.d_model == 64);
  CHECK(r.model.layers == 2);
  CHECK(r.origin("training.steps") == dir / "base.toml" + ":2");
  CHECK(r.origin("training.batch_size") == dir / "mid/mid.toml" + ":3");
  CHECK(r.origin("training.seed") == top + ":3");

  // An array of includes applies in order.
  dir.write("a.toml", "[training]\nsteps = 1\n");
  dir.write("b.toml", "[training]\nsteps = 2\n");
  CHECK(Recipe::from_file(dir.write("ab.toml", "include = [\"a.toml\", \"b.toml\"]\n")).training.steps == 2);
}

TEST_CASE("recipe: include cycles and missing includes are errors naming file and line") {
  TempDir dir("recipe_cycle");
  dir.write("a.toml", "include = \"b.toml\"\n");
  dir.write("b.toml", "# b\ninclude = \"a.toml\"\n");
  std::string e = error_of([&] { Recipe::from_file(dir / "a.toml"); });
  CHECK_MESSAGE(e.find(dir / "b.toml" + ":2: include: include cycle: ") == 0, e);
  CHECK_MESSAGE(e.find("a.toml -> ") != std::string::npos, e);

  dir.write("self.toml", "include = \"self.toml\"\n");
  CHECK(error_of([&] { Recipe::from_file(dir / "self.toml"); }).find("include cycle") != std::string::npos);

  dir.write("m.toml", "\n\ninclude = \"nope.toml\"\n");
  e = error_of([&] { Recipe::from_file(dir / "m.toml"); });
  CHECK_MESSAGE(e == dir / "m.toml" + ":3: include: cannot open '" + dir / "nope.toml" + "' (no such file)",
                e);

  // The same file included twice (not a cycle) is fine.
  dir.write("leaf.toml", "[training]\nsteps = 3\n");
  dir.write("l1.toml", "include = \"leaf.toml\"\n");
  CHECK(Recipe::from_file(dir.write("two.toml", "include = [\"leaf.toml\", \"l1.toml\"]\n")).training.steps ==
        3);
}

TEST_CASE("recipe: --set overrides after loading, values parsed as TOML") {
  TempDir dir("recipe_set");
  std::string path = dir.write("r.toml", "[training]\nsteps = 10\n[data]\npath = \"a.txt\"\n");
  Recipe r = Recipe::from_file(
      path, {"training.steps=20", "optimizer.lr=2e-3", "attention.rope=true", "data.path=data/other.txt",
             "training.device=\"cuda\"", "attention.feature_map=cosine", " model.d_model = 256 ",
             "checkpoint.dir='single quoted'", "model.mlp_ratio=3"});
  CHECK(r.training.steps == 20);
  CHECK(r.optimizer.lr == 2e-3);
  CHECK(r.attention.rope);
  CHECK(r.data.path == "data/other.txt");
  CHECK(r.training.device == DeviceKind::Cuda);
  CHECK(r.attention.feature_map == FeatureMap::Cosine);
  CHECK(r.model.d_model == 256);
  CHECK(r.checkpoint.dir == "single quoted");
  CHECK(r.model.mlp_ratio == 3.0);
  CHECK(r.origin("training.steps") == "--set training.steps=20");

  // Overrides onto an already loaded recipe (e.g. one read back from a checkpoint).
  r.apply_overrides({"training.steps=30"});
  CHECK(r.training.steps == 30);

  std::string e = error_of([&] { Recipe::from_file(path, {"training.stepz=5"}); });
  CHECK(e == "--set training.stepz=5: training.stepz: unknown key (did you mean training.steps?)");
  e = error_of([&] { Recipe::from_file(path, {"training.steps=many"}); });
  CHECK(e == "--set training.steps=many: training.steps: expected an integer, got 'many'");
  e = error_of([&] { Recipe::from_file(path, {"training.steps=0"}); });
  CHECK(e == "--set training.steps=0: training.steps: 0 is out of range (must be >= 1)");
  e = error_of([&] { Recipe::from_file(path, {"training.steps"}); });
  CHECK(e == "--set training.steps: expected section.key=value");
  e = error_of([&] { Recipe::from_file(path, {"steps=3"}); });
  CHECK(e == "--set steps=3: steps: expected section.key (did you mean training.steps?)");
  e = error_of([&] { Recipe::from_file(path, {"attention.rope=yes"}); });
  CHECK(e == "--set attention.rope=yes: attention.rope: expected true or false, got 'yes'");
  e = error_of([&] { Recipe::from_file(path, {"training.lr=1"}); });
  CHECK(e == "--set training.lr=1: training.lr: unknown key (did you mean optimizer.lr?)");
}

TEST_CASE("recipe: each error names the file, the line and the key") {
  TempDir dir("recipe_errors");
  auto err = [&](const std::string& text) {
    std::string path = dir.write("x.toml", text);
    return error_of([&] { Recipe::from_file(path); });
  };
  std::string x = dir / "x.toml";
  // Unknown key, with a suggestion when one is close.
  CHECK(err("[training]\nsteps = 3\nstepz = 4\n") ==
        x + ":3: training.stepz: unknown key (did you mean training.steps?)");
  CHECK(err("[training]\nwibble = 4\n") == x + ":2: training.wibble: unknown key");
  CHECK(err("[trainig]\nsteps = 4\n") == x + ":1: trainig: unknown section (did you mean training?)");
  CHECK(err("steps = 4\n") == x + ":1: steps: unknown section (did you mean training.steps?)");
  CHECK(err("[model.extra]\nx = 1\n").find(x + ":1: model.extra: unknown key") == 0);
  // Wrong types.
  CHECK(err("[training]\n\nsteps = \"100\"\n") ==
        x + ":3: training.steps: expected an integer, got string \"100\"");
  CHECK(err("[training]\nsteps = 1.5\n") == x + ":2: training.steps: expected an integer, got float 1.5");
  CHECK(err("[attention]\nrope = 1\n") == x + ":2: attention.rope: expected true or false, got integer 1");
  CHECK(err("[optimizer]\nlr = \"fast\"\n") ==
        x + ":2: optimizer.lr: expected a number, got string \"fast\"");
  CHECK(err("[data]\npath = 3\n") == x + ":2: data.path: expected a string, got integer 3");
  CHECK(err("training = 3\n") == x + ":1: training: expected a table [training], got integer");
  CHECK(err("include = 3\n") == x + ":1: include: expected a file name, got integer");
  // Unknown enum values.
  CHECK(err("[attention]\nfeature_map = \"elu\"\n") ==
        x + ":2: attention.feature_map: unknown value \"elu\" (expected elu1, cosine, random, identity or "
            "silu; "
            "did you mean \"elu1\"?)");
  // Out of range.
  CHECK(err("[training]\nbatch_size = 0\n") ==
        x + ":2: training.batch_size: 0 is out of range (must be in [1, 2147483647])");
  CHECK(err("[optimizer]\nbeta2 = 1.0\n") ==
        x + ":2: optimizer.beta2: 1 is out of range (must be in [0, 1))");
  CHECK(err("[optimizer]\nlr = -1e-3\n") == x + ":2: optimizer.lr: -0.001 is out of range (must be > 0)");
  CHECK(err("[optimizer]\nlr = nan\n") == x + ":2: optimizer.lr: nan is out of range (must be > 0)");
  // Cross-key checks blame a key the user set.
  CHECK(err("[attention]\nheads = 3\n") ==
        x + ":2: attention.heads: model.d_model = 128 is not divisible by attention.heads = 3 (or set "
            "attention.head_dim)");
  CHECK(err("[data]\nkind = \"shards\"\n") == x + ": data.pattern: required when data.kind = \"shards\"");
  CHECK(err("[data]\npath = \"a.txt\"\nval_path = \"a.txt\"\n") ==
        x + ":3: data.val_path: 'a.txt' is also data.path; held-out data must differ from it");
  CHECK(err("[data]\nval_path = \"v\"\ntest_path = \"v\"\n") ==
        x + ":3: data.test_path: 'v' is also data.val_path; held-out data must differ from it");
  CHECK(err("[data]\nkind = \"shards\"\npattern = \"s/*.bin\"\ntest_pattern = \"s/*.bin\"\n") ==
        x + ":4: data.test_pattern: 's/*.bin' is also data.pattern; held-out data must differ from it");
  CHECK(err("[data]\ntest_examples = 0\n") == x + ":2: data.test_examples: 0 is out of range (must be >= 1)");
  CHECK(err("[data]\nrandom_non_queries = 0\n") ==
        x + ":2: data.random_non_queries: expected true or false, got integer 0");
  CHECK(
      err("[training]\ndevice = \"cpu\"\nprecision = \"bf16\"\n").find(x + ":3: training.precision: bf16") ==
      0);
  // TOML syntax errors.
  CHECK(err("[training]\nsteps = = 3\n").find(x + ":2: TOML syntax error: ") == 0);
  CHECK(err("[training]\nsteps = 3\nsteps = 4\n").find(x + ":3: TOML syntax error: ") == 0);
  // Missing files.
  CHECK(error_of([&] { Recipe::from_file(dir / "missing.toml"); }) ==
        dir / "missing.toml" + ": cannot open recipe (no such file)");
  // fail(): for checks made by others (the data loader), with the key's origin.
  Recipe r = Recipe::from_file(dir.write("y.toml", "[data]\n\npath = \"nope.txt\"\n"));
  CHECK(error_of([&] { r.fail("data.path", "file 'nope.txt' not found"); }) ==
        dir / "y.toml" + ":3: data.path: file 'nope.txt' not found");
  CHECK(error_of([&] { r.fail("training.steps", "too many"); }) ==
        dir / "y.toml" + ": training.steps: too many");
}

TEST_CASE("recipe: the embedded quickstart recipe equals recipes/quickstart.toml and is valid") {
  std::ifstream in(std::string(LAT_SOURCE_DIR) + "/recipes/quickstart.toml", std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == std::string(Recipe::embedded_default_text()));
  Recipe q = Recipe::embedded_default();
  CHECK(q == Recipe::from_file(std::string(LAT_SOURCE_DIR) + "/recipes/quickstart.toml"));
  CHECK(q.attention.kind == AttentionKind::Linear);
  CHECK(q.data.kind == DataKind::Text);
  CHECK(q.data.path == "data/kjv.txt");
}
