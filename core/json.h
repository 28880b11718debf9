// A minimal JSON value for lat's small text files (the study's run.json, eval.json, report.json; tokenizer.json):
// parse with errors naming the source and byte offset, build, and write deterministically. Objects keep their
// key order; integers (literals without '.', 'e' that fit in int64) stay integers; other numbers are doubles
// written in the shortest form that reads back to the same double; non-finite numbers are written as null.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lat {

class Json {
 public:
  enum class Kind { null, boolean, integer, number, string, array, object };

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : kind_(Kind::boolean), bool_(b) {}
  Json(int v) : kind_(Kind::integer), int_(v) {}
  Json(int64_t v) : kind_(Kind::integer), int_(v) {}
  Json(double v) : kind_(Kind::number), number_(v) {}
  Json(const char* s) : kind_(Kind::string), string_(s) {}
  Json(std::string s) : kind_(Kind::string), string_(std::move(s)) {}

  static Json array() { return with_kind(Kind::array); }
  static Json object() { return with_kind(Kind::object); }

  // Parses one JSON value (surrounding whitespace allowed). `source` names the text in errors:
  // "<source>: byte <offset>: <what is wrong>".
  static Json parse(const std::string& text, const std::string& source);
  // Reads and parses a whole file; errors name the path.
  static Json parse_file(const std::string& path);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::null; }
  bool is_number() const { return kind_ == Kind::integer || kind_ == Kind::number; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_object() const { return kind_ == Kind::object; }
  bool is_array() const { return kind_ == Kind::array; }

  // Typed reads; a wrong kind throws lat::Error naming `what` (the key or element being read).
  double as_double(const std::string& what) const;
  int64_t as_int(const std::string& what) const;  // integers, or doubles with an integral value
  bool as_bool(const std::string& what) const;
  const std::string& as_string(const std::string& what) const;

  // Objects: find returns nullptr when the key is absent; at throws naming the key.
  const Json* find(const std::string& key) const;
  const Json& at(const std::string& key) const;
  // Sets a member (replacing an existing one in place, else appending: insertion order is kept).
  Json& set(const std::string& key, Json value);
  // Appends a member without looking for an existing one (the caller knows the key is new): building an
  // object of 10^5 members (a vocabulary) stays linear.
  Json& append(std::string key, Json value);
  const std::vector<std::pair<std::string, Json>>& members() const { return members_; }

  // Arrays.
  Json& push_back(Json value);
  const std::vector<Json>& items() const { return items_; }
  size_t size() const { return kind_ == Kind::object ? members_.size() : items_.size(); }

  // Writes the value. indent < 0: one line with ", " and ": " separators; indent >= 0: pretty, that many
  // spaces per level (arrays of scalars stay on one line). Same value, same bytes.
  std::string dump(int indent = -1) const;

 private:
  static Json with_kind(Kind k) {
    Json j;
    j.kind_ = k;
    return j;
  }
  void write(std::string& out, int indent, int level) const;

  Kind kind_ = Kind::null;
  bool bool_ = false;
  int64_t int_ = 0;
  double number_ = 0;
  std::string string_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

// The shortest "%g" spelling that reads back as `value` ("0.003", "1e-05", "3"): learning rates in run
// directory names and overrides use it too.
std::string shortest_decimal(double value);

// `s` as a quoted string literal: `"`, `\` and every control character (DEL included) escaped, the rest (UTF-8
// included) as is. Valid JSON and a valid TOML basic string alike (trainers/recipe_text.h quotes with it).
std::string quoted_string(std::string_view s);
// The shortest decimal form of a finite double that reads back to the same double ("null" when not finite).
std::string json_double(double v);

}  // namespace lat
