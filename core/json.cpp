// The JSON value's parser (recursive descent over the bytes, errors with the byte offset) and writer.
#include "core/json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_set>

#include "core/error.h"

namespace lat {

namespace {

const char* kind_name(Json::Kind k) {
  switch (k) {
    case Json::Kind::null:
      return "null";
    case Json::Kind::boolean:
      return "a boolean";
    case Json::Kind::integer:
    case Json::Kind::number:
      return "a number";
    case Json::Kind::string:
      return "a string";
    case Json::Kind::array:
      return "an array";
    case Json::Kind::object:
      return "an object";
  }
  return "?";
}

class Parser {
 public:
  Parser(const std::string& text, const std::string& source) : s_(text), source_(source) {}

  Json document() {
    Json v = value(0);
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { LAT_THROW(source_, ": byte ", pos_, ": ", what); }

  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool consume(const char* word) {
    const size_t n = std::strlen(word);
    if (s_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }

  Json value(int depth) {
    if (depth > 200) fail("nesting deeper than 200 levels");
    skip_space();
    if (pos_ >= s_.size()) fail("unexpected end of text, expected a value");
    const char c = s_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return Json(string());
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    if (consume("true")) return Json(true);
    if (consume("false")) return Json(false);
    if (consume("null")) return Json();
    fail(std::string("unexpected character '") + c + "'");
  }

  Json object(int depth) {
    Json obj = Json::object();
    std::unordered_set<std::string> keys;  // a vocabulary holds 10^5 keys: Json::find would be quadratic
    ++pos_;
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return obj;
    }
    while (true) {
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a key string");
      std::string key = string();
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != ':') fail("expected ':' after key \"" + key + "\"");
      ++pos_;
      if (!keys.insert(key).second) fail("duplicate key \"" + key + "\"");
      obj.append(std::move(key), value(depth + 1));
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return obj;
      }
      fail("expected ',' or '}' in an object");
    }
  }

  Json array(int depth) {
    Json arr = Json::array();
    ++pos_;
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return arr;
    }
    while (true) {
      arr.push_back(value(depth + 1));
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return arr;
      }
      fail("expected ',' or ']' in an array");
    }
  }

  unsigned hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        fail("bad hex digit in a \\u escape");
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("control character inside a string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) fail("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (!consume("\\u")) fail("unpaired surrogate in a \\u escape");
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("unpaired surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("unpaired surrogate in a \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          fail(std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  Json number() {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t d0 = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d0;
    };
    if (s_[pos_] == '-') ++pos_;
    const size_t int_start = pos_;
    if (digits() == 0) fail("expected digits in a number");
    if (s_[int_start] == '0' && pos_ - int_start > 1) {
      pos_ = int_start;
      fail("leading zero in a number");
    }
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      integral = false;
      if (digits() == 0) fail("expected digits after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      integral = false;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail("expected digits in an exponent");
    }
    const std::string literal = s_.substr(start, pos_ - start);
    if (integral) {
      errno = 0;
      char* end = nullptr;
      const long long v = std::strtoll(literal.c_str(), &end, 10);
      if (errno == 0) return Json(static_cast<int64_t>(v));
    }
    return Json(std::strtod(literal.c_str(), nullptr));
  }

  const std::string& s_;
  const std::string& source_;
  size_t pos_ = 0;
};

void write_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

bool is_scalar(const Json& j) {
  return !j.is_array() && !j.is_object();
}

}  // namespace

std::string quoted_string(std::string_view s) {
  std::string out;
  write_string(out, s);
  return out;
}

std::string shortest_decimal(double value) {
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string json_double(double v) {
  if (!std::isfinite(v)) return "null";
  std::string s = shortest_decimal(v);
  // A double that prints like an integer keeps a marker that it is a double, so it reads back as one.
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

Json Json::parse(const std::string& text, const std::string& source) {
  return Parser(text, source).document();
}

Json Json::parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) LAT_THROW("cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

double Json::as_double(const std::string& what) const {
  if (kind_ == Kind::integer) return static_cast<double>(int_);
  if (kind_ == Kind::number) return number_;
  LAT_THROW(what, " should be a number, not ", kind_name(kind_));
}

int64_t Json::as_int(const std::string& what) const {
  if (kind_ == Kind::integer) return int_;
  if (kind_ == Kind::number && std::nearbyint(number_) == number_ && std::abs(number_) < 9.2e18)
    return static_cast<int64_t>(number_);
  LAT_THROW(what, " should be an integer, not ",
            kind_ == Kind::number ? json_double(number_) : kind_name(kind_));
}

bool Json::as_bool(const std::string& what) const {
  if (kind_ == Kind::boolean) return bool_;
  LAT_THROW(what, " should be true or false, not ", kind_name(kind_));
}

const std::string& Json::as_string(const std::string& what) const {
  if (kind_ == Kind::string) return string_;
  LAT_THROW(what, " should be a string, not ", kind_name(kind_));
}

const Json* Json::find(const std::string& key) const {
  for (const auto& [k, v] : members_)
    if (k == key) return &v;
  return nullptr;
}

const Json& Json::at(const std::string& key) const {
  if (kind_ != Kind::object) LAT_THROW("expected an object holding \"", key, "\", not ", kind_name(kind_));
  const Json* v = find(key);
  if (!v) LAT_THROW("missing key \"", key, "\"");
  return *v;
}

Json& Json::set(const std::string& key, Json value) {
  LAT_CHECK(kind_ == Kind::object, "Json::set(\"", key, "\") on ", kind_name(kind_));
  for (auto& [k, v] : members_)
    if (k == key) return v = std::move(value);
  members_.emplace_back(key, std::move(value));
  return members_.back().second;
}

Json& Json::append(std::string key, Json value) {
  LAT_CHECK(kind_ == Kind::object, "Json::append(\"", key, "\") on ", kind_name(kind_));
  members_.emplace_back(std::move(key), std::move(value));
  return members_.back().second;
}

Json& Json::push_back(Json value) {
  LAT_CHECK(kind_ == Kind::array, "Json::push_back on ", kind_name(kind_));
  items_.push_back(std::move(value));
  return items_.back();
}

std::string Json::dump(int indent) const {
  std::string out;
  write(out, indent, 0);
  return out;
}

void Json::write(std::string& out, int indent, int level) const {
  switch (kind_) {
    case Kind::null:
      out += "null";
      return;
    case Kind::boolean:
      out += bool_ ? "true" : "false";
      return;
    case Kind::integer:
      out += std::to_string(int_);
      return;
    case Kind::number:
      out += json_double(number_);
      return;
    case Kind::string:
      write_string(out, string_);
      return;
    case Kind::array:
    case Kind::object:
      break;
  }
  const bool is_obj = kind_ == Kind::object;
  const size_t n = size();
  out += is_obj ? '{' : '[';
  if (n == 0) {
    out += is_obj ? '}' : ']';
    return;
  }
  bool flat = indent < 0;
  if (!is_obj && !flat) {
    flat = true;
    for (const Json& item : items_) flat = flat && is_scalar(item);
  }
  std::string pad_in, pad_out;
  if (!flat) {
    pad_in.append(1, '\n').append(static_cast<size_t>(indent * (level + 1)), ' ');
    pad_out.append(1, '\n').append(static_cast<size_t>(indent * level), ' ');
  }
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += flat ? ", " : ",";
    out += pad_in;
    if (is_obj) {
      write_string(out, members_[i].first);
      out += ": ";
      members_[i].second.write(out, indent, level + 1);
    } else {
      items_[i].write(out, indent, level + 1);
    }
  }
  out += pad_out;
  out += is_obj ? '}' : ']';
}

}  // namespace lat
