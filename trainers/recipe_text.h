// How recipe values are spelled in messages and in to_toml(): TOML type names and values, floats that stay
// floats, quoted strings, and the edit distance behind "did you mean". Used by trainers/recipe.cpp.
#pragma once

#include <toml++/toml.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace lat::recipe_text {

size_t edit_distance(std::string_view a, std::string_view b);
// "string", "integer", "float", ... as a message names a node's type.
std::string toml_type_name(const toml::node& node);
// A node's value as TOML writes it; tables and arrays as {...} and [...].
std::string toml_value_text(const toml::node& node);
// A double that reads back as a float in TOML (1 -> "1.0").
std::string format_double(double x);
// A TOML basic string with escapes, control characters as \b \t \n \f \r or \uXXXX (core/json.h quoted_string).
std::string quote(std::string_view s);
// True when `s` is well-formed UTF-8 (TOML strings must be; to_toml() could not write anything else back).
bool valid_utf8(std::string_view s);
// Text for a one-line message: line breaks and other control characters escaped as in quote(), unquoted.
std::string printable(std::string_view s);

}  // namespace lat::recipe_text
