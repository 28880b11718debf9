#include "trainers/file_seal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/crc64.h"
#include "core/error.h"

namespace lat {
namespace {

const char* magic(FileKind kind) {
  return kind == FileKind::Checkpoint ? "LAT-CHECKPOINT 2\n" : "LAT-EXPORT 1\n";
}
constexpr char kHdf5Signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};

// The 512-byte header for a file of `size` bytes whose bytes after the header have checksum `crc`.
std::vector<char> header(FileKind kind, uint64_t crc, uint64_t size) {
  std::vector<char> block(kSealBytes, '\0');
  std::snprintf(block.data(), block.size(), "%scrc64 %016" PRIx64 "\nbytes %" PRIu64 "\n", magic(kind), crc,
                size);
  return block;
}

class File {
 public:
  File(const std::string& path, int flags, const std::string& label) : label_(label) {
    fd_ = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd_ < 0) LAT_THROW(label_, ": cannot open: ", std::strerror(errno));
  }
  ~File() { ::close(fd_); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  uint64_t size() const {
    const off_t end = ::lseek(fd_, 0, SEEK_END);
    if (end < 0) LAT_THROW(label_, ": cannot read: ", std::strerror(errno));
    return static_cast<uint64_t>(end);
  }
  // Reads up to n bytes at `offset`; returns how many were read.
  size_t read_at(char* out, size_t n, uint64_t offset) const {
    size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, out + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) LAT_THROW(label_, ": cannot read: ", std::strerror(errno));
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }
  void write_at(const char* data, size_t n, uint64_t offset) const {
    size_t done = 0;
    while (done < n) {
      const ssize_t put = ::pwrite(fd_, data + done, n - done, static_cast<off_t>(offset + done));
      if (put < 0 && errno == EINTR) continue;
      if (put <= 0) LAT_THROW(label_, ": cannot write: ", std::strerror(errno));
      done += static_cast<size_t>(put);
    }
  }
  // CRC-64 of the bytes from kSealBytes to the end.
  uint64_t body_checksum() const {
    std::vector<char> buffer(size_t{4} << 20);
    uint64_t crc = kCrc64Init, offset = kSealBytes;
    for (;;) {
      const size_t n = read_at(buffer.data(), buffer.size(), offset);
      if (n == 0) return crc;
      crc = crc64_update(crc, buffer.data(), n);
      offset += n;
    }
  }

 private:
  int fd_ = -1;
  std::string label_;
};

}  // namespace

FileKind claimed_kind(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileKind::Other;
  char start[32] = {};
  const ssize_t n = ::pread(fd, start, sizeof start, 0);
  ::close(fd);
  if (n < 0) return FileKind::Other;
  const std::string head(start, static_cast<size_t>(n));
  for (FileKind kind : {FileKind::Checkpoint, FileKind::Export})
    if (head.rfind(magic(kind), 0) == 0) return kind;
  if (head.size() >= sizeof kHdf5Signature && std::memcmp(start, kHdf5Signature, sizeof kHdf5Signature) == 0)
    return FileKind::Hdf5;
  return FileKind::Other;
}

void seal_file(const std::string& path, FileKind kind, const std::string& label) {
  File f(path, O_RDWR, label);
  const uint64_t size = f.size();
  if (size < kSealBytes) LAT_THROW(label, ": HDF5 wrote no user block to hold the seal");
  char block[kSealBytes];
  if (f.read_at(block, kSealBytes, 0) != kSealBytes ||
      std::any_of(block, block + kSealBytes, [](char c) { return c; }))
    LAT_THROW(label, ": the user block is not empty; refusing to seal");
  const std::vector<char> h = header(kind, f.body_checksum(), size);
  f.write_at(h.data(), h.size(), 0);
}

void verify_seal(const std::string& path, FileKind kind, const std::string& label) {
  File f(path, O_RDONLY, label);
  const uint64_t size = f.size();
  char block[kSealBytes];
  if (size < kSealBytes || f.read_at(block, kSealBytes, 0) != kSealBytes)
    LAT_THROW(label, ": damaged (", size, " bytes: shorter than its ", kSealBytes, "-byte seal)");
  uint64_t crc = 0, stated = 0;
  const std::string m = magic(kind);
  if (std::memcmp(block, m.data(), m.size()) != 0 ||
      std::sscanf(block + m.size(), "crc64 %16" SCNx64 "\nbytes %" SCNu64, &crc, &stated) != 2 ||
      std::memcmp(block, header(kind, crc, stated).data(), kSealBytes) != 0)
    LAT_THROW(label, ": damaged (its integrity seal in the first ", kSealBytes, " bytes does not read back)");
  if (stated != size)
    LAT_THROW(label, ": damaged (", size, " bytes, the seal says ", stated, ": truncated or extended)");
  const uint64_t actual = f.body_checksum();
  if (actual != crc) {
    char text[96];
    std::snprintf(text, sizeof text, "crc64 %016" PRIx64 ", the seal says %016" PRIx64, actual, crc);
    LAT_THROW(label, ": damaged (checksum mismatch: ", text, ")");
  }
}

}  // namespace lat
