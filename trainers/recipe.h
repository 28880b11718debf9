// Recipe: a TOML training recipe parsed into typed, validated sections (docs/recipes.md lists every key).
//
//   Recipe r = Recipe::from_file("recipes/quickstart.toml", {"training.steps=20"});
//
// A recipe may `include = "base.toml"` (path relative to the including file; nested; cycles are errors);
// the including file's values override the included ones, and `--set section.key=value` overrides are
// applied last. Every error is a lat::Error with one line "<where>: <section.key>: <what>", where <where>
// is "file:line" for a value from a file and "--set section.key=value" for an override.
// Keys documented as "0: auto" are derived from other keys by the resolved_*() accessors.
// Header is toml++-free: the parser lives in recipe.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"

namespace lat {

enum class AttentionKind { Softmax, Linear };
enum class FeatureMap { Elu1, Cosine, Random, Identity, Silu };
enum class AttentionNormalize { Denominator, RmsNorm };
enum class AttentionDecay { None, Alibi };
enum class ScheduleKind { Constant, Linear, Cosine };
enum class DataKind { Text, Shards, Mqar };
enum class DeviceKind { Cpu, Cuda, Auto };
enum class Precision { Auto, Fp32, Bf16 };  // auto: fp32 on CPU, bf16 mixed precision on CUDA
enum class Recompute { None, Block, Attention, Mlp };  // activation recomputation (autograd/recompute.h)

// The TOML spelling of each enum value ("elu1", "rmsnorm", ...).
const char* to_string(AttentionKind v);
const char* to_string(FeatureMap v);
const char* to_string(AttentionNormalize v);
const char* to_string(AttentionDecay v);
const char* to_string(ScheduleKind v);
const char* to_string(DataKind v);
const char* to_string(DeviceKind v);
const char* to_string(Precision v);
const char* to_string(Recompute v);
const char* to_string(LogLevel v);

struct ModelConfig {
  int64_t vocab_size = 0;  // 0: from the data (258 for byte-level text, data.vocab for MQAR)
  int64_t d_model = 128;
  int64_t layers = 4;
  bool mlp = true;         // false: attention-only blocks (no SwiGLU, no norm before it), as Zoology's MQAR models
  int64_t mlp_hidden = 0;  // SwiGLU hidden width; 0: round(mlp_ratio * d_model); ignored when mlp = false
  double mlp_ratio = 4.0;
  bool tie_embeddings = true;
  double norm_eps = 1e-5;
  bool operator==(const ModelConfig&) const = default;
};

struct AttentionConfig {
  AttentionKind kind = AttentionKind::Linear;
  FeatureMap feature_map = FeatureMap::Elu1;
  AttentionNormalize normalize = AttentionNormalize::Denominator;
  AttentionDecay decay = AttentionDecay::None;
  bool rope = false;
  int64_t heads = 4;
  int64_t head_dim = 0;          // 0: d_model / heads
  int64_t feature_dim = 0;       // feature-map output size (random features: number of draws); 0: auto
                                 // (head_dim; 2·head_dim for cosine and random)
  int64_t block = 64;            // lightning attention tile along the sequence
  int64_t max_context = 0;       // longest sequence (RoPE tables, softmax cache); 0: training.seq_len
  int64_t redraw_interval = -1;  // random features: redraw every N steps; 0: never; -1: auto
                                 // (Recipe::kDefaultRedrawInterval for random features)
  bool gate = false;             // output gate on the attention result
  bool key_shift = false;        // keys projected from the previous token's input (token shift)
  bool operator==(const AttentionConfig&) const = default;
};

struct OptimizerConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  double grad_clip = 1.0;  // global-norm clip; 0: off
  bool operator==(const OptimizerConfig&) const = default;
};

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::Cosine;
  int64_t warmup_steps = 100;
  double min_lr_ratio = 0.1;  // final lr = lr * min_lr_ratio (linear and cosine)
  bool operator==(const ScheduleConfig&) const = default;
};

struct DataConfig {
  DataKind kind = DataKind::Text;
  std::string path = "data/kjv.txt";  // text: a UTF-8 file or a folder of them (relative to the working dir)
  std::string val_path;               // text: held-out validation text; empty: hold out val_fraction of path
  std::string test_path;              // text: held-out test text; empty: the recipe has no test split
  std::string pattern;                // shards: glob of llm.c-format train shards
  std::string val_pattern;            // shards: glob of validation shards; empty: hold out val_fraction
  std::string test_pattern;           // shards: glob of test shards; empty: the recipe has no test split
  std::string tokenizer;              // text, shards: BPE tokenizer file; empty: bytes (docs/tokenizers.md)
  double val_fraction = 0.05;         // share held out (text/shards without val_path/val_pattern, mqar)
  int64_t vocab = 8192;               // mqar: vocabulary (keys, values and filler)
  int64_t key_vocab = 0;              // mqar: keys in [1, key_vocab), values above; 0: vocab / 2
  int64_t num_kv_pairs = 16;          // mqar: key-value pairs per sequence (each key is queried once)
  int64_t num_examples = 100000;      // mqar: sequences offered to the loader (validation comes off the end)
  double power_a = 0.01;              // mqar: query placement p(gap) ~ gap^(a-1)
  bool random_non_queries = true;     // mqar: filler tokens random (Zoology) or 0
  int64_t test_examples = 3000;       // mqar: test sequences, at indices [num_examples, num_examples + this)
  bool document_boundaries = true;    // text, shards: attention restarts at each document (docs/data.md)
  int64_t eot_token = 50256;          // shards: the token that begins each document (GPT-2's <|endoftext|>)
  bool operator==(const DataConfig&) const = default;
};

struct TrainingConfig {
  int64_t steps = 1000;
  int64_t batch_size = 16;  // sequences per micro-batch per rank
  int64_t seq_len = 128;
  int64_t grad_accum = 1;
  DeviceKind device = DeviceKind::Auto;
  int64_t seed = 1337;
  int64_t eval_interval = 100;  // 0: never
  int64_t eval_batches = 8;
  int64_t threads = 0;  // OpenMP threads of the CPU kernels; 0: OMP_NUM_THREADS or one per core
  Precision precision = Precision::Auto;
  Recompute recompute = Recompute::None;
  // The step guard (optim/step_guard.h): consecutive skipped steps that stop the run, and the z-score
  // thresholds of the optional loss / gradient-norm spike rules (0: off).
  int64_t max_skipped_steps = 5;
  double skip_loss_z = 0.0;
  double skip_norm_z = 0.0;
  bool operator==(const TrainingConfig&) const = default;
};

struct CheckpointConfig {
  int64_t interval = 0;             // 0: only at the end (and on Ctrl-C)
  int64_t keep_last = 3;            // 0: keep all
  std::string dir = "checkpoints";  // relative to the run directory
  bool async = true;                // written by a background thread while training goes on
  bool operator==(const CheckpointConfig&) const = default;
};

struct LoggingConfig {
  int64_t interval = 10;
  LogLevel level = LogLevel::Info;
  bool operator==(const LoggingConfig&) const = default;
};

struct DistributedConfig {
  double bucket_mb = 25.0;
  bool overlap = true;
  int64_t watchdog_seconds = 300;  // abort the job when a collective hangs this long; 0: off
  int64_t zero = 0;                // ZeRO stage: 0 every rank keeps all optimizer state; 1 each keeps 1/world
  bool operator==(const DistributedConfig&) const = default;
};

struct Recipe {
  ModelConfig model;
  AttentionConfig attention;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  DataConfig data;
  TrainingConfig training;
  CheckpointConfig checkpoint;
  LoggingConfig logging;
  DistributedConfig distributed;

  // Reads `path` (and its includes), applies `overrides` ("section.key=value", value parsed as TOML; a bare
  // word is a string), then validates. Throws lat::Error naming file, line and key.
  static Recipe from_file(const std::string& path, const std::vector<std::string>& overrides = {});
  // The same for recipe text; `name` is used in messages and includes resolve relative to its folder.
  static Recipe from_string(std::string_view text, const std::string& name = "<recipe>",
                            const std::vector<std::string>& overrides = {});
  // The quickstart recipe compiled into the binary (identical to recipes/quickstart.toml).
  static Recipe embedded_default();
  static std::string_view embedded_default_text();

  // Applies more overrides to a loaded recipe (e.g. onto the recipe stored in a checkpoint), then validates.
  void apply_overrides(const std::vector<std::string>& overrides);
  // Range and cross-key checks; called by the constructors above.
  void validate() const;

  // The fully resolved recipe as TOML: every key, with its default filled and a comment saying what it means.
  // Recipe::from_string(r.to_toml()) == r.
  std::string to_toml() const;

  // Where a key's value came from ("recipes/x.toml:12", "--set training.steps=5", or "default").
  std::string origin(std::string_view key) const;
  // Throws lat::Error "<origin of key>: <key>: <message>": for checks made outside the recipe (data files).
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;

  // Derived values ("auto" keys; trainers/recipe_resolve.cpp). resolved_mlp_hidden() is 0 when model.mlp = false.
  int64_t resolved_head_dim() const;
  int64_t resolved_feature_dim() const;
  int64_t resolved_mlp_hidden() const;
  int64_t resolved_max_context() const;
  int64_t resolved_redraw_interval() const;
  // data.document_boundaries where the data has documents (text, shards), false for MQAR.
  bool resolved_document_boundaries() const;

  // attention.redraw_interval = -1 with random features: a fresh W every 100 steps. performer-pytorch uses
  // 1000, sized for runs of 10^5 steps; lat's comparison runs are 300 to a few thousand steps, where 1000 would
  // leave W frozen or redraw it once, so 100 (3-4 redraws in a 400-step KJV run, as that recipe already used).
  static constexpr int64_t kDefaultRedrawInterval = 100;

  // Every "section.key" the recipe knows, in to_toml order.
  static std::vector<std::string> keys();

  // Compares values only (not where they came from).
  bool operator==(const Recipe& o) const;

  // key -> origin of its current value; keys left at their defaults are absent.
  std::map<std::string, std::string> origins;
  // The file the recipe was read from ("" for overrides-only or string recipes without a name).
  std::string source;
};

}  // namespace lat
