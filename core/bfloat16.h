// bfloat16 storage type for host code: 1 sign, 8 exponent, 7 mantissa bits; conversions round to nearest
// even, like __float2bfloat16_rn on the GPU, so both devices store identical bits for the same float.
#pragma once

#include <cstdint>
#include <cstring>

namespace lat {

struct bfloat16 {
  uint16_t bits = 0;

  bfloat16() = default;
  explicit bfloat16(float f) : bits(round_to_bits(f)) {}
  explicit operator float() const {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
  explicit operator double() const { return static_cast<float>(*this); }

  static uint16_t round_to_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
  }
};

}  // namespace lat
