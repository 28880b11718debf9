// char_class: a byte per code point of the Basic Multilingual Plane, built once from the generated ranges
// (data/unicode_tables.cpp); a binary search over the ranges above it.
#include <algorithm>
#include <array>

#include "data/unicode_tables.h"

namespace lat::data::unicode {
namespace {

bool in_ranges(const CodePointRange* ranges, size_t count, uint32_t cp) {
  const CodePointRange* end = ranges + count;
  const CodePointRange* it =
      std::upper_bound(ranges, end, cp, [](uint32_t v, const CodePointRange& r) { return v < r.first; });
  return it != ranges && cp <= (it - 1)->last;
}

struct BmpTable {
  std::array<CharClass, 0x10000> classes{};
  BmpTable() {
    auto mark = [&](const CodePointRange* ranges, size_t count, CharClass c) {
      for (size_t i = 0; i < count; ++i)
        for (uint32_t cp = ranges[i].first; cp <= std::min<uint32_t>(ranges[i].last, 0xFFFF); ++cp)
          classes[cp] = c;
    };
    mark(kLetterRanges, kLetterRangesCount, CharClass::Letter);
    mark(kNumberRanges, kNumberRangesCount, CharClass::Number);
    mark(kWhitespaceRanges, kWhitespaceRangesCount, CharClass::Whitespace);
  }
};

}  // namespace

CharClass char_class(uint32_t cp) {
  static const BmpTable bmp;
  if (cp < 0x10000) return bmp.classes[cp];
  if (in_ranges(kLetterRanges, kLetterRangesCount, cp)) return CharClass::Letter;
  if (in_ranges(kNumberRanges, kNumberRangesCount, cp)) return CharClass::Number;
  if (in_ranges(kWhitespaceRanges, kWhitespaceRangesCount, cp)) return CharClass::Whitespace;
  return CharClass::Other;
}

}  // namespace lat::data::unicode
