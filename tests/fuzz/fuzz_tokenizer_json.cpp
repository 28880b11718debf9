// libFuzzer harness: the tokenizer.json reader (data/tokenizer_json.h) on arbitrary text. Either it is refused
// with a lat::Error, or the tokenizer it gives encodes a fixed text (with and without added tokens) to ids that
// decode back to that text, and writes a tokenizer.json that reads back to the same file.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "data/tokenizer_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const lat::data::BpeTokenizer tok = lat::data::parse_tokenizer_json(text, "fuzz");
    const std::string sample = "Hello, world! It's 2026-12-08.\n\t\xe4\xb8\x96\xe7\x95\x8c \xff\xfe <|endoftext|> aaaa";
    if (!tok.config().add_prefix_space)  // that option adds a space the text did not have
      for (bool added : {false, true})
        if (tok.decode(tok.encode(sample, added)) != sample) std::abort();
    const std::string written = lat::data::write_tokenizer_json(tok);
    if (lat::data::write_tokenizer_json(lat::data::parse_tokenizer_json(written, "rewritten")) != written) std::abort();
  } catch (const lat::Error&) {
  }
  return 0;
}
