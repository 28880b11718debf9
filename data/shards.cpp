#include "data/shards.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace lat::data {

namespace fs = std::filesystem;

static_assert(std::endian::native == std::endian::little, "llm.c shards are little-endian");

int64_t validate_shard(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) LAT_THROW("token shard '", path, "' does not exist");
  if (fs::is_directory(path, ec)) LAT_THROW("token shard '", path, "' is a folder, not a file");
  const auto bytes = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) LAT_THROW("token shard '", path, "': cannot read its size (", ec.message(), ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) LAT_THROW("token shard '", path, "': cannot open (", std::strerror(errno), ")");
  if (bytes < kShardHeaderBytes)
    LAT_THROW("token shard '", path, "' is truncated: ", bytes, " bytes, shorter than the ", kShardHeaderBytes,
              "-byte header");
  int32_t header[kShardHeaderInts];
  in.read(reinterpret_cast<char*>(header), kShardHeaderBytes);
  if (!in) LAT_THROW("token shard '", path, "': cannot read the header");
  if (header[0] != kShardMagic)
    LAT_THROW("token shard '", path, "' has wrong magic ", header[0], " (expected ", kShardMagic,
              "): not an llm.c token file");
  if (header[1] != kShardVersion)
    LAT_THROW("token shard '", path, "' has unsupported version ", header[1], " (expected ", kShardVersion,
              ")");
  const int64_t count = header[2];
  if (count < 0) LAT_THROW("token shard '", path, "' declares a negative token count ", count);
  const int64_t expected = kShardHeaderBytes + 2 * count;
  if (bytes < expected)
    LAT_THROW("token shard '", path, "' is truncated: its header declares ", count, " tokens (", expected,
              " bytes) but the file has ", bytes, " bytes");
  if (bytes > expected)
    LAT_THROW("token shard '", path, "' has ", bytes - expected, " unexpected bytes after its ", count,
              " declared tokens");
  return count;
}

std::vector<uint16_t> read_shard(const std::string& path) {
  const int64_t count = validate_shard(path);
  std::vector<uint16_t> tokens(static_cast<size_t>(count));
  std::ifstream in(path, std::ios::binary);
  in.seekg(kShardHeaderBytes);
  in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(2 * count));
  if (!in) LAT_THROW("token shard '", path, "': error while reading its tokens");
  return tokens;
}

void write_shard(const std::string& path, std::span<const int32_t> tokens) {
  LAT_CHECK(tokens.size() <= 2147483647u, "token shard '", path, "': ", tokens.size(),
            " tokens exceed the format's limit of 2^31 - 1");
  std::vector<uint16_t> packed(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] > 65535)
      LAT_THROW("token shard '", path, "': token ", tokens[i], " at position ", i,
                " does not fit in uint16 [0, 65535]");
    packed[i] = static_cast<uint16_t>(tokens[i]);
  }
  int32_t header[kShardHeaderInts] = {};
  header[0] = kShardMagic;
  header[1] = kShardVersion;
  header[2] = static_cast<int32_t>(tokens.size());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) LAT_THROW("token shard '", path, "': cannot open '", tmp, "' for writing (", std::strerror(errno), ")");
    out.write(reinterpret_cast<const char*>(header), kShardHeaderBytes);
    out.write(reinterpret_cast<const char*>(packed.data()), static_cast<std::streamsize>(2 * packed.size()));
    out.flush();
    if (!out) LAT_THROW("token shard '", path, "': error while writing '", tmp, "'");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) LAT_THROW("token shard '", path, "': cannot rename '", tmp, "' into place (", ec.message(), ")");
}

std::vector<std::string> find_shards(const std::string& pattern) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(pattern, ec)) {
    for (const auto& entry : fs::directory_iterator(pattern, ec))
      if (entry.is_regular_file() && entry.path().extension() == ".bin") files.push_back(entry.path().string());
    if (files.empty()) LAT_THROW("token shards: folder '", pattern, "' holds no .bin files");
  } else if (pattern.find_first_of("*?[") == std::string::npos) {
    if (!fs::exists(pattern, ec)) LAT_THROW("token shard '", pattern, "' does not exist");
    files.push_back(pattern);
  } else {
    glob_t g{};
    const int rc = glob(pattern.c_str(), 0, nullptr, &g);
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    if (files.empty()) LAT_THROW("token shards: pattern '", pattern, "' matches no files");
  }
  std::sort(files.begin(), files.end());
  return files;
}

ShardDataset::ShardDataset(const std::string& pattern) : files_(find_shards(pattern)) {
  try {
    for (const std::string& file : files_) {
      const int64_t count = validate_shard(file);
      Mapping m;
      m.bytes = static_cast<size_t>(kShardHeaderBytes + 2 * count);
      const int fd = ::open(file.c_str(), O_RDONLY);
      if (fd < 0) LAT_THROW("token shard '", file, "': cannot open (", std::strerror(errno), ")");
      void* base = ::mmap(nullptr, m.bytes, PROT_READ, MAP_PRIVATE, fd, 0);
      const int map_errno = errno;
      ::close(fd);
      if (base == MAP_FAILED) LAT_THROW("token shard '", file, "': cannot map (", std::strerror(map_errno), ")");
      m.base = base;
      m.tokens = reinterpret_cast<const uint16_t*>(static_cast<const char*>(base) + kShardHeaderBytes);
      maps_.push_back(m);
      offsets_.push_back(offsets_.back() + count);
    }
  } catch (...) {
    for (auto& m : maps_) ::munmap(m.base, m.bytes);
    throw;
  }
  if (size() == 0) {
    for (auto& m : maps_) ::munmap(m.base, m.bytes);
    LAT_THROW("token shards '", pattern, "' hold no tokens");
  }
  description_ = files_.size() == 1 ? "token shard '" + files_[0] + "'"
                                    : std::to_string(files_.size()) + " token shards '" + pattern + "'";
}

ShardDataset::~ShardDataset() {
  for (auto& m : maps_) ::munmap(m.base, m.bytes);
}

void ShardDataset::read(int64_t start, int64_t count, int32_t* out) const {
  LAT_CHECK(start >= 0 && count >= 0 && start + count <= size(), "token range [", start, ", ", start + count,
            ") is outside ", describe(), " of ", size(), " tokens");
  while (count > 0) {
    // The shard holding `start`: the last offset <= start.
    const size_t s = static_cast<size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), start) - offsets_.begin()) - 1;
    const int64_t local = start - offsets_[s];
    const int64_t n = std::min(count, offsets_[s + 1] - start);
    const uint16_t* p = maps_[s].tokens + local;
    for (int64_t i = 0; i < n; ++i) out[i] = p[i];
    out += n;
    start += n;
    count -= n;
  }
}

int32_t ShardDataset::max_token_plus_one() const {
  int32_t best = 0;
  for (const auto& m : maps_) {
    const int64_t n = static_cast<int64_t>((m.bytes - kShardHeaderBytes) / 2);
    for (int64_t i = 0; i < n; ++i) best = std::max(best, static_cast<int32_t>(m.tokens[i]) + 1);
  }
  return best;
}

}  // namespace lat::data
