// Token datasets: a flat, read-only stream of token ids (documents already joined by EOS), which the loader
// cuts into windows. Two kinds: in memory (text files through the byte tokenizer or a BPE tokenizer) and
// memory-mapped llm.c token shards (data/shards.h, uint16 or uint32).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lat::data {

class TokenDataset {
 public:
  virtual ~TokenDataset() = default;
  // Number of tokens in the whole stream.
  virtual int64_t size() const = 0;
  // out[0, count) = tokens [start, start + count); throws lat::Error when the range is outside the stream.
  virtual void read(int64_t start, int64_t count, int32_t* out) const = 0;
  // Where the tokens came from, for messages ("text 'kjv.txt'", "3 token shards under 'data/'").
  virtual std::string describe() const = 0;

  std::vector<int32_t> read(int64_t start, int64_t count) const {
    std::vector<int32_t> out(static_cast<size_t>(count));
    read(start, count, out.data());
    return out;
  }
};

class InMemoryTokens : public TokenDataset {
 public:
  InMemoryTokens(std::vector<int32_t> tokens, std::string description)
      : tokens_(std::move(tokens)), description_(std::move(description)) {}
  InMemoryTokens(const std::vector<uint16_t>& tokens, std::string description)
      : tokens_(tokens.begin(), tokens.end()), description_(std::move(description)) {}
  int64_t size() const override { return static_cast<int64_t>(tokens_.size()); }
  void read(int64_t start, int64_t count, int32_t* out) const override;
  std::string describe() const override { return description_; }
  using TokenDataset::read;
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  std::vector<int32_t> tokens_;
  std::string description_;
};

// Tokens [start, start + count) of another dataset, as a dataset of its own (the held-out tail of a stream
// cut into windows of another length). Throws lat::Error when the range is outside the dataset.
class TokenSlice : public TokenDataset {
 public:
  TokenSlice(std::shared_ptr<const TokenDataset> dataset, int64_t start, int64_t count);
  int64_t size() const override { return count_; }
  void read(int64_t start, int64_t count, int32_t* out) const override;
  std::string describe() const override;
  using TokenDataset::read;

 private:
  std::shared_ptr<const TokenDataset> dataset_;
  int64_t start_, count_;
};

// A UTF-8 text file, or every regular file of a folder (names sorted, hidden files skipped, not recursive),
// through the byte tokenizer, with EOS between documents. A missing, unreadable or empty file, or a folder
// with no files, throws lat::Error naming the path.
InMemoryTokens load_text_dataset(const std::string& path);

class BpeTokenizer;
// The same files through a BPE tokenizer (data/bpe.h), on `threads` threads: every document is preceded by the
// tokenizer's document token (llm.c's convention; lat-tokenize's shards do the same), and text that spells an
// added token stays text. Throws lat::Error naming the path, or saying the tokenizer has no document token
// when there are several files.
InMemoryTokens load_text_dataset(const std::string& path, const BpeTokenizer& tokenizer, int threads = 1);

}  // namespace lat::data
