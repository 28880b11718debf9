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

namespace {

std::vector<int32_t> read_index(std::ifstream& in, const std::string& path, const ShardInfo& info) {
  std::vector<int32_t> index(static_cast<size_t>(info.documents));
  in.seekg(kShardHeaderBytes + info.token_bytes * info.tokens);
  in.read(reinterpret_cast<char*>(index.data()), static_cast<std::streamsize>(4 * index.size()));
  if (!in) LAT_THROW("token shard '", path, "': cannot read its document index");
  for (size_t i = 0; i < index.size(); ++i)
    if (index[i] < 0 || index[i] >= info.tokens || (i > 0 && index[i] <= index[i - 1]))
      LAT_THROW("token shard '", path, "': document index entry ", i, " is ", index[i],
                i > 0 ? ", not after the previous entry " + std::to_string(index[i - 1]) : std::string(),
                " (entries must increase and lie in [0, ", info.tokens, "))");
  return index;
}

}  // namespace

ShardInfo inspect_shard(const std::string& path) {
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
  ShardInfo info;
  if (header[0] == kShardMagic) {
    if (header[1] != kShardVersion)
      LAT_THROW("token shard '", path, "' has unsupported version ", header[1], " (expected ", kShardVersion,
                " for magic ", kShardMagic, ")");
    info.token_bytes = 2;
  } else if (header[0] == kShardMagicU32) {
    if (header[1] != kShardVersionU32)
      LAT_THROW("token shard '", path, "' has unsupported version ", header[1], " (expected ", kShardVersionU32,
                " for magic ", kShardMagicU32, ")");
    info.token_bytes = 4;
  } else {
    LAT_THROW("token shard '", path, "' has wrong magic ", header[0], " (expected ", kShardMagic, " or ",
              kShardMagicU32, "): not an llm.c token file");
  }
  info.tokens = header[2];
  info.documents = header[3];
  if (header[4] != 0 && header[4] != 1)
    LAT_THROW("token shard '", path, "' has ", header[4], " in header[4], the document index flag (0 or 1)");
  info.indexed = header[4] == 1;
  if (info.tokens < 0) LAT_THROW("token shard '", path, "' declares a negative token count ", info.tokens);
  if (!info.indexed && info.documents != 0)
    LAT_THROW("token shard '", path, "' declares ", info.documents, " documents but no document index (header[4] = 0)");
  if (info.documents < 0 || info.documents > info.tokens)
    LAT_THROW("token shard '", path, "' declares ", info.documents, " documents in its ", info.tokens,
              " tokens (header[3] must be in [0, token count])");
  const int64_t expected = kShardHeaderBytes + info.token_bytes * info.tokens + 4 * info.documents;
  if (bytes < expected)
    LAT_THROW("token shard '", path, "' is truncated: its header declares ", info.tokens, " tokens",
              info.documents > 0 ? " and " + std::to_string(info.documents) + " documents" : std::string(), " (",
              expected, " bytes) but the file has ", bytes, " bytes");
  if (bytes > expected)
    LAT_THROW("token shard '", path, "' has ", bytes - expected, " unexpected bytes after its ", info.tokens,
              " declared tokens");
  if (info.documents > 0) read_index(in, path, info);
  return info;
}

int64_t validate_shard(const std::string& path) {
  return inspect_shard(path).tokens;
}

std::vector<uint32_t> read_shard(const std::string& path) {
  const ShardInfo info = inspect_shard(path);
  std::vector<uint32_t> tokens(static_cast<size_t>(info.tokens));
  std::ifstream in(path, std::ios::binary);
  in.seekg(kShardHeaderBytes);
  if (info.token_bytes == 4) {
    in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(4 * info.tokens));
  } else {
    std::vector<uint16_t> narrow(tokens.size());
    in.read(reinterpret_cast<char*>(narrow.data()), static_cast<std::streamsize>(2 * info.tokens));
    std::copy(narrow.begin(), narrow.end(), tokens.begin());
  }
  if (!in) LAT_THROW("token shard '", path, "': error while reading its tokens");
  return tokens;
}

std::vector<int64_t> read_shard_documents(const std::string& path) {
  const ShardInfo info = inspect_shard(path);
  std::ifstream in(path, std::ios::binary);
  const std::vector<int32_t> index = read_index(in, path, info);
  return std::vector<int64_t>(index.begin(), index.end());
}

void write_shard(const std::string& path, std::span<const int32_t> tokens, ShardFormat format,
                 std::span<const int64_t> document_starts, bool indexed) {
  if (!indexed && !document_starts.empty())
    LAT_THROW("token shard '", path, "': document starts given for a shard without a document index");
  if (tokens.size() > 2147483647u)
    LAT_THROW("token shard '", path, "': ", tokens.size(), " tokens exceed the format's limit of 2^31 - 1");
  const bool wide = format == ShardFormat::U32;
  const int64_t limit = wide ? 2147483647 : 65535;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] > limit)
      LAT_THROW("token shard '", path, "': token ", tokens[i], " at position ", i, " does not fit in ",
                wide ? "uint32 shards [0, 2^31 - 1]" : "uint16 [0, 65535] (write uint32 shards)");
  std::vector<int32_t> index(document_starts.size());
  for (size_t i = 0; i < index.size(); ++i) {
    const int64_t s = document_starts[i];
    if (s < 0 || s >= static_cast<int64_t>(tokens.size()) || (i > 0 && s <= document_starts[i - 1]))
      LAT_THROW("token shard '", path, "': document start ", s, " (entry ", i,
                ") is out of order or outside the shard's ", tokens.size(), " tokens");
    index[i] = static_cast<int32_t>(s);
  }
  int32_t header[kShardHeaderInts] = {};
  header[0] = wide ? kShardMagicU32 : kShardMagic;
  header[1] = wide ? kShardVersionU32 : kShardVersion;
  header[2] = static_cast<int32_t>(tokens.size());
  header[3] = static_cast<int32_t>(index.size());
  header[4] = indexed ? 1 : 0;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) LAT_THROW("token shard '", path, "': cannot open '", tmp, "' for writing (", std::strerror(errno), ")");
    out.write(reinterpret_cast<const char*>(header), kShardHeaderBytes);
    if (wide) {
      out.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(4 * tokens.size()));
    } else {
      std::vector<uint16_t> packed(tokens.begin(), tokens.end());
      out.write(reinterpret_cast<const char*>(packed.data()), static_cast<std::streamsize>(2 * packed.size()));
    }
    out.write(reinterpret_cast<const char*>(index.data()), static_cast<std::streamsize>(4 * index.size()));
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
  bool indexed = true;
  try {
    for (const std::string& file : files_) {
      const ShardInfo info = inspect_shard(file);
      Mapping m;
      m.token_bytes = info.token_bytes;
      m.bytes = static_cast<size_t>(kShardHeaderBytes + info.token_bytes * info.tokens + 4 * info.documents);
      const int fd = ::open(file.c_str(), O_RDONLY);
      if (fd < 0) LAT_THROW("token shard '", file, "': cannot open (", std::strerror(errno), ")");
      void* base = ::mmap(nullptr, m.bytes, PROT_READ, MAP_PRIVATE, fd, 0);
      const int map_errno = errno;
      ::close(fd);
      if (base == MAP_FAILED) LAT_THROW("token shard '", file, "': cannot map (", std::strerror(map_errno), ")");
      m.base = base;
      m.tokens = static_cast<const unsigned char*>(base) + kShardHeaderBytes;
      maps_.push_back(m);
      if (!info.indexed) indexed = false;
      if (indexed && info.documents > 0) {
        const unsigned char* index = m.tokens + info.token_bytes * info.tokens;
        for (int64_t d = 0; d < info.documents; ++d) {
          int32_t local;
          std::memcpy(&local, index + 4 * d, 4);
          document_starts_.push_back(offsets_.back() + local);
        }
      }
      offsets_.push_back(offsets_.back() + info.tokens);
    }
  } catch (...) {
    for (auto& m : maps_) ::munmap(m.base, m.bytes);
    throw;
  }
  if (!indexed) document_starts_.clear();
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
    if (maps_[s].token_bytes == 4) {
      const auto* p = reinterpret_cast<const uint32_t*>(maps_[s].tokens) + local;
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(p[i]);
    } else {
      const auto* p = reinterpret_cast<const uint16_t*>(maps_[s].tokens) + local;
      for (int64_t i = 0; i < n; ++i) out[i] = p[i];
    }
    out += n;
    start += n;
    count -= n;
  }
}

int32_t ShardDataset::max_token_plus_one() const {
  int64_t best = 0;
  for (size_t s = 0; s < maps_.size(); ++s) {
    const Mapping& m = maps_[s];
    const int64_t n = offsets_[s + 1] - offsets_[s];
    if (m.token_bytes == 4) {
      const auto* p = reinterpret_cast<const uint32_t*>(m.tokens);
      uint32_t most = 0;
      for (int64_t i = 0; i < n; ++i) most = std::max(most, p[i]);
      if (n > 0 && most > 2147483646u)
        LAT_THROW("token shard '", files_[s], "' holds token ", most, ", above lat's largest id 2^31 - 2");
      if (n > 0) best = std::max<int64_t>(best, static_cast<int64_t>(most) + 1);
    } else {
      const auto* p = reinterpret_cast<const uint16_t*>(m.tokens);
      for (int64_t i = 0; i < n; ++i) best = std::max<int64_t>(best, static_cast<int64_t>(p[i]) + 1);
    }
  }
  return static_cast<int32_t>(best);
}

}  // namespace lat::data
