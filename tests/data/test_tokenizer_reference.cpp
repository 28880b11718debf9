// lat's BPE against published reference tokenizers on >= 1 MB of varied text (tools/tokenizer-reference/:
// English prose, code, digits, whitespace runs, emoji, CJK and other scripts, invalid UTF-8). The vocabularies
// and the expected ids come from npm packages (GPT-2's encoder.json + vocab.bpe; tiktoken's cl100k_base as a
// tokenizer.json), the ids from tiktoken, never from lat. tools/setup.sh makes the fixtures; without them
// the cases fail under CI (CI=1) and are skipped with a message elsewhere.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/tokenizer_json.h"
#include "support/tool_files.h"

using namespace lat::data;
using lat::testing::slurp;

namespace {

const std::string kDir = std::string(LAT_SOURCE_DIR) + "/data/tokenizer-reference";

// False (with a message, or a failure under CI) when the fixtures are missing.
bool have_fixtures() {
  if (std::filesystem::exists(kDir + "/manifest.json")) return true;
  if (std::getenv("CI")) {
    FAIL_CHECK("the reference tokenizer fixtures are missing from " << kDir
                                                                    << "; CI must make them (tools/tokenizer-reference/run.sh)");
  } else {
    MESSAGE("skipped: no reference tokenizer fixtures in " << kDir << " (run tools/tokenizer-reference/run.sh)");
  }
  return false;
}

uint32_t u32(const std::string& b, size_t& at) {
  REQUIRE(at + 4 <= b.size());
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  at += 4;
  return v;
}

std::vector<std::string> read_docs(const std::string& path) {
  const std::string b = slurp(path);
  std::vector<std::string> docs;
  for (size_t at = 0; at < b.size();) {
    const uint32_t n = u32(b, at);
    REQUIRE(at + n <= b.size());
    docs.push_back(b.substr(at, n));
    at += n;
  }
  return docs;
}

std::vector<std::vector<int32_t>> read_ids(const std::string& path) {
  const std::string b = slurp(path);
  std::vector<std::vector<int32_t>> all;
  for (size_t at = 0; at < b.size();) {
    const uint32_t n = u32(b, at);
    std::vector<int32_t> ids(n);
    for (uint32_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>(u32(b, at));
    all.push_back(std::move(ids));
  }
  return all;
}

// Encodes every document and counts those whose ids equal the reference's; reports the first difference.
void compare(const BpeTokenizer& tok, const std::vector<std::string>& docs,
             const std::vector<std::vector<int32_t>>& expected, bool allow_added, const std::string& name) {
  REQUIRE(docs.size() == expected.size());
  size_t same = 0, tokens = 0, bytes = 0;
  std::string first;
  for (size_t d = 0; d < docs.size(); ++d) {
    const std::vector<int32_t> ids = tok.encode(docs[d], allow_added);
    tokens += expected[d].size();
    bytes += docs[d].size();
    if (ids == expected[d]) {
      ++same;
      continue;
    }
    if (!first.empty()) continue;
    size_t i = 0;
    while (i < ids.size() && i < expected[d].size() && ids[i] == expected[d][i]) ++i;
    std::ostringstream why;
    why << "document " << d << " first differs at id " << i << ": lat";
    for (size_t k = i; k < std::min(ids.size(), i + 6); ++k) why << " " << ids[k] << " '" << tok.decode({&ids[k], 1}) << "'";
    why << " / reference";
    for (size_t k = i; k < std::min(expected[d].size(), i + 6); ++k)
      why << " " << expected[d][k] << " '" << tok.decode({&expected[d][k], 1}) << "'";
    first = why.str();
  }
  MESSAGE(name << ": " << same << "/" << docs.size() << " documents (" << bytes << " bytes, " << tokens
               << " reference ids) identical");
  INFO(first);
  CHECK(same == docs.size());
}

}  // namespace

TEST_CASE("reference tokenizers: GPT-2 (encoder.json + vocab.bpe) gives tiktoken's ids on the corpus") {
  if (!have_fixtures()) return;
  const BpeTokenizer tok = load_tokenizer(kDir + "/gpt2/encoder.json");
  CHECK(tok.vocab_size() == 50257);
  const std::vector<std::string> docs = read_docs(kDir + "/docs.bin");
  size_t bytes = 0;
  for (const auto& d : docs) bytes += d.size();
  CHECK(bytes >= 1000000);
  compare(tok, docs, read_ids(kDir + "/gpt2.ids"), false, "gpt2");
  compare(tok, read_docs(kDir + "/special.txt"), read_ids(kDir + "/gpt2.special.ids"), true, "gpt2 with <|endoftext|>");
  // The same tokenizer written as tokenizer.json and read back gives the same ids.
  const BpeTokenizer again = parse_tokenizer_json(write_tokenizer_json(tok), "gpt2 rewritten");
  size_t same = 0;
  for (const auto& d : docs) same += again.encode(d, false) == tok.encode(d, false);
  CHECK(same == docs.size());
}

TEST_CASE("reference tokenizers: cl100k_base (tokenizer.json, uint32-sized ids) gives tiktoken's ids") {
  if (!have_fixtures()) return;
  const BpeTokenizer tok = load_tokenizer(kDir + "/cl100k/tokenizer.json");
  CHECK(tok.vocab_size() > 65536);
  const std::vector<std::string> docs = read_docs(kDir + "/docs.bin");
  compare(tok, docs, read_ids(kDir + "/cl100k.ids"), false, "cl100k");
  compare(tok, read_docs(kDir + "/special.txt"), read_ids(kDir + "/cl100k.special.ids"), true, "cl100k with special tokens");
}

TEST_CASE("reference tokenizers: decode(encode(x)) == x on the whole corpus, invalid UTF-8 included") {
  if (!have_fixtures()) return;
  const std::vector<std::string> docs = read_docs(kDir + "/docs.bin");
  for (const std::string file : {"gpt2/encoder.json", "cl100k/tokenizer.json"}) {
    const BpeTokenizer tok = load_tokenizer(kDir + "/" + file);
    size_t same = 0;
    for (const auto& d : docs) same += tok.decode(tok.encode(d, false)) == d;
    CAPTURE(file);
    CHECK(same == docs.size());
  }
}
