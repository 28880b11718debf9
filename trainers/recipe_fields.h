// The recipe's field table: one entry per key (section, key, help, how to assign, how to print, which range).
// It drives parsing, validation, to_toml() and the "did you mean" suggestions (trainers/recipe.cpp), so a new
// key is one line in fields(). Internal to the trainers layer.
#pragma once

#include <toml++/toml.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lat {
struct Recipe;
namespace recipe_fields {

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

// "<where>: <key>: <message>" (or "<where>: <message>" when key is empty) as a lat::Error.
[[noreturn]] void fail_at(const std::string& where, std::string_view key, const std::string& message);

// Every key, in the order to_toml() prints them.
const std::vector<Field>& fields();

}  // namespace recipe_fields
}  // namespace lat
