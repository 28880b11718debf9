// Byte-level tokenizer: every byte of the UTF-8 text is one token (0..255), plus BOS = 256 and EOS = 257,
// for a vocabulary of 258. Lossless for any byte string, valid UTF-8 or not.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lat::data {

class ByteTokenizer {
 public:
  static constexpr int32_t kBos = 256;
  static constexpr int32_t kEos = 257;
  static constexpr int32_t kVocabSize = 258;

  int32_t vocab_size() const { return kVocabSize; }
  int32_t bos() const { return kBos; }
  int32_t eos() const { return kEos; }

  // One token per byte, optionally framed by BOS / EOS.
  std::vector<int32_t> encode(std::string_view text, bool add_bos = false, bool add_eos = false) const;
  // Bytes back out; BOS and EOS are dropped, invalid UTF-8 passes through unchanged. Throws lat::Error
  // naming the id and its position for an id outside [0, 258).
  std::string decode(std::span<const int32_t> ids) const;
  // The printable form of one token for logs: the byte itself, or "<bos>" / "<eos>".
  std::string token_text(int32_t id) const;
};

}  // namespace lat::data
