// data/pretokenize.h and data/bpe.h on hand-worked cases: pieces of each split pattern (worked out from the
// regex by hand, alternative by alternative), merges by rank with the leftmost of equal ranks first (on the scan
// path and on the heap path for long pieces), ignore_merges, added tokens, byte fallback, and decode(encode(x))
// == x on 10,000 random byte strings, with the same ids for any thread count.
#include <doctest/doctest.h>

#include <random>

#include "core/error.h"
#include "data/bpe.h"
#include "data/bpe_train.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"

using namespace lat::data;
using lat::testing::error_of;

namespace {

std::vector<std::string> pieces(SplitPattern p, const std::string& text) {
  std::vector<uint32_t> ends;
  split_pieces(p, text, ends);
  std::vector<std::string> out;
  uint32_t begin = 0;
  for (uint32_t e : ends) {
    out.push_back(text.substr(begin, e - begin));
    begin = e;
  }
  return out;
}

using Pieces = std::vector<std::string>;

// Bytes 0..255 are ids 0..255; 256 "ab", 257 "abab", 258 "ba", 259 "aba" (reachable by no merge), 260 "<|e|>".
BpeTokenizer toy(bool ignore_merges, SplitPattern pattern = SplitPattern::Gpt2) {
  std::vector<BpeTokenizer::Token> t(261);
  for (int b = 0; b < 256; ++b) t[static_cast<size_t>(b)].bytes = std::string(1, static_cast<char>(b));
  t[256].bytes = "ab";
  t[257].bytes = "abab";
  t[258].bytes = "ba";
  t[259].bytes = "aba";
  t[260].bytes = "<|e|>";
  t[260].added = t[260].special = true;
  BpeTokenizer::Config c;
  c.pattern = pattern;
  c.ignore_merges = ignore_merges;
  return BpeTokenizer(std::move(t), {{'a', 'b'}, {256, 256}, {'b', 'a'}}, c);
}

std::vector<int32_t> piece_ids(const BpeTokenizer& t, const std::string& piece) {
  std::vector<int32_t> out;
  t.encode_piece(piece, out);
  return out;
}

}  // namespace

TEST_CASE("pre-tokenizer: GPT-2's pattern, alternative by alternative") {
  const auto g = SplitPattern::Gpt2;
  CHECK(pieces(g, "Hello world") == Pieces{"Hello", " world"});
  CHECK(pieces(g, "  hello") == Pieces{" ", " hello"});
  CHECK(pieces(g, "it's 'S") == Pieces{"it", "'s", " '", "S"});
  CHECK(pieces(g, "It'S") == Pieces{"It", "'", "S"});  // case-sensitive contractions
  CHECK(pieces(g, "we'll've") == Pieces{"we", "'ll", "'ve"});
  CHECK(pieces(g, "a  \n\nb") == Pieces{"a", "  \n", "\n", "b"});
  CHECK(pieces(g, "123456 7") == Pieces{"123456", " 7"});
  CHECK(pieces(g, "x!!? y") == Pieces{"x", "!!?", " y"});
  CHECK(pieces(g, "end  ") == Pieces{"end", "  "});  // (?!\S) holds at the end of the text
  CHECK(pieces(g, "caf\xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c") == Pieces{"caf\xc3\xa9", " \xe4\xb8\x96\xe7\x95\x8c"});
  // U+3000 is whitespace: "a", then the run of two less its last character, then that character alone (it is
  // not U+0020, so " ?\p{L}+" does not take it along).
  CHECK(pieces(g, "a\xe3\x80\x80\xe3\x80\x80" "b") == Pieces{"a", "\xe3\x80\x80", "\xe3\x80\x80", "b"});
}

TEST_CASE("pre-tokenizer: cl100k (Llama-3) and Qwen2 patterns") {
  const auto c = SplitPattern::Cl100k;
  CHECK(pieces(c, "1234567") == Pieces{"123", "456", "7"});
  CHECK(pieces(SplitPattern::Qwen2, "123") == Pieces{"1", "2", "3"});
  CHECK(pieces(c, "Hello world") == Pieces{"Hello", " world"});
  CHECK(pieces(c, "$hello $$hello") == Pieces{"$hello", " $$", "hello"});
  CHECK(pieces(c, "\thello") == Pieces{"\thello"});
  CHECK(pieces(c, "x\n\n  y") == Pieces{"x", "\n\n", " ", " y"});
  CHECK(pieces(c, "It'S we'LL") == Pieces{"It", "'S", " we", "'LL"});  // (?i:...)
  CHECK(pieces(c, "'\xc5\xbf" "a") == Pieces{"'\xc5\xbf", "a"});      // 'ſ folds to 's
  CHECK(pieces(c, "!!!\n\nx") == Pieces{"!!!\n\n", "x"});
  CHECK(pieces(c, "a \n b") == Pieces{"a", " \n", " b"});
  CHECK(pieces(c, "12ab") == Pieces{"12", "ab"});
}

TEST_CASE("pre-tokenizer: an invalid UTF-8 byte is a piece, and the text on each side is split on its own") {
  for (SplitPattern p : {SplitPattern::Gpt2, SplitPattern::Cl100k}) {
    CHECK(pieces(p, "x\xffy") == Pieces{"x", "\xff", "y"});
    CHECK(pieces(p, "\xe2\x82 a") == Pieces{"\xe2", "\x82", " a"});      // a truncated sequence: each byte alone
    CHECK(pieces(p, "a\xed\xa0\x80") == Pieces{"a", "\xed", "\xa0", "\x80"});  // an encoded surrogate
    CHECK(pieces(p, "\xc0\xaf") == Pieces{"\xc0", "\xaf"});              // an overlong '/'
    CHECK(pieces(p, "a  \xff") == Pieces{"a", "  ", "\xff"});           // the run ends where the text does
  }
  CHECK(next_safe_cut("ab cd", 0) == 2);
  CHECK(next_safe_cut("ab  cd", 0) == 6);
  CHECK(next_safe_cut("a1 cd", 0) == 5);
}

TEST_CASE("bpe: lowest rank first, leftmost of equal ranks, on the scan and the heap path") {
  const BpeTokenizer t = toy(false);
  CHECK(piece_ids(t, "abab") == std::vector<int32_t>{257});
  CHECK(piece_ids(t, "bab") == std::vector<int32_t>{'b', 256});      // (a,b) ranks before (b,a)
  CHECK(piece_ids(t, "aba") == std::vector<int32_t>{256, 'a'});      // "aba" is a token but no merge makes it
  CHECK(piece_ids(t, "bba") == std::vector<int32_t>{'b', 258});
  std::string ab30, ab100, ab101;
  for (int i = 0; i < 30; ++i) ab30 += "ab";
  for (int i = 0; i < 100; ++i) ab100 += "ab";
  ab101 = ab100 + "ab";
  CHECK(piece_ids(t, ab30) == std::vector<int32_t>(15, 257));  // 60 bytes: the scan
  std::vector<int32_t> odd31(15, 257);
  odd31.push_back(256);
  CHECK(piece_ids(t, ab30 + "ab") == odd31);  // the leftmost (ab, ab) pairs merge first
  CHECK(piece_ids(t, ab100) == std::vector<int32_t>(50, 257));  // 200 bytes: the heap
  std::vector<int32_t> odd(50, 257);
  odd.push_back(256);
  CHECK(piece_ids(t, ab101) == odd);
  CHECK(piece_ids(toy(true), "aba") == std::vector<int32_t>{259});  // ignore_merges: a piece in the vocabulary
  CHECK(t.encode("abab abab") == std::vector<int32_t>{257, ' ', 257});
}

TEST_CASE("bpe: added tokens are matched before pre-tokenization, unless the text is ordinary") {
  const BpeTokenizer t = toy(false);
  CHECK(t.encode("x<|e|>y") == std::vector<int32_t>{'x', 260, 'y'});
  CHECK(t.encode("<|e|><|e|>") == std::vector<int32_t>{260, 260});
  const std::vector<int32_t> plain = t.encode("x<|e|>y", false);
  CHECK(std::find(plain.begin(), plain.end(), 260) == plain.end());
  CHECK(t.decode(plain) == "x<|e|>y");
  CHECK(t.decode(std::vector<int32_t>{'x', 260}) == "x<|e|>");
  CHECK(error_of([&] { t.decode(std::vector<int32_t>{1, 261}); }).find("token id 261 at position 1") != std::string::npos);
  CHECK(!t.document_token());
}

TEST_CASE("bpe: byte fallback tokens stand for bytes the vocabulary lacks, a byte with neither is refused") {
  std::vector<BpeTokenizer::Token> tokens(256);
  for (int b = 0; b < 255; ++b) tokens[static_cast<size_t>(b)].bytes = std::string(1, static_cast<char>(b));
  tokens[255].bytes = "<0xFF>";
  const BpeTokenizer t(tokens, {}, BpeTokenizer::Config{});
  CHECK(t.encode("a\xff") == std::vector<int32_t>{'a', 255});
  CHECK(t.decode(t.encode("a\xff")) == "a\xff");
  tokens[255].bytes = "zz";
  const std::string msg = error_of([&] { BpeTokenizer(tokens, {}, BpeTokenizer::Config{}); });
  CHECK(msg.find("byte 0xFF has no token") != std::string::npos);
  tokens[255].bytes = "<0xFF>";
  CHECK(error_of([&] { BpeTokenizer(tokens, {{'a', 'b'}}, BpeTokenizer::Config{}); }).find("merge 0") != std::string::npos);
}

TEST_CASE("bpe: decode(encode(x)) == x on 10,000 random byte strings, and any thread count gives the same ids") {
  const std::string corpus = lat::testing::tiny_corpus();
  const std::string_view view(corpus);
  BpeTrainOptions options;
  options.vocab_size = 700;
  options.min_frequency = 1;
  for (SplitPattern p : {SplitPattern::Gpt2, SplitPattern::Cl100k}) {
    options.pattern = p;
    const BpeTokenizer t = train_bpe(std::span<const std::string_view>(&view, 1), options);
    std::mt19937_64 rng(26);
    auto below = [&](uint64_t n) { return static_cast<uint32_t>(rng() % n); };
    int failures = 0;
    std::string big;
    for (int i = 0; i < 10000; ++i) {
      std::string s;
      const uint32_t len = below(120);
      while (s.size() < len) {
        switch (below(5)) {
          case 0: s += static_cast<char>(below(256)); break;                   // any byte
          case 1: s += corpus.substr(below(static_cast<uint32_t>(corpus.size() - 20)), 1 + below(19)); break;
          case 2: s += std::string(1 + below(4), " \t\n\r"[below(4)]); break;  // whitespace runs
          case 3: {                                                           // a random scalar value
            uint32_t cp = below(0x110000);
            if (cp >= 0xD800 && cp < 0xE000) cp = 0x4E00;
            if (cp < 0x80) s += static_cast<char>(cp);
            else if (cp < 0x800) s += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 63))};
            else if (cp < 0x10000)
              s += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 63)), static_cast<char>(0x80 | (cp & 63))};
            else
              s += {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 63)),
                    static_cast<char>(0x80 | ((cp >> 6) & 63)), static_cast<char>(0x80 | (cp & 63))};
            break;
          }
          default: s += std::string(1 + below(300), 'a' + static_cast<char>(below(3))); break;  // long pieces
        }
      }
      if (t.decode(t.encode(s, false)) != s || t.decode(t.encode(s, true)) != s) ++failures;
      big += s;
    }
    CAPTURE(split_pattern_name(p));
    CHECK(failures == 0);
    REQUIRE(big.size() > 600000);  // long enough to be cut into parts for threads
    const std::vector<int32_t> one = t.encode(big, false, 1);
    CHECK(t.encode(big, false, 3) == one);
    CHECK(t.decode(one) == big);
  }
}
