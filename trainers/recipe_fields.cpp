// The recipe's field table (trainers/recipe_fields.h): every key with its help text, how it is assigned from
// TOML or --set, how it is printed and which range it must lie in.
#include "trainers/recipe_fields.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <utility>

#include "core/error.h"
#include "trainers/recipe.h"
#include "trainers/recipe_enums.h"
#include "trainers/recipe_text.h"

namespace lat::recipe_fields {

[[noreturn]] void fail_at(const std::string& where, std::string_view key, const std::string& message) {
  if (key.empty()) LAT_THROW(where, ": ", message);
  LAT_THROW(where, ": ", key, ": ", message);
}

namespace {

using namespace recipe_text;
using recipe_enums::EnumNames;
using recipe_enums::enum_choices;
using recipe_enums::enum_name;

// ---- the field table ---------------------------------------------------------------------------------

[[noreturn]] void wrong_type(const Input& in, const std::string& full_key, const char* expected) {
  if (in.node)
    fail_at(
        in.where, full_key,
        fmt::format("expected {}, got {} {}", expected, toml_type_name(*in.node), toml_value_text(*in.node)));
  fail_at(in.where, full_key, fmt::format("expected {}, got '{}'", expected, in.raw ? *in.raw : ""));
}

// Range of a numeric key: lo <= x <= hi (lo < x when lo_open).
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
};

std::string range_text(const Range& r) {
  auto num = [](double x) { return fmt::format("{}", x); };
  bool has_lo = std::isfinite(r.lo), has_hi = std::isfinite(r.hi);
  if (has_lo && has_hi)
    return fmt::format("must be in {}{}, {}{}", r.lo_open ? "(" : "[", num(r.lo), num(r.hi),
                       r.hi_open ? ")" : "]");
  if (has_lo) return fmt::format("must be {} {}", r.lo_open ? ">" : ">=", num(r.lo));
  if (has_hi) return fmt::format("must be {} {}", r.hi_open ? "<" : "<=", num(r.hi));
  return "must be finite";
}

template <class S, class T>
Field make_field(const char* section, const char* key, S Recipe::*sec, T S::*mem, Range range,
                 const char* help) {
  Field f;
  f.section = section;
  f.key = key;
  f.help = help;
  auto get = [sec, mem](const Recipe& r) -> const T& { return r.*sec.*mem; };
  auto set = [sec, mem](Recipe& r, T v) { r.*sec.*mem = std::move(v); };
  if constexpr (std::is_same_v<T, int64_t>) {
    f.assign = [set](Recipe& r, const Input& in, const std::string& k) {
      if (!in.node) wrong_type(in, k, "an integer");
      if (auto i = in.node->value_exact<int64_t>()) return set(r, *i);
      // 1e6 is a float in TOML; accept it where it is a whole number.
      if (auto d = in.node->as_floating_point()) {
        double x = d->get();
        if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9.0e15)
          return set(r, static_cast<int64_t>(x));
      }
      wrong_type(in, k, "an integer");
    };
    f.format = [get](const Recipe& r) { return fmt::format("{}", get(r)); };
  } else if constexpr (std::is_same_v<T, double>) {
    f.assign = [set](Recipe& r, const Input& in, const std::string& k) {
      if (!in.node) wrong_type(in, k, "a number");
      if (auto d = in.node->as_floating_point()) return set(r, d->get());
      if (auto i = in.node->as_integer()) return set(r, static_cast<double>(i->get()));
      wrong_type(in, k, "a number");
    };
    f.format = [get](const Recipe& r) { return format_double(get(r)); };
  } else if constexpr (std::is_same_v<T, bool>) {
    f.assign = [set](Recipe& r, const Input& in, const std::string& k) {
      if (in.node)
        if (auto b = in.node->as_boolean()) return set(r, b->get());
      wrong_type(in, k, "true or false");
    };
    f.format = [get](const Recipe& r) { return std::string(get(r) ? "true" : "false"); };
  } else if constexpr (std::is_same_v<T, std::string>) {
    f.assign = [set](Recipe& r, const Input& in, const std::string& k) {
      if (in.node)
        if (auto s = in.node->as_string()) return set(r, s->get());
      // Found by tests/fuzz/fuzz_recipe: a raw --set value that is not UTF-8 was kept, and the recipe written
      // into the run directory and every checkpoint then failed to parse.
      if (in.raw && !valid_utf8(*in.raw)) fail_at(in.where, k, "the value is not valid UTF-8");
      if (in.raw) return set(r, *in.raw);
      wrong_type(in, k, "a string");
    };
    f.format = [get](const Recipe& r) { return quote(get(r)); };
  } else {  // enum
    f.assign = [set](Recipe& r, const Input& in, const std::string& k) {
      std::string text;
      if (in.node && in.node->is_string())
        text = in.node->as_string()->get();
      else if (in.raw)
        text = *in.raw;
      else
        wrong_type(in, k, fmt::format("a string ({})", enum_choices<T>()).c_str());
      for (const auto& [name, value] : EnumNames<T>::values)
        if (text == name) return set(r, value);
      std::string hint;
      size_t best = 3;
      for (const auto& [name, value] : EnumNames<T>::values)
        if (size_t d = edit_distance(text, name); d < best)
          best = d, hint = fmt::format("; did you mean \"{}\"?", name);
      fail_at(in.where, k,
              fmt::format("unknown value \"{}\" (expected {}{})", text, enum_choices<T>(), hint));
    };
    f.format = [get](const Recipe& r) { return quote(enum_name(get(r))); };
  }
  if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
    f.check = [get, range](const Recipe& r, const std::string& k) {
      double x = static_cast<double>(get(r));
      bool ok = std::isfinite(x) && (range.lo_open ? x > range.lo : x >= range.lo) &&
                (range.hi_open ? x < range.hi : x <= range.hi);
      if (!ok)
        r.fail(k, fmt::format("{} is out of range ({})", fmt::format("{}", get(r)), range_text(range)));
    };
  } else {
    (void)range;
  }
  return f;
}

constexpr double kInf = std::numeric_limits<double>::infinity();
Range at_least(double lo) {
  return Range{lo, kInf, false, false};
}
Range positive() {
  return Range{0.0, kInf, true, false};
}
Range between(double lo, double hi) {
  return Range{lo, hi, false, false};
}
Range any() {
  return Range{};
}
// Sizes (widths, lengths, counts that become tensor dimensions) stay below 2^31, so that products of a few of
// them cannot overflow before the memory estimate (trainers/memory_estimate.h) sees them.
constexpr double kMaxSize = 2147483647;
Range size_at_least(double lo) {
  return Range{lo, kMaxSize, false, false};
}

}  // namespace

const std::vector<Field>& fields() {
  using R = Recipe;
  static const std::vector<Field> table = [] {
    std::vector<Field> f;
    auto add = [&](Field x) { f.push_back(std::move(x)); };
    // [model]
    add(make_field("model", "vocab_size", &R::model, &ModelConfig::vocab_size, size_at_least(0),
                   "0: from the data (258 for byte-level text, data.vocab for MQAR)"));
    add(make_field("model", "d_model", &R::model, &ModelConfig::d_model, size_at_least(1),
                   "residual stream width"));
    add(make_field("model", "layers", &R::model, &ModelConfig::layers, size_at_least(1), "transformer blocks"));
    add(make_field("model", "mlp", &R::model, &ModelConfig::mlp, any(),
                   "SwiGLU MLP in each block; false: attention-only blocks (Zoology's MQAR models)"));
    add(make_field("model", "mlp_hidden", &R::model, &ModelConfig::mlp_hidden, size_at_least(0),
                   "SwiGLU hidden width; 0: round(mlp_ratio * d_model); ignored when mlp = false"));
    add(make_field("model", "mlp_ratio", &R::model, &ModelConfig::mlp_ratio, positive(),
                   "used when mlp_hidden = 0"));
    add(make_field("model", "tie_embeddings", &R::model, &ModelConfig::tie_embeddings, any(),
                   "LM head shares the token embedding"));
    add(make_field("model", "norm_eps", &R::model, &ModelConfig::norm_eps, Range{0.0, 1.0, true, true},
                   "RMSNorm epsilon"));
    // [attention]
    add(make_field("attention", "kind", &R::attention, &AttentionConfig::kind, any(), "softmax | linear"));
    add(make_field("attention", "feature_map", &R::attention, &AttentionConfig::feature_map, any(),
                   "linear: elu1 | cosine | random | identity | silu"));
    add(make_field("attention", "normalize", &R::attention, &AttentionConfig::normalize, any(),
                   "linear: denominator | rmsnorm"));
    add(make_field("attention", "decay", &R::attention, &AttentionConfig::decay, any(),
                   "none | alibi (per-head slopes)"));
    add(make_field("attention", "rope", &R::attention, &AttentionConfig::rope, any(),
                   "rotary position embedding"));
    add(make_field("attention", "heads", &R::attention, &AttentionConfig::heads, size_at_least(1),
                   "attention heads"));
    add(make_field("attention", "head_dim", &R::attention, &AttentionConfig::head_dim, size_at_least(0),
                   "0: d_model / heads"));
    add(make_field("attention", "feature_dim", &R::attention, &AttentionConfig::feature_dim, size_at_least(0),
                   "feature-map output size (random: number of features); 0: head_dim (2 x head_dim for cosine, random)"));
    add(make_field("attention", "block", &R::attention, &AttentionConfig::block, size_at_least(1),
                   "lightning attention tile along the sequence (CPU; CUDA tiles by 64)"));
    add(make_field("attention", "max_context", &R::attention, &AttentionConfig::max_context, size_at_least(0),
                   "longest sequence (RoPE tables, generation); 0: training.seq_len"));
    add(make_field("attention", "redraw_interval", &R::attention, &AttentionConfig::redraw_interval,
                   at_least(-1),
                   fmt::format("random features: redraw every N steps; 0: never; -1: auto ({} with random)",
                               Recipe::kDefaultRedrawInterval)
                       .c_str()));
    add(make_field("attention", "gate", &R::attention, &AttentionConfig::gate, any(),
                   "output gate on the attention result"));
    add(make_field("attention", "key_shift", &R::attention, &AttentionConfig::key_shift, any(),
                   "keys from the previous token's input (token shift), as in RWKV/Based"));
    // [optimizer]
    add(make_field("optimizer", "lr", &R::optimizer, &OptimizerConfig::lr, positive(), "peak learning rate"));
    add(make_field("optimizer", "beta1", &R::optimizer, &OptimizerConfig::beta1, Range{0.0, 1.0, false, true},
                   "AdamW first-moment decay"));
    add(make_field("optimizer", "beta2", &R::optimizer, &OptimizerConfig::beta2, Range{0.0, 1.0, false, true},
                   "AdamW second-moment decay"));
    add(make_field("optimizer", "eps", &R::optimizer, &OptimizerConfig::eps, positive(), "AdamW epsilon"));
    add(make_field("optimizer", "weight_decay", &R::optimizer, &OptimizerConfig::weight_decay, at_least(0),
                   "decoupled; not applied to norms, biases, embeddings"));
    add(make_field("optimizer", "grad_clip", &R::optimizer, &OptimizerConfig::grad_clip, at_least(0),
                   "global gradient-norm clip; 0: off"));
    // [schedule]
    add(make_field("schedule", "kind", &R::schedule, &ScheduleConfig::kind, any(),
                   "constant | linear | cosine"));
    add(make_field("schedule", "warmup_steps", &R::schedule, &ScheduleConfig::warmup_steps, at_least(0),
                   "linear warmup from 0 to lr"));
    add(make_field("schedule", "min_lr_ratio", &R::schedule, &ScheduleConfig::min_lr_ratio, between(0, 1),
                   "final lr = lr * min_lr_ratio (linear, cosine)"));
    // [data]
    add(make_field("data", "kind", &R::data, &DataConfig::kind, any(), "text | shards | mqar"));
    add(make_field("data", "path", &R::data, &DataConfig::path, any(),
                   "text: a UTF-8 file or folder (relative to the working directory)"));
    add(make_field("data", "val_path", &R::data, &DataConfig::val_path, any(),
                   "text: held-out validation file or folder; empty: hold out val_fraction of data.path"));
    add(make_field("data", "test_path", &R::data, &DataConfig::test_path, any(),
                   "text: held-out test file or folder; empty: no test split"));
    add(make_field("data", "pattern", &R::data, &DataConfig::pattern, any(),
                   "shards: glob of llm.c-format train shards"));
    add(make_field("data", "val_pattern", &R::data, &DataConfig::val_pattern, any(),
                   "shards: glob of validation shards; empty: hold out val_fraction"));
    add(make_field("data", "test_pattern", &R::data, &DataConfig::test_pattern, any(),
                   "shards: glob of test shards; empty: no test split"));
    add(make_field("data", "tokenizer", &R::data, &DataConfig::tokenizer, any(),
                   "text, shards: BPE tokenizer file (tokenizer.json or GPT-2's encoder.json); empty: bytes"));
    add(make_field("data", "val_fraction", &R::data, &DataConfig::val_fraction, Range{0.0, 1.0, false, true},
                   "text, shards (no val_path/val_pattern), mqar: share held out for validation"));
    add(make_field("data", "vocab", &R::data, &DataConfig::vocab, between(4, 2147483647),
                   "mqar: vocabulary (keys, values, filler)"));
    add(make_field("data", "key_vocab", &R::data, &DataConfig::key_vocab, between(0, 2147483647),
                   "mqar: keys in [1, key_vocab), values above; 0: vocab / 2"));
    add(make_field("data", "num_kv_pairs", &R::data, &DataConfig::num_kv_pairs, size_at_least(1),
                   "mqar: key-value pairs per sequence"));
    add(make_field("data", "num_examples", &R::data, &DataConfig::num_examples, at_least(1),
                   "mqar: sequences offered to the loader"));
    add(make_field("data", "power_a", &R::data, &DataConfig::power_a, positive(),
                   "mqar: query placement p(gap) ~ gap^(a-1)"));
    add(make_field("data", "random_non_queries", &R::data, &DataConfig::random_non_queries, any(),
                   "mqar: filler tokens random (Zoology) or 0"));
    add(make_field("data", "test_examples", &R::data, &DataConfig::test_examples, at_least(1),
                   "mqar: test sequences, indices after the loader's"));
    add(make_field("data", "document_boundaries", &R::data, &DataConfig::document_boundaries, any(),
                   "text, shards: attention restarts at each document (EOS, data.eot_token); mqar has none"));
    add(make_field("data", "eot_token", &R::data, &DataConfig::eot_token, between(0, 2147483647),
                   "shards: the token that begins each document"));
    // [training]
    add(make_field("training", "steps", &R::training, &TrainingConfig::steps, at_least(1),
                   "optimizer steps"));
    add(make_field("training", "batch_size", &R::training, &TrainingConfig::batch_size, size_at_least(1),
                   "sequences per micro-batch per rank"));
    add(make_field("training", "seq_len", &R::training, &TrainingConfig::seq_len, size_at_least(2),
                   "tokens per sequence"));
    add(make_field("training", "grad_accum", &R::training, &TrainingConfig::grad_accum, at_least(1),
                   "micro-batches per optimizer step"));
    add(make_field("training", "device", &R::training, &TrainingConfig::device, any(), "cpu | cuda | auto"));
    add(make_field("training", "seed", &R::training, &TrainingConfig::seed, at_least(0),
                   "Philox seed: init, data order, features"));
    add(make_field("training", "eval_interval", &R::training, &TrainingConfig::eval_interval, at_least(0),
                   "validation every N steps; 0: never"));
    add(make_field("training", "eval_batches", &R::training, &TrainingConfig::eval_batches, size_at_least(1),
                   "batches per validation"));
    add(make_field("training", "threads", &R::training, &TrainingConfig::threads, between(0, 4096),
                   "CPU kernels' threads; 0: OMP_NUM_THREADS, else follow the machine's load"));
    add(make_field("training", "precision", &R::training, &TrainingConfig::precision, any(),
                   "auto | fp32 | bf16 (auto: fp32 on CPU, bf16 on CUDA)"));
    add(make_field("training", "recompute", &R::training, &TrainingConfig::recompute, any(),
                   "none | block | attention | mlp: rerun these parts' forward in backward instead of keeping activations"));
    add(make_field("training", "max_skipped_steps", &R::training, &TrainingConfig::max_skipped_steps,
                   at_least(1), "consecutive skipped steps (non-finite, out-of-vocabulary, spikes) that stop the run"));
    add(make_field("training", "skip_loss_z", &R::training, &TrainingConfig::skip_loss_z, at_least(0),
                   "skip a step whose loss is this many EMA standard deviations above its EMA; 0: off"));
    add(make_field("training", "skip_norm_z", &R::training, &TrainingConfig::skip_norm_z, at_least(0),
                   "the same for the gradient norm; 0: off"));
    // [checkpoint]
    add(make_field("checkpoint", "interval", &R::checkpoint, &CheckpointConfig::interval, at_least(0),
                   "every N steps; 0: only at the end"));
    add(make_field("checkpoint", "keep_last", &R::checkpoint, &CheckpointConfig::keep_last, at_least(0),
                   "older step_*.h5 pruned; 0: keep all"));
    add(make_field("checkpoint", "dir", &R::checkpoint, &CheckpointConfig::dir, any(),
                   "relative to the run directory"));
    add(make_field("checkpoint", "async", &R::checkpoint, &CheckpointConfig::async, any(),
                   "write checkpoints on a background thread while training goes on"));
    // [logging]
    add(make_field("logging", "interval", &R::logging, &LoggingConfig::interval, at_least(1),
                   "progress line every N steps"));
    add(make_field("logging", "level", &R::logging, &LoggingConfig::level, any(),
                   "debug | info | warn | error | off"));
    // [distributed]
    add(make_field("distributed", "bucket_mb", &R::distributed, &DistributedConfig::bucket_mb, positive(),
                   "gradient bucket size for the all-reduce"));
    add(make_field("distributed", "overlap", &R::distributed, &DistributedConfig::overlap, any(),
                   "reduce buckets while backward runs"));
    add(make_field("distributed", "watchdog_seconds", &R::distributed, &DistributedConfig::watchdog_seconds,
                   at_least(0), "abort when a collective hangs this long; 0: off"));
    add(make_field("distributed", "zero", &R::distributed, &DistributedConfig::zero, between(0, 1),
                   "ZeRO stage: 0 every rank keeps all AdamW state; 1 each rank keeps 1/world of it"));
    return f;
  }();
  return table;
}

}  // namespace lat::recipe_fields
