// Tokenizer files: Hugging Face's tokenizer.json (model type "BPE", byte-level: the GPT-2, Llama-3 and Qwen2
// families, and what lat-tokenize train writes) and GPT-2's original encoder.json + vocab.bpe.
//
// Read: model (type BPE; vocab; merges as "a b" strings or ["a", "b"] pairs; byte_fallback; ignore_merges),
// pre_tokenizer (ByteLevel with use_regex, or Sequence[Split(pattern), ByteLevel] with a pattern
// data/pretokenize.h implements), added_tokens, normalizer (null; NFC is accepted but not applied: the text
// must already be NFC). post_processor and decoder are not used (lat frames documents itself). Anything else
// lat cannot reproduce exactly is refused with one line naming the field, rather than tokenized differently.
#pragma once

#include <string>
#include <string_view>

#include "data/bpe.h"

namespace lat::data {

// GPT-2's byte-to-character map (printable bytes stand for themselves, the others for U+0100..U+0143), which
// tokenizer.json and encoder.json use to write byte strings as text, and back (std::nullopt for a character
// outside the map).
std::string byte_level_encode(std::string_view bytes);
std::optional<std::string> byte_level_decode(std::string_view text);

// Parses a tokenizer.json text; `source` names it in errors ("<source>: <what is wrong>").
BpeTokenizer parse_tokenizer_json(const std::string& text, const std::string& source);
// A tokenizer.json text that parse_tokenizer_json (and HF tokenizers) read back to the same tokenizer. Same
// tokenizer, same bytes.
std::string write_tokenizer_json(const BpeTokenizer& tokenizer);
// GPT-2's two files; <|endoftext|> becomes a special added token.
BpeTokenizer read_gpt2_vocabulary(const std::string& encoder_json_path, const std::string& vocab_bpe_path);

// `path`: a tokenizer.json, GPT-2's encoder.json (vocab.bpe beside it), or a folder holding either. Throws
// lat::Error "tokenizer '<path>': <what is wrong>".
BpeTokenizer load_tokenizer(const std::string& path);
// Writes write_tokenizer_json(tokenizer) to path atomically (path.tmp, then rename).
void save_tokenizer_json(const BpeTokenizer& tokenizer, const std::string& path);

}  // namespace lat::data
