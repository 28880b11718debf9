// Recipe parsing: one table of fields (section, key, help, how to assign, how to print, which range) drives
// parsing, validation, to_toml() and the "did you mean" suggestions, so a new key is one line below.
#include "trainers/recipe.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "trainers/recipe_resolve.h"
#include "trainers/recipe_enums.h"
#include "trainers/recipe_text.h"

static_assert(TOML_EXCEPTIONS, "recipe.cpp expects toml++ with exceptions");

namespace lat {
namespace {

namespace fs = std::filesystem;
using namespace recipe_text;
using recipe_enums::EnumNames;
using recipe_enums::enum_choices;
using recipe_enums::enum_name;

// ---- messages ----------------------------------------------------------------------------------------

[[noreturn]] void fail_at(const std::string& where, std::string_view key, const std::string& message) {
  if (key.empty()) LAT_THROW(where, ": ", message);
  LAT_THROW(where, ": ", key, ": ", message);
}

std::string where_in(const std::string& file, const toml::source_region& region) {
  return region.begin.line > 0 ? fmt::format("{}:{}", file, region.begin.line) : file;
}

// ---- the field table ---------------------------------------------------------------------------------

// A value to assign: a TOML node, plus the raw text when it comes from --set (string keys take the raw text
// when it does not parse as a TOML string, so `--set data.path=data/x.txt` needs no quotes).
struct Input {
  const toml::node* node = nullptr;
  const std::string* raw = nullptr;
  std::string where;
};

struct Field {
  std::string section, key, help;
  std::function<void(Recipe&, const Input&, const std::string& full_key)> assign;
  std::function<std::string(const Recipe&)> format;
  std::function<void(const Recipe&, const std::string& full_key)> check;  // range
  std::string full() const { return section + "." + key; }
};

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
                   "lightning attention tile along the sequence"));
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
                   "OpenMP threads of the CPU kernels; 0: OMP_NUM_THREADS or one per core"));
    add(make_field("training", "precision", &R::training, &TrainingConfig::precision, any(),
                   "auto | fp32 | bf16 (auto: fp32 on CPU, bf16 on CUDA)"));
    // [checkpoint]
    add(make_field("checkpoint", "interval", &R::checkpoint, &CheckpointConfig::interval, at_least(0),
                   "every N steps; 0: only at the end"));
    add(make_field("checkpoint", "keep_last", &R::checkpoint, &CheckpointConfig::keep_last, at_least(0),
                   "older step_*.h5 pruned; 0: keep all"));
    add(make_field("checkpoint", "dir", &R::checkpoint, &CheckpointConfig::dir, any(),
                   "relative to the run directory"));
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
    return f;
  }();
  return table;
}

std::vector<std::string> section_names() {
  std::vector<std::string> out;
  for (const Field& f : fields())
    if (std::find(out.begin(), out.end(), f.section) == out.end()) out.push_back(f.section);
  return out;
}

const Field* find_field(std::string_view section, std::string_view key) {
  for (const Field& f : fields())
    if (f.section == section && f.key == key) return &f;
  return nullptr;
}

// "did you mean" for an unknown "section.key" (or a bare section name when key is empty).
std::string suggestion(std::string_view section, std::string_view key) {
  std::string wanted = key.empty() ? std::string(section) : fmt::format("{}.{}", section, key);
  std::string best;
  size_t best_distance = std::max<size_t>(2, wanted.size() / 4) + 1;
  auto consider = [&](const std::string& candidate) {
    size_t d = edit_distance(wanted, candidate);
    if (d < best_distance) best_distance = d, best = candidate;
  };
  if (key.empty()) {
    for (const std::string& s : section_names()) consider(s);
    for (const Field& f : fields())
      if (f.key == section) return f.full();  // a key written outside its section
  } else {
    for (const Field& f : fields()) consider(f.full());
    if (best.empty())
      for (const Field& f : fields())
        if (f.key == key) return f.full();  // right key, wrong section
  }
  return best;
}

[[noreturn]] void unknown_key(const std::string& where, std::string_view section, std::string_view key) {
  std::string hint = suggestion(section, key);
  std::string what = key.empty() ? "unknown section" : "unknown key";
  std::string name = key.empty() ? std::string(section) : fmt::format("{}.{}", section, key);
  if (!hint.empty()) what += fmt::format(" (did you mean {}?)", hint);
  fail_at(where, name, what);
}

// ---- files and includes ------------------------------------------------------------------------------

std::string read_text(const std::string& path, const std::string& where, std::string_view key) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    fail_at(where, key, fmt::format("'{}' is a directory, not a recipe file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string reason = fs::exists(path, ec) ? "cannot be read" : "no such file";
    if (where.empty()) LAT_THROW(path, ": cannot open recipe (", reason, ")");
    fail_at(where, key, fmt::format("cannot open '{}' ({})", path, reason));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

toml::table parse_toml(std::string_view text, const std::string& name) {
  try {
    return toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    fail_at(where_in(name, e.source()), "", fmt::format("TOML syntax error: {}", e.description()));
  }
}

struct Loader {
  Recipe& recipe;
  std::vector<std::string> stack;  // canonical paths of the files being read, for cycle detection
  std::vector<std::string> shown;  // the same, as written in messages

  void load_text(std::string_view text, const std::string& name, const std::string& canonical) {
    toml::table table = parse_toml(text, name);
    stack.push_back(canonical);
    shown.push_back(name);
    fs::path folder = fs::path(name).parent_path();

    // Included files first, so that this file's own values override theirs.
    if (toml::node* inc = table.get("include")) {
      std::string where = where_in(name, inc->source());
      std::vector<std::string> includes;
      if (auto s = inc->as_string()) {
        includes.push_back(s->get());
      } else if (auto arr = inc->as_array()) {
        for (auto& item : *arr) {
          if (!item.is_string()) fail_at(where, "include", "expected a file name or an array of file names");
          includes.push_back(item.as_string()->get());
        }
      } else {
        fail_at(where, "include", fmt::format("expected a file name, got {}", toml_type_name(*inc)));
      }
      for (const std::string& inc_name : includes) {
        fs::path resolved = fs::path(inc_name).is_absolute() ? fs::path(inc_name) : folder / inc_name;
        std::string shown_path = resolved.lexically_normal().string();
        std::string text_inc = read_text(shown_path, where, "include");
        std::error_code ec;
        std::string canon = fs::weakly_canonical(resolved, ec).string();
        if (std::find(stack.begin(), stack.end(), canon) != stack.end()) {
          std::string chain;
          for (const std::string& s : shown) chain += s + " -> ";
          fail_at(where, "include", fmt::format("include cycle: {}{}", chain, shown_path));
        }
        load_text(text_inc, shown_path, canon);
      }
    }

    for (auto&& [k, node] : table) {
      std::string section(k.str());
      if (section == "include") continue;
      std::string where = where_in(name, k.source());
      auto sub = node.as_table();
      bool known = std::find_if(fields().begin(), fields().end(),
                                [&](const Field& f) { return f.section == section; }) != fields().end();
      if (!known) unknown_key(where, section, "");
      if (!sub)
        fail_at(where, section, fmt::format("expected a table [{}], got {}", section, toml_type_name(node)));
      for (auto&& [kk, value] : *sub) {
        std::string key(kk.str());
        std::string value_where = where_in(name, kk.source());
        const Field* f = find_field(section, key);
        if (!f) unknown_key(value_where, section, key);
        Input in{&value, nullptr, value_where};
        f->assign(recipe, in, f->full());
        recipe.origins[f->full()] = value_where;
      }
    }
    stack.pop_back();
    shown.pop_back();
  }
};

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

void apply_override(Recipe& recipe, const std::string& assignment) {
  std::string where = "--set " + printable(assignment);
  size_t eq = assignment.find('=');
  if (eq == std::string::npos) fail_at(where, "", "expected section.key=value");
  // "steps=3\n[model]\nlayers=9" would parse as TOML and silently set only the first value.
  if (assignment.find_first_of("\n\r") != std::string::npos)
    fail_at(where, "", "a --set value must be one line (give each key its own --set)");
  std::string key = trim(std::string_view(assignment).substr(0, eq));
  std::string raw = trim(std::string_view(assignment).substr(eq + 1));
  size_t dot = key.find('.');
  if (dot == std::string::npos) {
    std::string hint = suggestion(key, "");
    fail_at(
        where, key,
        hint.empty() ? "expected section.key" : fmt::format("expected section.key (did you mean {}?)", hint));
  }
  std::string section = key.substr(0, dot), name = key.substr(dot + 1);
  const Field* f = find_field(section, name);
  if (!f) unknown_key(where, section, name);
  // Parse the value as TOML; a bare word that is not TOML (cuda, data/x.txt) is taken as a string.
  std::optional<toml::table> parsed;
  try {
    std::string doc = "value = " + raw;
    parsed = toml::parse(std::string_view(doc), std::string_view("--set"));
  } catch (const toml::parse_error&) {
  }
  const toml::node* node = parsed && parsed->size() == 1 ? parsed->get("value") : nullptr;
  Input in{node, &raw, where};
  f->assign(recipe, in, f->full());
  recipe.origins[f->full()] = where;
}

#include "trainers/quickstart_recipe.inc"  // defines kQuickstartRecipe from recipes/quickstart.toml

}  // namespace

// ---- Recipe ------------------------------------------------------------------------------------------

Recipe Recipe::from_file(const std::string& path, const std::vector<std::string>& overrides) {
  std::string text = read_text(path, "", "");
  Recipe r;
  r.source = path;
  std::error_code ec;
  Loader loader{r, {}, {}};
  loader.load_text(text, path, fs::weakly_canonical(path, ec).string());
  r.apply_overrides(overrides);
  return r;
}

Recipe Recipe::from_string(std::string_view text, const std::string& name,
                           const std::vector<std::string>& overrides) {
  Recipe r;
  r.source = name;
  Loader loader{r, {}, {}};
  std::error_code ec;
  loader.load_text(text, name, fs::weakly_canonical(name, ec).string());
  r.apply_overrides(overrides);
  return r;
}

std::string_view Recipe::embedded_default_text() {
  return kQuickstartRecipe;
}

Recipe Recipe::embedded_default() {
  return from_string(kQuickstartRecipe, "<embedded quickstart recipe>");
}

void Recipe::apply_overrides(const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) apply_override(*this, o);
  validate();
}

std::vector<std::string> Recipe::keys() {
  std::vector<std::string> out;
  for (const Field& f : fields()) out.push_back(f.full());
  return out;
}

std::string Recipe::origin(std::string_view key) const {
  auto it = origins.find(std::string(key));
  return it == origins.end() ? "default" : it->second;
}

void Recipe::fail(std::string_view key, const std::string& message) const {
  auto it = origins.find(std::string(key));
  std::string where = it != origins.end() ? it->second : (source.empty() ? "recipe" : source);
  fail_at(where, key, message);
}

void Recipe::validate() const {
  for (const Field& f : fields())
    if (f.check) f.check(*this, f.full());
  validate_cross_keys(*this);
}

std::string Recipe::to_toml() const {
  std::string out = "# lat recipe, fully resolved: every key with its value (defaults filled in).\n";
  std::string section;
  for (const Field& f : fields()) {
    if (f.section != section) {
      section = f.section;
      out += fmt::format("\n[{}]\n", section);
    }
    std::string line = fmt::format("{} = {}", f.key, f.format(*this));
    const std::string resolved = resolved_value_text(*this, f.full());
    out += fmt::format("{:<36} # {}{}\n", line, f.help, resolved.empty() ? "" : " (here: " + resolved + ")");
  }
  return out;
}

bool Recipe::operator==(const Recipe& o) const {
  return model == o.model && attention == o.attention && optimizer == o.optimizer && schedule == o.schedule &&
         data == o.data && training == o.training && checkpoint == o.checkpoint && logging == o.logging &&
         distributed == o.distributed;
}

}  // namespace lat
