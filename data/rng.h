// Philox helpers for the data layer: a counter-based stream per (seed, domain, stream id) and a keyed
// bijection of [0, n) for shuffling. Everything is a pure function of its arguments, so a batch depends
// only on (seed, epoch, position), never on rank count, threads or call history.
#pragma once

#include <cstdint>

#include "core/philox.h"

namespace lat::data {

// Domains keep the data streams of one seed independent of each other and of core/random.h's streams.
enum class RngDomain : uint32_t { Mqar = 0x4d514152u, Shuffle = 0x53485546u };

// Sequential draws from the Philox stream keyed by (seed, domain) at counter (block, stream).
class PhiloxStream {
 public:
  PhiloxStream(uint64_t seed, RngDomain domain, uint64_t stream)
      : key0_(static_cast<uint32_t>(seed) ^ static_cast<uint32_t>(domain)),
        key1_(static_cast<uint32_t>(seed >> 32) ^ 0x9E3779B9u),
        stream_(stream) {}

  uint32_t next_u32() {
    if (lane_ == 4) {
      Philox4x32 ctr{{static_cast<uint32_t>(block_), static_cast<uint32_t>(block_ >> 32),
                      static_cast<uint32_t>(stream_), static_cast<uint32_t>(stream_ >> 32)}};
      words_ = philox4x32_10(ctr, key0_, key1_);
      ++block_;
      lane_ = 0;
    }
    return words_.v[lane_++];
  }
  uint64_t next_u64() {
    const uint64_t hi = next_u32();
    return (hi << 32) | next_u32();
  }
  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift on 64 bits: bias below 2^-40 for our n).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next_u64()) * n) >> 64); }
  // Uniform double in the open interval (0, 1).
  double uniform() { return (static_cast<double>(next_u64() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

 private:
  uint32_t key0_, key1_;
  uint64_t stream_;
  uint64_t block_ = 0;
  Philox4x32 words_{};
  int lane_ = 4;
};

// A pseudo-random bijection of [0, n) keyed by (seed, stream): a balanced Feistel network on the smallest
// even number of bits covering n, with cycle walking. O(1) memory, so shuffling ten million windows costs
// nothing up front.
class Permutation {
 public:
  Permutation(int64_t n, uint64_t seed, uint64_t stream);
  int64_t operator()(int64_t i) const;
  int64_t size() const { return n_; }

 private:
  uint64_t encrypt(uint64_t x) const;

  int64_t n_;
  int half_bits_ = 1;
  uint64_t mask_ = 1;
  uint32_t key0_, key1_, stream_lo_, stream_hi_;
};

}  // namespace lat::data
