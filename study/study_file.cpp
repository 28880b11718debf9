#include "study/study_file.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/json.h"

namespace lat::study {
namespace fs = std::filesystem;

namespace {

// "file:line" of a node, for messages.
std::string where(const std::string& file, const toml::node& node) {
  const auto& src = node.source();
  return src.begin.line > 0 ? file + ":" + std::to_string(src.begin.line) : file;
}

[[noreturn]] void fail(const std::string& at, const std::string& message) { LAT_THROW(at, ": ", message); }

// A TOML scalar in TOML spelling (what `--set key=value` takes) and without quotes (for directory names).
std::pair<std::string, std::string> scalar_text(const std::string& file, const std::string& what, const toml::node& n) {
  if (auto s = n.as_string()) {
    std::string quoted = "\"";
    for (char c : s->get()) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return {quoted + "\"", s->get()};
  }
  if (auto i = n.as_integer()) return {std::to_string(i->get()), std::to_string(i->get())};
  if (auto f = n.as_floating_point()) {
    const std::string t = shortest_decimal(f->get());
    // "1e-05" is a TOML float; "3" would read back as an integer, so keep a decimal point.
    const bool needs_point = t.find_first_of(".eEn") == std::string::npos;
    return {needs_point ? t + ".0" : t, t};
  }
  if (auto b = n.as_boolean()) return {b->get() ? "true" : "false", b->get() ? "true" : "false"};
  fail(where(file, n), what + ": values must be strings, numbers or booleans");
}

std::vector<std::string> string_list(const std::string& file, const std::string& key, const toml::node& n) {
  const toml::array* a = n.as_array();
  if (!a) fail(where(file, n), key + ": expected a list of strings (\"section.key=value\")");
  std::vector<std::string> out;
  for (const toml::node& e : *a) {
    auto s = e.as_string();
    if (!s) fail(where(file, e), key + ": expected a list of strings (\"section.key=value\")");
    out.push_back(s->get());
  }
  return out;
}

// A directory-name-safe spelling: anything outside [A-Za-z0-9._+=-] becomes '_'.
std::string path_safe(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '+' && c != '-' && c != '=') c = '_';
  return out.empty() ? "_" : out;
}

// Keys the grid sets itself: an axis over them would fight the study's own lr and seed lists.
bool reserved_axis(const std::string& key) { return key == "optimizer.lr" || key == "training.seed"; }

}  // namespace

bool glob_match(const std::string& glob, const std::string& text) {
  // Iterative wildcard match with backtracking to the last '*'.
  size_t g = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == text[t])) {
      ++g;
      ++t;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = t;
    } else if (star != std::string::npos) {
      g = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

Study Study::from_file(const std::string& path) {
  Study s;
  s.file = path;
  if (!fs::is_regular_file(path)) LAT_THROW("study file '", path, "' does not exist or is not a file");
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    LAT_THROW(path, ":", e.source().begin.line, ": ", e.description());
  }
  static const std::set<std::string> known = {"name",  "recipe",         "baseline", "set",   "learning_rates",
                                              "seeds", "eval_tokens",    "eval_lengths", "axes", "variant"};
  for (const auto& [k, v] : root) {
    const std::string key(k.str());
    if (!known.count(key))
      fail(where(path, v), key + ": unknown study key (expected one of name, recipe, baseline, set, learning_rates, "
                                 "seeds, eval_tokens, eval_lengths, [axes], [[variant]])");
  }
  const fs::path folder = fs::path(path).parent_path();

  s.name = root["name"].value_or(fs::path(path).stem().string());
  if (s.name.empty() || path_safe(s.name) != s.name || s.name.find('=') != std::string::npos)
    fail(path, "name: '" + s.name + "' must be a non-empty name of letters, digits, '.', '_', '+' or '-'");
  auto recipe = root["recipe"].value<std::string>();
  if (!recipe) fail(path, "recipe: missing (the base recipe file, relative to the study file)");
  s.recipe_path = (folder / *recipe).lexically_normal().string();
  if (!fs::is_regular_file(s.recipe_path))
    fail(where(path, *root.get("recipe")), "recipe: '" + s.recipe_path + "' does not exist");
  s.baseline = root["baseline"].value_or(std::string());
  if (const toml::node* n = root.get("set")) s.overrides = string_list(path, "set", *n);

  const toml::node* lrs = root.get("learning_rates");
  const toml::array* lr_array = lrs ? lrs->as_array() : nullptr;
  if (!lr_array || lr_array->empty()) fail(lrs ? where(path, *lrs) : path, "learning_rates: expected a non-empty list of positive numbers");
  for (const toml::node& e : *lr_array) {
    const std::optional<double> v = e.value<double>();
    if (!v || !(*v > 0) || !std::isfinite(*v)) fail(where(path, e), "learning_rates: each must be a positive number");
    if (std::find(s.learning_rates.begin(), s.learning_rates.end(), *v) != s.learning_rates.end())
      fail(where(path, e), "learning_rates: " + shortest_decimal(*v) + " is listed twice");
    s.learning_rates.push_back(*v);
  }
  const toml::node* seeds = root.get("seeds");
  const toml::array* seed_array = seeds ? seeds->as_array() : nullptr;
  if (!seed_array || seed_array->empty()) fail(seeds ? where(path, *seeds) : path, "seeds: expected a non-empty list of integers >= 0");
  for (const toml::node& e : *seed_array) {
    auto v = e.as_integer();
    if (!v || v->get() < 0) fail(where(path, e), "seeds: each must be an integer >= 0");
    if (std::find(s.seeds.begin(), s.seeds.end(), v->get()) != s.seeds.end())
      fail(where(path, e), "seeds: " + std::to_string(v->get()) + " is listed twice");
    s.seeds.push_back(v->get());
  }
  if (const toml::node* n = root.get("eval_tokens")) {
    auto v = n->as_integer();
    if (!v || v->get() < 1) fail(where(path, *n), "eval_tokens: expected a positive integer");
    s.eval_tokens = v->get();
  }
  if (const toml::node* n = root.get("eval_lengths")) {
    const toml::array* a = n->as_array();
    if (!a || a->empty()) fail(where(path, *n), "eval_lengths: expected a non-empty list of positive integers");
    s.eval_lengths.clear();
    for (const toml::node& e : *a) {
      auto v = e.as_integer();
      if (!v || v->get() < 1) fail(where(path, e), "eval_lengths: each must be a positive integer (a multiple of training.seq_len)");
      s.eval_lengths.push_back(v->get());
    }
    if (s.eval_lengths.front() != 1) fail(where(path, *n), "eval_lengths: must start with 1 (the training context)");
  }

  const std::vector<std::string> recipe_keys = Recipe::keys();
  if (const toml::node* n = root.get("axes")) {
    const toml::table* t = n->as_table();
    if (!t) fail(where(path, *n), "axes: expected a table of \"section.key\" = [values]");
    for (const auto& [k, v] : *t) {
      Axis axis;
      axis.key = std::string(k.str());
      if (std::find(recipe_keys.begin(), recipe_keys.end(), axis.key) == recipe_keys.end())
        fail(where(path, v), "axes: '" + axis.key + "' is not a recipe key (docs/recipes.md lists them)");
      if (reserved_axis(axis.key))
        fail(where(path, v), "axes: '" + axis.key + "' is set by the study itself (use learning_rates / seeds)");
      const toml::array* values = v.as_array();
      if (!values || values->empty()) fail(where(path, v), "axes: '" + axis.key + "' needs a non-empty list of values");
      for (const toml::node& e : *values) {
        const std::string text = scalar_text(path, "axes: '" + axis.key + "'", e).first;
        if (std::find(axis.values.begin(), axis.values.end(), text) != axis.values.end())
          fail(where(path, e), "axes: '" + axis.key + "' lists " + text + " twice");
        axis.values.push_back(text);
      }
      s.axes.push_back(std::move(axis));
    }
  }

  const toml::node* vs = root.get("variant");
  const toml::array* variants = vs ? vs->as_array() : nullptr;
  if (!variants || variants->empty())
    fail(vs ? where(path, *vs) : path, "variant: the study needs at least one [[variant]] table with a name and its set = [...]");
  for (const toml::node& e : *variants) {
    const toml::table* t = e.as_table();
    if (!t) fail(where(path, e), "variant: each entry must be a [[variant]] table");
    for (const auto& [k, v] : *t)
      if (k.str() != "name" && k.str() != "set")
        fail(where(path, v), "variant: unknown key '" + std::string(k.str()) + "' (a variant has a name and set = [...])");
    Variant variant;
    variant.name = (*t)["name"].value_or(std::string());
    if (variant.name.empty()) fail(where(path, e), "variant: a [[variant]] without a name");
    if (path_safe(variant.name) != variant.name || variant.name.find('=') != std::string::npos)
      fail(where(path, e), "variant '" + variant.name + "': names may hold only letters, digits, '.', '_', '+' and '-'");
    for (const Variant& other : s.variants)
      if (other.name == variant.name) fail(where(path, e), "variant '" + variant.name + "' is defined twice");
    const toml::node* set = t->get("set");
    if (!set) fail(where(path, e), "variant '" + variant.name + "': missing set = [...] (its recipe overrides)");
    variant.overrides = string_list(path, "variant '" + variant.name + "': set", *set);
    s.variants.push_back(std::move(variant));
  }
  if (!s.baseline.empty() && std::none_of(s.variants.begin(), s.variants.end(),
                                          [&](const Variant& v) { return v.name == s.baseline; }))
    fail(where(path, *root.get("baseline")), "baseline: '" + s.baseline + "' is not one of the study's variants");

  s.expand();
  return s;
}

void Study::expand() {
  runs_.clear();
  // Odometer over the axes (first axis slowest).
  std::vector<size_t> pos(axes.size(), 0);
  std::vector<std::vector<size_t>> combos;
  for (;;) {
    combos.push_back(pos);
    int a = static_cast<int>(axes.size()) - 1;
    while (a >= 0 && ++pos[static_cast<size_t>(a)] == axes[static_cast<size_t>(a)].values.size()) pos[static_cast<size_t>(a--)] = 0;
    if (a < 0) break;
  }
  std::set<std::string> dirs;
  // Seed slowest and variant fastest: a study stopped early (or a shard) holds every variant at the same seeds,
  // axes and learning rates, so what has finished can already be compared pairwise.
  for (int64_t seed : seeds) {
    for (const auto& combo : combos) {
      for (double lr : learning_rates) {
        for (const Variant& v : variants) {
          StudyRun run;
          run.index = static_cast<int64_t>(runs_.size());
          run.variant = v.name;
          run.lr = lr;
          run.seed = seed;
          run.overrides = overrides;
          run.overrides.insert(run.overrides.end(), v.overrides.begin(), v.overrides.end());
          fs::path dir = fs::path("runs") / v.name;
          for (size_t a = 0; a < axes.size(); ++a) {
            const std::string& spelled = axes[a].values[combo[a]];
            std::string bare = spelled;
            if (bare.size() >= 2 && bare.front() == '"') bare = bare.substr(1, bare.size() - 2);
            run.axes.emplace_back(axes[a].key, bare);
            run.overrides.push_back(axes[a].key + "=" + spelled);
            dir /= path_safe(axes[a].key + "=" + bare);
          }
          const std::string lr_text = shortest_decimal(lr);
          run.overrides.push_back("optimizer.lr=" + lr_text);
          run.overrides.push_back("training.seed=" + std::to_string(seed));
          run.dir = (dir / ("lr=" + lr_text) / ("seed=" + std::to_string(seed))).string();
          if (!dirs.insert(run.dir).second) LAT_THROW(file, ": two runs would share the directory '", run.dir, "'");
          try {
            run.recipe = Recipe::from_file(recipe_path, run.overrides);
          } catch (const Error& e) {
            LAT_THROW(file, ": variant '", v.name, "' (run ", run.dir, "): ", e.what());
          }
          runs_.push_back(std::move(run));
        }
      }
    }
  }
}

std::vector<const StudyRun*> select_runs(const Study& study, int shard_index, int shard_count, int rank, int ranks,
                                         const std::string& only_glob) {
  LAT_CHECK(shard_count >= 1 && shard_index >= 0 && shard_index < shard_count, "select_runs: bad shard ", shard_index,
            "/", shard_count);
  LAT_CHECK(ranks >= 1 && rank >= 0 && rank < ranks, "select_runs: bad rank ", rank, " of ", ranks);
  std::vector<const StudyRun*> shard;
  for (const StudyRun& r : study.runs())
    if (r.index % shard_count == shard_index && (only_glob.empty() || glob_match(only_glob, r.dir) || glob_match(only_glob, r.variant)))
      shard.push_back(&r);
  std::vector<const StudyRun*> mine;
  for (size_t j = 0; j < shard.size(); ++j)
    if (static_cast<int>(j % static_cast<size_t>(ranks)) == rank) mine.push_back(shard[j]);
  return mine;
}

}  // namespace lat::study
