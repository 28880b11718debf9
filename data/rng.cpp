#include "data/rng.h"

#include "core/error.h"

namespace lat::data {

namespace {
constexpr int kFeistelRounds = 6;
}

Permutation::Permutation(int64_t n, uint64_t seed, uint64_t stream)
    : n_(n),
      key0_(static_cast<uint32_t>(seed) ^ static_cast<uint32_t>(RngDomain::Shuffle)),
      key1_(static_cast<uint32_t>(seed >> 32) ^ 0x7F4A7C15u),
      stream_lo_(static_cast<uint32_t>(stream)),
      stream_hi_(static_cast<uint32_t>(stream >> 32)) {
  LAT_CHECK(n > 0, "permutation of an empty range");
  int bits = 0;
  while (bits < 62 && (uint64_t{1} << bits) < static_cast<uint64_t>(n)) ++bits;
  half_bits_ = bits < 2 ? 1 : (bits + 1) / 2;
  mask_ = (uint64_t{1} << half_bits_) - 1;
}

uint64_t Permutation::encrypt(uint64_t x) const {
  uint64_t left = x >> half_bits_, right = x & mask_;
  for (uint32_t round = 0; round < kFeistelRounds; ++round) {
    Philox4x32 ctr{{static_cast<uint32_t>(right), static_cast<uint32_t>(right >> 32) ^ (round << 24), stream_lo_,
                    stream_hi_}};
    const Philox4x32 r = philox4x32_10(ctr, key0_, key1_);
    const uint64_t f = ((static_cast<uint64_t>(r.v[1]) << 32) | r.v[0]) & mask_;
    const uint64_t next_right = left ^ f;
    left = right;
    right = next_right;
  }
  return (left << half_bits_) | right;
}

int64_t Permutation::operator()(int64_t i) const {
  LAT_CHECK(i >= 0 && i < n_, "permutation index ", i, " outside [0, ", n_, ")");
  if (n_ == 1) return 0;
  // Cycle walking: the Feistel domain is at most 4n, so this takes under 4 encryptions on average.
  uint64_t x = static_cast<uint64_t>(i);
  do {
    x = encrypt(x);
  } while (x >= static_cast<uint64_t>(n_));
  return static_cast<int64_t>(x);
}

}  // namespace lat::data
