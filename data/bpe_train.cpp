// The BPE trainer: piece counts per thread, merged; then the merge loop over the distinct pieces ("words"),
// with pair counts, the words each pair occurs in, and a max-heap of pairs checked lazily when popped.
#include "data/bpe_train.h"

#include <omp.h>

#include <algorithm>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "core/parallel.h"

namespace lat::data {
namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t left_of(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t right_of(uint64_t key) { return static_cast<int32_t>(key & 0xFFFFFFFFu); }

using Counts = std::unordered_map<std::string, int64_t>;

// Distinct pieces of all texts and how often each occurs, sorted by bytes.
std::vector<std::pair<std::string, int64_t>> count_pieces(std::span<const std::string_view> texts,
                                                          SplitPattern pattern, int threads) {
  std::vector<std::string_view> parts;  // texts cut where the cut cannot change the pieces
  for (std::string_view text : texts)
    for (size_t begin = 0; begin < text.size();) {
      const size_t end = next_safe_cut(text, begin + (size_t{1} << 20));
      parts.push_back(text.substr(begin, end - begin));
      begin = end;
    }
  const int workers = std::max(1, threads);
  std::vector<Counts> local(static_cast<size_t>(workers));
  ParallelErrors errors;
#pragma omp parallel for num_threads(workers) schedule(dynamic, 1)
  for (int64_t p = 0; p < static_cast<int64_t>(parts.size()); ++p)
    errors.run([&] {
      Counts& counts = local[static_cast<size_t>(omp_get_thread_num())];
      const std::string_view part = parts[static_cast<size_t>(p)];
      std::vector<uint32_t> ends;
      split_pieces(pattern, part, ends);
      size_t begin = 0;
      for (uint32_t end : ends) {
        ++counts[std::string(part.substr(begin, end - begin))];
        begin = end;
      }
    });
  errors.rethrow();
  Counts all = std::move(local[0]);
  for (size_t t = 1; t < local.size(); ++t)
    for (auto& [piece, n] : local[t]) all[piece] += n;
  std::vector<std::pair<std::string, int64_t>> sorted(all.begin(), all.end());
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

}  // namespace

BpeTokenizer train_bpe(std::span<const std::string_view> texts, const BpeTrainOptions& options) {
  const int64_t specials = static_cast<int64_t>(options.special_tokens.size());
  if (options.vocab_size < 256 + specials || options.vocab_size > (int64_t{1} << 31) - 1)
    LAT_THROW("BPE training: a vocabulary of ", options.vocab_size, " cannot hold the 256 bytes and ", specials,
              " special tokens");
  for (size_t i = 0; i < options.special_tokens.size(); ++i) {
    if (options.special_tokens[i].empty()) LAT_THROW("BPE training: special token ", i, " is empty");
    for (size_t j = 0; j < i; ++j)
      if (options.special_tokens[i] == options.special_tokens[j])
        LAT_THROW("BPE training: special token '", options.special_tokens[i], "' is given twice");
  }
  std::vector<BpeTokenizer::Token> tokens(256);
  for (int b = 0; b < 256; ++b) tokens[static_cast<size_t>(b)].bytes = std::string(1, static_cast<char>(b));
  std::vector<std::pair<int32_t, int32_t>> merges;

  const auto pieces = count_pieces(texts, options.pattern, options.threads);
  std::vector<std::vector<int32_t>> words(pieces.size());
  std::vector<int64_t> freq(pieces.size());
  std::unordered_map<uint64_t, int64_t> count;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where;
  for (size_t w = 0; w < pieces.size(); ++w) {
    freq[w] = pieces[w].second;
    for (char c : pieces[w].first) words[w].push_back(static_cast<unsigned char>(c));
    for (size_t i = 0; i + 1 < words[w].size(); ++i) {
      const uint64_t k = pair_key(words[w][i], words[w][i + 1]);
      count[k] += freq[w];
      auto& list = where[k];
      if (list.empty() || list.back() != w) list.push_back(static_cast<uint32_t>(w));
    }
  }
  struct Entry {
    int64_t count;
    uint64_t pair;
  };
  // Most frequent first; among equals, the pair whose (left bytes, right bytes) sort first.
  auto after = [&tokens](const Entry& x, const Entry& y) {
    if (x.count != y.count) return x.count < y.count;
    const std::string& xl = tokens[static_cast<size_t>(left_of(x.pair))].bytes;
    const std::string& yl = tokens[static_cast<size_t>(left_of(y.pair))].bytes;
    if (xl != yl) return xl > yl;
    return tokens[static_cast<size_t>(right_of(x.pair))].bytes > tokens[static_cast<size_t>(right_of(y.pair))].bytes;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(after)> heap(after);
  for (const auto& [k, n] : count) heap.push({n, k});

  const int64_t merge_budget = options.vocab_size - 256 - specials;
  std::vector<uint32_t> stamp(words.size(), UINT32_MAX);
  std::unordered_map<uint64_t, int64_t> delta;
  std::unordered_map<std::string, int32_t> id_of;  // merged bytes -> id: two merges may make the same token
  while (static_cast<int64_t>(tokens.size()) - 256 < merge_budget && !heap.empty()) {
    const Entry top = heap.top();
    heap.pop();
    const auto it = count.find(top.pair);
    const int64_t now = it == count.end() ? 0 : it->second;
    if (now != top.count) {  // stale: re-queue at its current count
      if (now > 0) heap.push({now, top.pair});
      continue;
    }
    if (now < std::max<int64_t>(options.min_frequency, 1)) break;
    const int32_t a = left_of(top.pair), b = right_of(top.pair);
    std::string bytes = tokens[static_cast<size_t>(a)].bytes + tokens[static_cast<size_t>(b)].bytes;
    const auto [known, fresh] = id_of.emplace(bytes, static_cast<int32_t>(tokens.size()));
    const int32_t id = known->second;
    if (fresh) {
      BpeTokenizer::Token merged;
      merged.bytes = std::move(bytes);
      tokens.push_back(std::move(merged));
    }
    merges.emplace_back(a, b);
    delta.clear();
    const auto stamp_id = static_cast<uint32_t>(merges.size());
    for (uint32_t w : where[top.pair]) {
      if (stamp[w] == stamp_id) continue;
      stamp[w] = stamp_id;
      std::vector<int32_t>& s = words[w];
      const int64_t f = freq[w];
      for (size_t i = 0; i + 1 < s.size(); ++i) delta[pair_key(s[i], s[i + 1])] -= f;
      size_t out = 0;
      for (size_t i = 0; i < s.size(); ++out) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          s[out] = id;
          i += 2;
        } else {
          s[out] = s[i++];
        }
      }
      s.resize(out);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t k = pair_key(s[i], s[i + 1]);
        delta[k] += f;
        if (left_of(k) == id || right_of(k) == id) {
          auto& list = where[k];
          if (list.empty() || list.back() != w) list.push_back(w);
        }
      }
    }
    std::vector<uint64_t> grown;
    for (const auto& [k, d] : delta) {
      if (d == 0) continue;
      const int64_t n = (count[k] += d);
      if (d > 0) grown.push_back(k);
      if (n == 0) count.erase(k);
    }
    std::sort(grown.begin(), grown.end());  // the heap's ties do not depend on this order, but keep it fixed
    for (uint64_t k : grown) heap.push({count[k], k});
    where.erase(top.pair);
  }
  for (const std::string& s : options.special_tokens) {
    BpeTokenizer::Token t;
    t.bytes = s;
    t.added = true;
    t.special = true;
    tokens.push_back(std::move(t));
  }
  BpeTokenizer::Config config;
  config.pattern = options.pattern;
  return BpeTokenizer(std::move(tokens), std::move(merges), config);
}

}  // namespace lat::data
