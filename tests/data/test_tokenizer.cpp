#include <doctest/doctest.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/tokenizer.h"
#include "support/temp_dir.h"

using namespace lat;
using namespace lat::data;
using lat::testing::error_of;
using lat::testing::TempDir;

TEST_CASE("byte tokenizer round-trips any bytes, drops BOS/EOS, rejects ids outside the vocabulary") {
  ByteTokenizer tok;
  CHECK(tok.vocab_size() == 258);
  const std::string text = "In the beginning — Ἐν ἀρχῇ 太初\n";
  const auto ids = tok.encode(text);
  CHECK(ids.size() == text.size());  // one token per byte
  CHECK(tok.decode(ids) == text);

  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  all += "\xff\xfe\xc3";  // invalid UTF-8 passes through
  CHECK(tok.decode(tok.encode(all)) == all);

  const auto framed = tok.encode("ab", true, true);
  CHECK(framed == std::vector<int32_t>{256, 'a', 'b', 257});
  CHECK(tok.decode(framed) == "ab");
  CHECK(tok.decode(std::vector<int32_t>{'x', 257, 256, 'y'}) == "xy");
  CHECK(tok.token_text(256) == "<bos>");

  const std::string msg = error_of([&] { tok.decode(std::vector<int32_t>{'a', 300}); });
  CHECK(msg.find("300") != std::string::npos);
  CHECK(msg.find("position 1") != std::string::npos);
  CHECK_THROWS_AS(tok.decode(std::vector<int32_t>{-2}), Error);
}

TEST_CASE("text dataset: a file, a folder in sorted order with EOS between documents, and clear errors") {
  TempDir dir("text");
  const std::string one = dir.write("one.txt", "hello");
  InMemoryTokens a = load_text_dataset(one);
  CHECK(a.size() == 5);
  CHECK(a.read(0, 5) == ByteTokenizer().encode("hello"));
  CHECK(a.describe().find("one.txt") != std::string::npos);

  dir.write("docs/b.txt", "BB");
  dir.write("docs/a.txt", "A");
  dir.write("docs/.hidden", "ignored");
  InMemoryTokens f = load_text_dataset(dir.file("docs"));
  CHECK(f.read(0, f.size()) == std::vector<int32_t>{'A', ByteTokenizer::kEos, 'B', 'B'});
  CHECK_THROWS_AS(f.read(2, 3), Error);

  const std::string missing = dir.file("nope.txt");
  std::string msg = error_of([&] { load_text_dataset(missing); });
  CHECK(msg.find(missing) != std::string::npos);
  CHECK(msg.find("does not exist") != std::string::npos);

  const std::string empty = dir.write("empty.txt", "");
  msg = error_of([&] { load_text_dataset(empty); });
  CHECK(msg.find(empty) != std::string::npos);
  CHECK(msg.find("empty") != std::string::npos);

  std::filesystem::create_directories(dir.file("void"));
  msg = error_of([&] { load_text_dataset(dir.file("void")); });
  CHECK(msg.find("holds no files") != std::string::npos);

  dir.write("withempty/a.txt", "x");
  const std::string empty_doc = dir.write("withempty/b.txt", "");
  msg = error_of([&] { load_text_dataset(dir.file("withempty")); });
  CHECK(msg.find(empty_doc) != std::string::npos);
}
