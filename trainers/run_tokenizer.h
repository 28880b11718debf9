// The tokenizer a run trains with, and the one that travels with its checkpoints (docs/tokenizers.md): the byte
// tokenizer (data/tokenizer.h) unless data.tokenizer names a BPE tokenizer file (data/tokenizer_json.h).
// Checkpoints and exports store the BPE tokenizer itself, as tokenizer.json text, so lat-generate turns a
// prompt into ids and ids back into text from the checkpoint alone.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/bpe.h"
#include "trainers/recipe.h"

namespace lat::trainers {

// data.tokenizer loaded, or nullptr when it is empty. Errors name the key: "<recipe>: data.tokenizer: ...".
std::shared_ptr<const data::BpeTokenizer> recipe_tokenizer(const Recipe& recipe);

// Text <-> ids for prompts and samples.
class TextCodec {
 public:
  TextCodec() = default;  // bytes
  explicit TextCodec(std::shared_ptr<const data::BpeTokenizer> bpe) : bpe_(std::move(bpe)) {}
  // The byte tokenizer, or the tokenizer stored in a checkpoint's `tokenizer` text ("" for bytes); `source`
  // names the checkpoint in errors.
  static TextCodec from_stored(const std::string& tokenizer_json, const std::string& source);

  // A prompt as the model saw documents start: BOS then the bytes, or the BPE document token (when the
  // tokenizer has one) then the ids, with added tokens spelled in the prompt as themselves.
  std::vector<int32_t> encode_prompt(std::string_view text) const;
  // Bytes of the ids (the byte tokenizer drops BOS and EOS). Throws lat::Error naming an unknown id.
  std::string decode(std::span<const int32_t> ids) const;
  // For printing samples: like decode, but an id the tokenizer does not have (a model's vocabulary may be padded
  // beyond it) prints as "<id N>" instead of failing.
  std::string render(std::span<const int32_t> ids) const;
  int32_t vocab_size() const;
  const data::BpeTokenizer* bpe() const { return bpe_.get(); }
  // What a checkpoint stores: tokenizer.json text, or "" for bytes.
  std::string stored() const;
  // The token that begins a document (data/documents.h): EOS for bytes, the BPE document token, or -1 when the
  // tokenizer has none. Generation resets the model's state before feeding it.
  int32_t document_separator() const;

 private:
  std::shared_ptr<const data::BpeTokenizer> bpe_;
};

}  // namespace lat::trainers
