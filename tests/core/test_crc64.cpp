#include <doctest/doctest.h>

#include <string>

#include "core/crc64.h"

using namespace lat;

namespace {

// The textbook bit-at-a-time CRC-64/XZ, as an independent reference for the sliced implementation.
uint64_t crc64_bitwise(const std::string& s) {
  uint64_t c = ~0ull;
  for (unsigned char byte : s) {
    c ^= byte;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ 0xC96C5795D7870F42ull : c >> 1;
  }
  return ~c;
}

uint64_t crc(const std::string& s) {
  return crc64_update(kCrc64Init, s.data(), s.size());
}

}  // namespace

TEST_CASE(
    "crc64: the catalogue check value, the bitwise reference, streaming, and every flipped bit detected") {
  CHECK(crc("123456789") == 0x995DC9BBDF1939FAull);  // CRC-64/XZ check value (reveng catalogue)
  CHECK(crc("") == 0);
  std::string text;
  for (int i = 0; i < 1000; ++i) text += static_cast<char>((i * 7919) % 251);
  for (size_t n : {1u, 7u, 8u, 9u, 63u, 1000u})
    CHECK(crc(text.substr(0, n)) == crc64_bitwise(text.substr(0, n)));
  for (size_t split : {0u, 1u, 5u, 8u, 333u, 1000u}) {
    const uint64_t first = crc64_update(kCrc64Init, text.data(), split);
    CHECK(crc64_update(first, text.data() + split, text.size() - split) == crc(text));
  }
  const uint64_t good = crc(text);
  for (size_t i = 0; i < text.size(); i += 13)
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = text;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      CHECK(crc(damaged) != good);
    }
}
