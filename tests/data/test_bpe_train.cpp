// data/bpe_train.h against a brute-force trainer written here (recount every pair after every merge), and the
// properties lat-tokenize train promises: the same input gives the same file for any thread count, the file reads
// back to the same tokenizer, the special tokens come last.
#include <doctest/doctest.h>

#include <map>

#include "core/error.h"
#include "data/bpe_train.h"
#include "data/tokenizer_json.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"

using namespace lat::data;
using lat::testing::error_of;

namespace {

// The merges (as byte strings) that the textbook algorithm makes: count every adjacent pair over all pieces,
// merge the most frequent (ties: the smallest (left, right)), repeat.
std::vector<std::pair<std::string, std::string>> brute_force(const std::string& text, SplitPattern pattern,
                                                             int merges, int64_t min_frequency) {
  std::vector<uint32_t> ends;
  split_pieces(pattern, text, ends);
  std::map<std::string, int64_t> counts;
  uint32_t begin = 0;
  for (uint32_t e : ends) {
    ++counts[text.substr(begin, e - begin)];
    begin = e;
  }
  std::vector<std::vector<std::string>> words;
  std::vector<int64_t> freq;
  for (const auto& [piece, n] : counts) {
    words.emplace_back();
    for (char c : piece) words.back().push_back(std::string(1, c));
    freq.push_back(n);
  }
  std::vector<std::pair<std::string, std::string>> out;
  while (static_cast<int>(out.size()) < merges) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (size_t w = 0; w < words.size(); ++w)
      for (size_t i = 0; i + 1 < words[w].size(); ++i) pairs[{words[w][i], words[w][i + 1]}] += freq[w];
    std::pair<std::string, std::string> best;
    int64_t best_count = 0;
    for (const auto& [p, n] : pairs)
      if (n > best_count) {
        best = p;
        best_count = n;
      }
    if (best_count < min_frequency) break;
    out.push_back(best);
    for (auto& w : words) {
      std::vector<std::string> merged;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == best.first && w[i + 1] == best.second) {
          merged.push_back(best.first + best.second);
          ++i;
        } else {
          merged.push_back(w[i]);
        }
      }
      w = merged;
    }
  }
  return out;
}

std::string corpus() {
  return lat::testing::tiny_corpus() + "aaaa aaa aa a bbb abab 1234 12 34 1234567 caf\xc3\xa9 caf\xc3\xa9s \xe4\xb8\x96\xe7\x95\x8c\n";
}

}  // namespace

TEST_CASE("BPE training makes the merges a brute-force trainer makes, in the same order") {
  const std::string text = corpus();
  const std::string_view view(text);
  for (SplitPattern p : {SplitPattern::Gpt2, SplitPattern::Cl100k}) {
    for (int64_t min_frequency : {1, 2}) {
      BpeTrainOptions o;
      o.pattern = p;
      o.vocab_size = 256 + 150 + 1;
      o.min_frequency = min_frequency;
      const BpeTokenizer t = train_bpe(std::span<const std::string_view>(&view, 1), o);
      const auto expected = brute_force(text, p, 150, min_frequency);
      std::vector<std::pair<std::string, std::string>> got;
      for (const auto& [a, b] : t.merges()) got.emplace_back(t.token(a).bytes, t.token(b).bytes);
      CAPTURE(split_pattern_name(p));
      CAPTURE(min_frequency);
      REQUIRE(expected.size() > 40);
      CHECK(got == expected);
      CHECK(t.vocab_size() == 256 + static_cast<int32_t>(expected.size()) + 1);
      const BpeTokenizer::Token& eot = t.token(t.vocab_size() - 1);
      CHECK(eot.bytes == "<|endoftext|>");
      CHECK((eot.added && eot.special));
      CHECK(t.document_token() == t.vocab_size() - 1);
    }
  }
}

TEST_CASE("BPE training is deterministic across runs and thread counts, and its file reads back the same") {
  std::string text;
  for (int i = 0; i < 20; ++i) text += corpus();
  const std::string_view view(text);
  BpeTrainOptions o;
  o.vocab_size = 350;
  o.threads = 1;
  const std::string one = write_tokenizer_json(train_bpe(std::span<const std::string_view>(&view, 1), o));
  o.threads = 3;
  const std::string three = write_tokenizer_json(train_bpe(std::span<const std::string_view>(&view, 1), o));
  CHECK(one == three);
  const BpeTokenizer back = parse_tokenizer_json(one, "trained");
  CHECK(write_tokenizer_json(back) == one);
  CHECK(back.decode(back.encode(text)) == text);
  CHECK(back.vocab_size() == 350);
  o.vocab_size = 100;
  CHECK(error_of([&] { train_bpe(std::span<const std::string_view>(&view, 1), o); }).find("cannot hold") != std::string::npos);
  o.vocab_size = 300;
  o.special_tokens = {"<a>", "<a>"};
  CHECK(error_of([&] { train_bpe(std::span<const std::string_view>(&view, 1), o); }).find("twice") != std::string::npos);
}
