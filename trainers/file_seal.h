// The integrity seal of lat's HDF5 files (checkpoints and lat-export analysis files): the first 512 bytes are
// an HDF5 user block, which HDF5, h5py and h5dump skip, holding as text the file's kind, its size and the
// CRC-64 (core/crc64.h) of every byte after the block:
//
//   LAT-CHECKPOINT 2\ncrc64 95ab2c73e1f0d4a8\nbytes 41904\n   then zero bytes up to offset 512
//
// The seal is written last, after HDF5 has closed the file, and verified before HDF5 is handed the file, so a
// file damaged anywhere (metadata, data, the seal itself, truncated or extended) is refused without HDF5
// parsing a byte of it. docs/checkpoints.md says why a whole-file seal and not only HDF5's Fletcher32 filter.
#pragma once

#include <cstdint>
#include <string>

namespace lat {

constexpr uint64_t kSealBytes = 512;  // the HDF5 user block (a power of two >= 512)

enum class FileKind {
  Checkpoint,  // "LAT-CHECKPOINT 2"
  Export,      // "LAT-EXPORT 1"
  Hdf5,        // an HDF5 file without a lat seal (someone else's, or written before the seal existed)
  Other,       // anything else: no seal and no HDF5 signature at offset 0 (foreign, or a damaged seal)
};

// What the first bytes of `path` claim (no check of the checksum). Other for a missing or unreadable file.
FileKind claimed_kind(const std::string& path);

// Writes the seal into the user block of `path`, an HDF5 file created with a kSealBytes user block and
// already closed. `label` prefixes errors ("checkpoint 'x.h5.tmp'").
void seal_file(const std::string& path, FileKind kind, const std::string& label);

// Verifies the seal of `path`: the header reads back exactly, the size matches and the checksum of the rest
// matches. Throws lat::Error "<label>: damaged (<what does not match>)".
void verify_seal(const std::string& path, FileKind kind, const std::string& label);

}  // namespace lat
