// Token shards in llm.c's two formats, each a 256 × int32 little-endian header and then the tokens:
//   uint16 tokens (GPT-2 and other vocabularies up to 65,536): header[0] = magic 20240520, header[1] = version 1
//   uint32 tokens (Llama-3, Qwen2, cl100k: larger vocabularies): header[0] = magic 20240801, header[1] = version 7
// header[2] = token count. Datasets tokenised for llm.c (FineWeb, TinyStories, Shakespeare) load unchanged.
// lat's extension (docs/data.md): header[4] = 1 when the shard carries a document index (llm.c writes 0), header[3]
// = D, the number of documents whose first token is in this shard (0 when one document fills it), and after the
// tokens D int32 offsets, strictly increasing, each the position in this shard of a document's first token.
// lat-tokenize writes the index; llm.c's own readers, which check the file size, then refuse files with D > 0
// (write with --no-document-index for them).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace lat::data {

constexpr int32_t kShardMagic = 20240520;  // uint16 tokens
constexpr int32_t kShardVersion = 1;
constexpr int32_t kShardMagicU32 = 20240801;  // uint32 tokens
constexpr int32_t kShardVersionU32 = 7;
constexpr int64_t kShardHeaderInts = 256;
constexpr int64_t kShardHeaderBytes = kShardHeaderInts * 4;

enum class ShardFormat { U16, U32 };

struct ShardInfo {
  int64_t tokens = 0;
  int64_t token_bytes = 2;  // 2 (uint16) or 4 (uint32)
  bool indexed = false;     // the shard carries a document index (header[4] = 1)
  int64_t documents = 0;    // entries of the document index
};

// Checks the header, the file size and the document index; returns what the header declares. Throws lat::Error
// naming the file and what is wrong: missing/unreadable, truncated header, wrong magic, unsupported version,
// negative counts, fewer bytes than the header declares (truncated) or trailing bytes, an index entry out of
// order or outside the shard.
ShardInfo inspect_shard(const std::string& path);
// inspect_shard(path).tokens.
int64_t validate_shard(const std::string& path);
// The tokens of one shard, and its document index (validated first).
std::vector<uint32_t> read_shard(const std::string& path);
std::vector<int64_t> read_shard_documents(const std::string& path);

// Writes a shard, with a document index when `indexed` (document_starts may then be empty: a shard inside one
// document); throws lat::Error for a token that does not fit the format (uint16: [0, 65535]; uint32:
// [0, 2^31 - 1]), more than 2^31 - 1 tokens, document starts out of order or outside the tokens (or given
// without `indexed`), or an unwritable path. Writes to "<path>.tmp" and renames, so a reader never sees half a
// shard.
void write_shard(const std::string& path, std::span<const int32_t> tokens, ShardFormat format = ShardFormat::U16,
                 std::span<const int64_t> document_starts = {}, bool indexed = false);

// The shard files a pattern names: a file; a folder (its *.bin files); or a glob ("data/fineweb_train_*.bin").
// Sorted by name. Throws lat::Error naming the pattern when nothing matches.
std::vector<std::string> find_shards(const std::string& pattern);

// The concatenation of a list of shards, memory-mapped (nothing is read until used). Every shard is
// validated up front; uint16 and uint32 shards may be mixed.
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
  // Where documents start, as positions in the concatenated stream, increasing: every shard's document index
  // shifted by the tokens before it. Empty unless every shard has an index (llm.c's shards have none; a
  // document may then only be found by its EOT token).
  const std::vector<int64_t>& document_starts() const { return document_starts_; }

 private:
  struct Mapping {
    void* base = nullptr;
    size_t bytes = 0;
    const unsigned char* tokens = nullptr;
    int64_t token_bytes = 2;
  };
  std::vector<std::string> files_;
  std::vector<Mapping> maps_;
  std::vector<int64_t> offsets_{0};  // offsets_[i] = first global token of shard i; back() = total
  std::vector<int64_t> document_starts_;
  std::string description_;
};

}  // namespace lat::data
