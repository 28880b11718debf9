// CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones; the checksum of xz and Go's
// crc64.ECMA): detects every error burst of up to 64 bits, so any damaged byte of a checksummed file.
// Streaming: crc64_update(crc64_update(kCrc64Init, a), b) == crc64 of a followed by b.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lat {

constexpr uint64_t kCrc64Init = 0;  // the running value before any byte (the all-ones init is applied inside)

// Extends `crc` (kCrc64Init or an earlier result) over `size` bytes.
uint64_t crc64_update(uint64_t crc, const void* data, size_t size);

}  // namespace lat
