#include "trainers/run_tokenizer.h"

#include "core/error.h"
#include "data/tokenizer.h"
#include "data/tokenizer_json.h"

namespace lat::trainers {

std::shared_ptr<const data::BpeTokenizer> recipe_tokenizer(const Recipe& recipe) {
  if (recipe.data.tokenizer.empty()) return nullptr;
  try {
    return std::make_shared<const data::BpeTokenizer>(data::load_tokenizer(recipe.data.tokenizer));
  } catch (const Error& e) {
    recipe.fail("data.tokenizer", e.what());
  }
}

TextCodec TextCodec::from_stored(const std::string& tokenizer_json, const std::string& source) {
  if (tokenizer_json.empty()) return TextCodec();
  return TextCodec(std::make_shared<const data::BpeTokenizer>(
      data::parse_tokenizer_json(tokenizer_json, source + ": its stored tokenizer")));
}

std::vector<int32_t> TextCodec::encode_prompt(std::string_view text) const {
  if (!bpe_) return data::ByteTokenizer().encode(text, true);
  std::vector<int32_t> ids;
  if (auto doc = bpe_->document_token()) ids.push_back(*doc);
  const std::vector<int32_t> body = bpe_->encode(text, true);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

std::string TextCodec::decode(std::span<const int32_t> ids) const {
  return bpe_ ? bpe_->decode(ids) : data::ByteTokenizer().decode(ids);
}

std::string TextCodec::render(std::span<const int32_t> ids) const {
  std::string text;
  for (const int32_t& id : ids) {
    const bool known = bpe_ ? id >= 0 && id < bpe_->vocab_size() && !bpe_->token(id).bytes.empty()
                            : id >= 0 && id < data::ByteTokenizer::kVocabSize;
    text += known ? decode(std::span<const int32_t>(&id, 1)) : "<id " + std::to_string(id) + ">";
  }
  return text;
}

int32_t TextCodec::vocab_size() const {
  return bpe_ ? bpe_->vocab_size() : data::ByteTokenizer().vocab_size();
}

int32_t TextCodec::document_separator() const {
  return bpe_ ? bpe_->document_token().value_or(-1) : data::ByteTokenizer::kEos;
}

std::string TextCodec::stored() const {
  return bpe_ ? data::write_tokenizer_json(*bpe_) : std::string();
}

}  // namespace lat::trainers
