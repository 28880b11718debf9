// Byte-level BPE (GPT-2, Llama-3, Qwen2, tiktoken's cl100k): a vocabulary of byte strings, merges by rank, a
// pre-tokenizer split pattern (data/pretokenize.h) and added tokens (BOS, EOS, <|endoftext|>, ...) that are
// matched in the text before anything else and never split. Files: data/tokenizer_json.h reads and writes
// tokenizer.json and GPT-2's encoder.json + vocab.bpe; data/bpe_train.h trains one.
//
// Encoding: the text is cut at added tokens (leftmost, longest first), each stretch between them is split into
// pieces, and each piece is merged: starting from one token per byte, the adjacent pair of lowest merge rank
// is merged (the leftmost of equal ranks) until no pair has a rank (HF tokenizers' and GPT-2's rule). With
// ignore_merges, a piece that is itself in the vocabulary is that token (tiktoken's rule; Llama-3 sets it).
// Every byte has a token (its own, or the byte-fallback token "<0xAB>"), so decode(encode(x)) == x for any
// byte string, valid UTF-8 or not.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/pretokenize.h"

namespace lat::data {

class BpeTokenizer {
 public:
  struct Token {
    std::string bytes;           // what the token decodes to
    bool added = false;          // an added token: matched in the text before pre-tokenization, never split
    bool special = false;        // added tokens only: a control token (BOS, EOS, ...) rather than text
    bool in_model_vocab = true;  // listed in the model's vocabulary (tokenizer.json: model.vocab)
  };
  struct Config {
    SplitPattern pattern = SplitPattern::Cl100k;
    bool add_prefix_space = false;  // a space before the text when it does not start with one
    bool ignore_merges = false;     // a piece that is in the vocabulary is that token
  };

  // tokens[id]; an id with empty bytes and not added is a hole (decoding it is an error). merges in rank order,
  // as pairs of ids whose concatenation must be a token. Throws lat::Error naming the token or merge for an
  // inconsistent vocabulary (a merge of unknown ids or whose result is not a token, a byte with no token).
  BpeTokenizer(std::vector<Token> tokens, std::vector<std::pair<int32_t, int32_t>> merges, Config config);
  ~BpeTokenizer();
  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;

  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  const Config& config() const { return config_; }
  const Token& token(int32_t id) const;
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }
  // The id of the token with these bytes (added tokens included), if any.
  std::optional<int32_t> find(std::string_view bytes) const;
  // The token that separates documents in a token stream: the first present of <|endoftext|> (GPT-2, cl100k,
  // Qwen2, lat's trainer), <|end_of_text|> (Llama-3), </s>. std::nullopt when the vocabulary has none.
  std::optional<int32_t> document_token() const;

  // Ids of `text`. With allow_added, added tokens in the text are matched as themselves (a prompt that spells
  // "<|endoftext|>" gets that token); without, the text is ordinary text throughout (corpora: a document that
  // mentions a special token cannot inject one). threads > 1 cuts long texts at places that cannot change the
  // result (next_safe_cut) and encodes the parts in parallel: the ids are the same for any thread count.
  std::vector<int32_t> encode(std::string_view text, bool allow_added = true, int threads = 1) const;
  // Bytes of the tokens, concatenated. Throws lat::Error naming the id and its position for an id outside the
  // vocabulary or a hole.
  std::string decode(std::span<const int32_t> ids) const;

  // The merge loop for one piece (exposed for tests): appends the piece's ids to out.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  class MergeTable;
  friend class BpeEncoder;
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;

  std::vector<Token> tokens_;
  std::vector<std::pair<int32_t, int32_t>> merges_;
  Config config_;
  std::unordered_map<std::string, int32_t> ids_;  // bytes -> id
  std::unique_ptr<MergeTable> merge_table_;
  int32_t byte_token_[256];
  std::unordered_map<int32_t, char> fallback_bytes_;  // "<0xAB>" tokens standing for a byte: decode to it
  std::vector<int32_t> added_;  // ids of added tokens, longest first
  bool added_first_byte_[256] = {};  // whether some added token starts with this byte
};

}  // namespace lat::data
