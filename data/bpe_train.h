// Training a byte-level BPE (lat-tokenize train): pieces are counted over the corpus with a split pattern
// (data/pretokenize.h), then the most frequent adjacent pair of tokens is merged into a new token, again and
// again, until the vocabulary is full. Ties between equally frequent pairs go to the pair whose bytes sort first
// (left token, then right token), so the result depends only on the text: the same input gives the same
// tokenizer, byte for byte, for any thread count.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/bpe.h"

namespace lat::data {

struct BpeTrainOptions {
  int64_t vocab_size = 32768;  // in all: the 256 bytes, the merges and the special tokens
  SplitPattern pattern = SplitPattern::Cl100k;
  std::vector<std::string> special_tokens{"<|endoftext|>"};  // added after the merges, in this order
  int64_t min_frequency = 2;  // a pair seen fewer times than this is never merged (training stops early)
  int threads = 1;
};

// Ids 0..255 are the bytes, then one id per merge, then the special tokens. Throws lat::Error for a
// vocabulary too small to hold the bytes and the special tokens, an empty or duplicate special token.
BpeTokenizer train_bpe(std::span<const std::string_view> texts, const BpeTrainOptions& options);

}  // namespace lat::data
