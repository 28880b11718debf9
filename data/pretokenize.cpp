// The split patterns of data/pretokenize.h as a hand-written matcher: at each position the alternatives are
// tried in the regex's order, and each returns where its (leftmost, greedy) match ends.
#include "data/pretokenize.h"

#include <array>

#include "core/error.h"
#include "data/unicode_tables.h"

namespace lat::data {
namespace {

using unicode::CharClass;

constexpr std::array<CharClass, 128> ascii_classes() {
  std::array<CharClass, 128> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = CharClass::Letter;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<size_t>(c)] = CharClass::Letter;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = CharClass::Number;
  for (int c : {' ', '\t', '\n', '\v', '\f', '\r'}) t[static_cast<size_t>(c)] = CharClass::Whitespace;
  return t;
}
constexpr std::array<CharClass, 128> kAscii = ascii_classes();

// One valid UTF-8 stretch of the text: [begin, end) holds no invalid byte.
class Matcher {
 public:
  Matcher(const unsigned char* s, size_t end, SplitPattern pattern) : s_(s), end_(end), pattern_(pattern) {}

  // End of the piece that starts at `pos` (< end).
  size_t piece(size_t pos) const { return pattern_ == SplitPattern::Gpt2 ? gpt2(pos) : cl100k(pos); }

 private:
  // Class and byte length of the character at pos (< end_).
  CharClass at(size_t pos, int* len) const {
    const unsigned c = s_[pos];
    if (c < 0x80) {
      *len = 1;
      return kAscii[c];
    }
    uint32_t cp = 0;
    *len = unicode::decode_utf8(s_ + pos, end_ - pos, &cp);
    return unicode::char_class(cp);
  }
  CharClass class_at(size_t pos) const {
    int len;
    return at(pos, &len);
  }
  // End of the run of characters of class c starting at pos.
  size_t run(size_t pos, CharClass c) const {
    int len;
    while (pos < end_ && at(pos, &len) == c) pos += static_cast<size_t>(len);
    return pos;
  }
  bool is_newline(size_t pos) const { return pos < end_ && (s_[pos] == '\r' || s_[pos] == '\n'); }

  // The contractions 's 't 're 've 'm 'll 'd after an apostrophe at pos; 0 when none matches. Case-insensitive
  // matching folds as Unicode's simple case folding does: S, s and U+017F LATIN SMALL LETTER LONG S are one.
  size_t contraction(size_t pos, bool ignore_case) const {
    auto letter = [&](size_t i, char lower) -> int {  // byte length of a match of `lower` at i, or 0
      if (i >= end_) return 0;
      const unsigned char c = s_[i];
      if (c == static_cast<unsigned char>(lower)) return 1;
      if (!ignore_case) return 0;
      if (c == static_cast<unsigned char>(lower - 'a' + 'A')) return 1;
      if (lower == 's' && c == 0xC5 && i + 1 < end_ && s_[i + 1] == 0xBF) return 2;
      return 0;
    };
    const size_t p = pos + 1;
    for (char c : {'s', 't'})
      if (int n = letter(p, c)) return 1 + static_cast<size_t>(n);
    for (const char* two : {"re", "ve"})
      if (int a = letter(p, two[0]))
        if (int b = letter(p + static_cast<size_t>(a), two[1])) return 1 + static_cast<size_t>(a + b);
    if (int n = letter(p, 'm')) return 1 + static_cast<size_t>(n);
    if (int a = letter(p, 'l'))
      if (int b = letter(p + static_cast<size_t>(a), 'l')) return 1 + static_cast<size_t>(a + b);
    if (int n = letter(p, 'd')) return 1 + static_cast<size_t>(n);
    return 0;
  }

  // \s+(?!\S) then \s+ at pos (a whitespace character): the run, less its last character when something other
  // than whitespace follows and the run has more than one character.
  size_t whitespace(size_t pos) const {
    size_t last = pos, p = pos;
    int len;
    while (p < end_ && at(p, &len) == CharClass::Whitespace) {
      last = p;
      p += static_cast<size_t>(len);
    }
    if (p == end_ || last == pos) return p;
    return last;
  }

  size_t gpt2(size_t pos) const {
    if (s_[pos] == '\'')
      if (size_t n = contraction(pos, false)) return pos + n;
    int len;
    const CharClass c0 = at(pos, &len);
    if (s_[pos] == ' ' && pos + 1 < end_) {  // " ?" before letters, numbers or other characters
      const CharClass c1 = class_at(pos + 1);
      if (c1 != CharClass::Whitespace) return run(pos + 1, c1);
    }
    if (c0 != CharClass::Whitespace) return run(pos, c0);
    return whitespace(pos);
  }

  size_t cl100k(size_t pos) const {
    const unsigned char b = s_[pos];
    if (b == '\'')
      if (size_t n = contraction(pos, true)) return pos + n;
    int len;
    const CharClass c0 = at(pos, &len);
    const size_t next = pos + static_cast<size_t>(len);
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (c0 == CharClass::Letter) return run(pos, CharClass::Letter);
    if (c0 != CharClass::Number && b != '\r' && b != '\n' && next < end_ && class_at(next) == CharClass::Letter)
      return run(next, CharClass::Letter);
    // \p{N}{1,3} (qwen2: \p{N})
    if (c0 == CharClass::Number) {
      size_t p = next;
      const int most = pattern_ == SplitPattern::Qwen2 ? 1 : 3;
      for (int count = 1; count < most && p < end_ && at(p, &len) == CharClass::Number; ++count)
        p += static_cast<size_t>(len);
      return p;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    size_t other = end_;  // start of the run of other characters, if the alternative applies
    if (c0 == CharClass::Other)
      other = pos;
    else if (b == ' ' && next < end_ && class_at(next) == CharClass::Other)
      other = next;
    if (other != end_) {
      size_t p = run(other, CharClass::Other);
      while (is_newline(p)) ++p;
      return p;
    }
    // \s*[\r\n]+: through the last newline of the whitespace run
    size_t p = pos, after_newline = 0;
    while (p < end_ && at(p, &len) == CharClass::Whitespace) {
      if (s_[p] == '\r' || s_[p] == '\n') after_newline = p + 1;
      p += static_cast<size_t>(len);
    }
    if (after_newline != 0) return after_newline;
    return whitespace(pos);
  }

  const unsigned char* s_;
  size_t end_;
  SplitPattern pattern_;
};

// End of the valid UTF-8 stretch that starts at pos (pos itself when the byte there is invalid).
size_t valid_end(const unsigned char* s, size_t n, size_t pos) {
  while (pos < n) {
    if (s[pos] < 0x80) {
      ++pos;
      continue;
    }
    uint32_t cp;
    const int len = unicode::decode_utf8(s + pos, n - pos, &cp);
    if (len == 0) break;
    pos += static_cast<size_t>(len);
  }
  return pos;
}

const std::string kRegex[] = {
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
};

}  // namespace

const char* split_pattern_name(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::Gpt2: return "gpt2";
    case SplitPattern::Cl100k: return "cl100k";
    case SplitPattern::Qwen2: return "qwen2";
  }
  return "?";
}

std::optional<SplitPattern> split_pattern_from_name(std::string_view name) {
  for (SplitPattern p : {SplitPattern::Gpt2, SplitPattern::Cl100k, SplitPattern::Qwen2})
    if (name == split_pattern_name(p)) return p;
  return std::nullopt;
}

const std::string& split_pattern_regex(SplitPattern pattern) {
  return kRegex[static_cast<int>(pattern)];
}

std::optional<SplitPattern> split_pattern_from_regex(std::string_view regex) {
  for (SplitPattern p : {SplitPattern::Gpt2, SplitPattern::Cl100k, SplitPattern::Qwen2})
    if (regex == split_pattern_regex(p)) return p;
  // tiktoken's own spelling of cl100k: possessive quantifiers, which change nothing for these classes.
  if (regex == R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)")
    return SplitPattern::Cl100k;
  return std::nullopt;
}

void split_pieces(SplitPattern pattern, std::string_view text, std::vector<uint32_t>& ends) {
  if (text.size() >= (size_t{1} << 32))
    LAT_THROW("pre-tokenizer: a text of ", text.size(), " bytes is longer than 4 GiB; split it first");
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    const size_t end = valid_end(s, n, pos);
    if (end == pos) {  // an invalid byte: a piece of its own
      ends.push_back(static_cast<uint32_t>(++pos));
      continue;
    }
    const Matcher m(s, end, pattern);
    while (pos < end) {
      pos = m.piece(pos);
      ends.push_back(static_cast<uint32_t>(pos));
    }
  }
}

size_t next_safe_cut(std::string_view text, size_t from) {
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  for (size_t i = from < 1 ? 1 : from; i + 1 < text.size(); ++i)
    if (text[i] == ' ' && letter(text[i - 1]) && letter(text[i + 1])) return i;
  return text.size();
}

}  // namespace lat::data
