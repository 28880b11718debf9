// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the counter-based
// generator behind lat's RNG. Header-only and usable from host and device code, so both compute the same
// bits. Stream convention (see random.h): element j of a draw is lane j % 4 of the block with counter
// {lo32(j / 4), hi32(j / 4), subsequence, 0} under key {lo32(seed), hi32(seed)}.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define LAT_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define LAT_HOST_DEVICE inline
#endif

namespace lat {

struct Philox4x32 {
  uint32_t v[4];
};

LAT_HOST_DEVICE Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr.v[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
    key0 += kW0;
    key1 += kW1;
  }
  return ctr;
}

// The 4 words of block `block` of subsequence `subsequence` in the stream of `seed`.
LAT_HOST_DEVICE Philox4x32 philox_block(uint64_t seed, uint64_t block, uint32_t subsequence) {
  Philox4x32 ctr{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), subsequence, 0u}};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform in the open interval (0, 1) from the top 24 bits: exactly representable in float.
LAT_HOST_DEVICE float philox_uniform_from_bits(uint32_t bits) {
  return (static_cast<float>(bits >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

}  // namespace lat
