#include "data/tokenizer.h"

#include "core/error.h"

namespace lat::data {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text, bool add_bos, bool add_eos) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() + 2);
  if (add_bos) ids.push_back(kBos);
  for (char c : text) ids.push_back(static_cast<int32_t>(static_cast<unsigned char>(c)));
  if (add_eos) ids.push_back(kEos);
  return ids;
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids) const {
  std::string text;
  text.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id == kBos || id == kEos) continue;
    if (id < 0 || id >= kVocabSize)
      LAT_THROW("byte tokenizer: token id ", id, " at position ", i, " is outside the vocabulary [0, ",
                kVocabSize, ")");
    text.push_back(static_cast<char>(static_cast<unsigned char>(id)));
  }
  return text;
}

std::string ByteTokenizer::token_text(int32_t id) const {
  if (id == kBos) return "<bos>";
  if (id == kEos) return "<eos>";
  if (id < 0 || id >= kVocabSize) return "<invalid " + std::to_string(id) + ">";
  return std::string(1, static_cast<char>(static_cast<unsigned char>(id)));
}

}  // namespace lat::data
