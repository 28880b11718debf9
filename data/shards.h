// llm.c token shards: a 256 × int32 little-endian header (header[0] = magic 20240520, header[1] = version 1,
// header[2] = token count), then that many uint16 tokens. Datasets tokenised for llm.c (FineWeb, TinyStories,
// Shakespeare with GPT-2's tokenizer) load unchanged.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace lat::data {

constexpr int32_t kShardMagic = 20240520;
constexpr int32_t kShardVersion = 1;
constexpr int64_t kShardHeaderInts = 256;
constexpr int64_t kShardHeaderBytes = kShardHeaderInts * 4;

// Checks the header and the file size; returns the token count. Throws lat::Error naming the file and what
// is wrong: missing/unreadable, truncated header, wrong magic, unsupported version, negative count, fewer
// bytes than the header declares (truncated) or trailing bytes after the tokens.
int64_t validate_shard(const std::string& path);
// The tokens of one shard (validated first).
std::vector<uint16_t> read_shard(const std::string& path);
// Writes a shard; throws lat::Error for a token outside [0, 65535], more than 2^31 - 1 tokens, or an
// unwritable path. Writes to "<path>.tmp" and renames, so a reader never sees half a shard.
void write_shard(const std::string& path, std::span<const int32_t> tokens);

// The shard files a pattern names: a file; a folder (its *.bin files); or a glob ("data/fineweb_train_*.bin").
// Sorted by name. Throws lat::Error naming the pattern when nothing matches.
std::vector<std::string> find_shards(const std::string& pattern);

// The concatenation of a list of shards, memory-mapped (nothing is read until used). Every shard is
// validated up front.
class ShardDataset : public TokenDataset {
 public:
  explicit ShardDataset(const std::string& pattern);
  ~ShardDataset() override;
  ShardDataset(const ShardDataset&) = delete;
  ShardDataset& operator=(const ShardDataset&) = delete;

  int64_t size() const override { return offsets_.back(); }
  void read(int64_t start, int64_t count, int32_t* out) const override;
  std::string describe() const override { return description_; }
  using TokenDataset::read;
  const std::vector<std::string>& files() const { return files_; }
  // Largest token id in all shards + 1 (a lower bound for the model's vocabulary); scans every token.
  int32_t max_token_plus_one() const;

 private:
  struct Mapping {
    void* base = nullptr;
    size_t bytes = 0;
    const uint16_t* tokens = nullptr;
  };
  std::vector<std::string> files_;
  std::vector<Mapping> maps_;
  std::vector<int64_t> offsets_{0};  // offsets_[i] = first global token of shard i; back() = total
  std::string description_;
};

}  // namespace lat::data
