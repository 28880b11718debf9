// Recipe parsing: the table of fields (trainers/recipe_fields.h: section, key, help, how to assign, how to print,
// which range) drives parsing, validation, to_toml() and the "did you mean" suggestions, so a new key is one line
// in recipe_fields.cpp.
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
#include "trainers/recipe_fields.h"
#include "trainers/recipe_text.h"

static_assert(TOML_EXCEPTIONS, "recipe.cpp expects toml++ with exceptions");

namespace lat {
namespace {

namespace fs = std::filesystem;
using namespace recipe_text;
using recipe_enums::EnumNames;
using recipe_enums::enum_choices;
using recipe_enums::enum_name;
using recipe_fields::fail_at;
using recipe_fields::Field;
using recipe_fields::fields;
using recipe_fields::Input;

// ---- messages ----------------------------------------------------------------------------------------

std::string where_in(const std::string& file, const toml::source_region& region) {
  return region.begin.line > 0 ? fmt::format("{}:{}", file, region.begin.line) : file;
}

// ---- the field table (trainers/recipe_fields.h) ------------------------------------------------------

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
