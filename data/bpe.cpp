// The BPE model: the merge table (open addressing over id pairs), the merge loop (a scan for short pieces, a
// heap for long ones: a single piece can be a megabyte of one letter), a per-thread cache of pieces already
// encoded, added-token cutting and the parallel split of long texts.
#include "data/bpe.h"

#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <functional>
#include <queue>

#include "core/error.h"
#include "core/parallel.h"

namespace lat::data {

class BpeTokenizer::MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0, id = 0;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  explicit MergeTable(size_t count) {
    size_t cap = 16;
    while (cap < 2 * count + 1) cap *= 2;
    slots_.assign(cap, Entry{});
    mask_ = cap - 1;
  }
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  // false when the pair is already present (the first, lowest rank, wins).
  bool insert(int32_t a, int32_t b, int32_t rank, int32_t id) {
    const uint64_t k = key(a, b);
    for (size_t i = slot(k);; i = (i + 1) & mask_) {
      if (slots_[i].key == k) return false;
      if (slots_[i].key == kEmpty) {
        slots_[i] = Entry{k, rank, id};
        return true;
      }
    }
  }
  const Entry* find(int32_t a, int32_t b) const {
    const uint64_t k = key(a, b);
    for (size_t i = slot(k);; i = (i + 1) & mask_) {
      if (slots_[i].key == k) return &slots_[i];
      if (slots_[i].key == kEmpty) return nullptr;
    }
  }

 private:
  size_t slot(uint64_t k) const { return static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  std::vector<Entry> slots_;
  size_t mask_ = 0;
};

namespace {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

constexpr size_t kScanLimit = 128;  // pieces of more bytes than this merge through a heap

std::string hex_byte_token(unsigned b) {
  static const char* digits = "0123456789ABCDEF";
  return std::string("<0x") + digits[b >> 4] + digits[b & 15] + ">";
}

}  // namespace

// One thread's encoder: the pieces it has already merged, and scratch space.
class BpeEncoder {
 public:
  explicit BpeEncoder(const BpeTokenizer& t) : t_(t) {}

  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) {
    if (text.empty()) return;
    if (t_.config_.add_prefix_space && text.front() != ' ') {
      std::string prefixed = " " + std::string(text);
      encode_pieces(prefixed, out);
    } else {
      encode_pieces(text, out);
    }
  }

 private:
  void encode_pieces(std::string_view text, std::vector<int32_t>& out) {
    ends_.clear();
    split_pieces(t_.config_.pattern, text, ends_);
    size_t begin = 0;
    for (uint32_t end : ends_) {
      const std::string_view piece = text.substr(begin, end - begin);
      begin = end;
      if (piece.size() == 1) {
        out.push_back(t_.byte_token_[static_cast<unsigned char>(piece[0])]);
        continue;
      }
      if (piece.size() > 64) {  // long pieces are rare and seldom repeat
        t_.encode_piece(piece, out);
        continue;
      }
      if (auto it = cache_.find(piece); it != cache_.end()) {
        out.insert(out.end(), ids_.begin() + it->second.first, ids_.begin() + it->second.first + it->second.second);
        continue;
      }
      const size_t before = out.size();
      t_.encode_piece(piece, out);
      if (cache_.size() >= (size_t{1} << 20)) {
        cache_.clear();
        ids_.clear();
      }
      cache_.emplace(std::string(piece),
                     std::pair<uint32_t, uint32_t>(static_cast<uint32_t>(ids_.size()),
                                                   static_cast<uint32_t>(out.size() - before)));
      ids_.insert(ids_.end(), out.begin() + static_cast<ptrdiff_t>(before), out.end());
    }
  }

  const BpeTokenizer& t_;
  std::vector<uint32_t> ends_;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, StringViewHash, std::equal_to<>> cache_;
  std::vector<int32_t> ids_;
};

BpeTokenizer::BpeTokenizer(std::vector<Token> tokens, std::vector<std::pair<int32_t, int32_t>> merges,
                           Config config)
    : tokens_(std::move(tokens)), merges_(std::move(merges)), config_(config) {
  if (tokens_.empty()) LAT_THROW("tokenizer: the vocabulary is empty");
  if (tokens_.size() > static_cast<size_t>(INT32_MAX)) LAT_THROW("tokenizer: ", tokens_.size(),
            " tokens is more than int32 ids can number");
  for (size_t id = 0; id < tokens_.size(); ++id) {
    const Token& t = tokens_[id];
    if (t.bytes.empty()) {
      if (t.added) LAT_THROW("tokenizer: added token ", id, " is empty");
      continue;
    }
    if (!t.added && t.special) LAT_THROW("tokenizer: token ", id, " is special but not an added token");
    ids_.emplace(t.bytes, static_cast<int32_t>(id));  // a duplicate keeps the first id
    if (t.added) {
      added_.push_back(static_cast<int32_t>(id));
      added_first_byte_[static_cast<unsigned char>(t.bytes[0])] = true;
    }
  }
  std::stable_sort(added_.begin(), added_.end(), [&](int32_t a, int32_t b) {
    return tokens_[static_cast<size_t>(a)].bytes.size() > tokens_[static_cast<size_t>(b)].bytes.size();
  });
  for (unsigned b = 0; b < 256; ++b) {
    std::optional<int32_t> id = find(std::string(1, static_cast<char>(b)));
    if (!id) {  // byte fallback
      id = find(hex_byte_token(b));
      if (id) fallback_bytes_[*id] = static_cast<char>(b);
    }
    if (!id)
      LAT_THROW("tokenizer: byte 0x", hex_byte_token(b).substr(3, 2), " has no token (neither the byte itself nor ",
                hex_byte_token(b), "), so some texts could not be encoded");
    byte_token_[b] = *id;
  }
  merge_table_ = std::make_unique<MergeTable>(merges_.size());
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto [a, b] = merges_[r];
    if (a < 0 || b < 0 || a >= vocab_size() || b >= vocab_size() || tokens_[static_cast<size_t>(a)].bytes.empty() ||
        tokens_[static_cast<size_t>(b)].bytes.empty())
      LAT_THROW("tokenizer: merge ", r, " joins ids ", a, " and ", b, ", which are not both tokens");
    const std::optional<int32_t> merged =
        find(tokens_[static_cast<size_t>(a)].bytes + tokens_[static_cast<size_t>(b)].bytes);
    if (!merged) LAT_THROW("tokenizer: merge ", r, " (ids ", a, " + ", b, ") makes a token that is not in the vocabulary");
    merge_table_->insert(a, b, static_cast<int32_t>(r), *merged);
  }
}

BpeTokenizer::~BpeTokenizer() = default;
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;

const BpeTokenizer::Token& BpeTokenizer::token(int32_t id) const {
  if (id < 0 || id >= vocab_size()) LAT_THROW("tokenizer: id ", id, " is outside the vocabulary [0, ", vocab_size(), ")");
  return tokens_[static_cast<size_t>(id)];
}

std::optional<int32_t> BpeTokenizer::find(std::string_view bytes) const {
  auto it = ids_.find(std::string(bytes));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<int32_t> BpeTokenizer::document_token() const {
  for (const char* name : {"<|endoftext|>", "<|end_of_text|>", "</s>"})
    if (auto id = find(name); id && tokens_[static_cast<size_t>(*id)].added) return id;
  return std::nullopt;
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  const size_t n = piece.size();
  if (n == 0) return;
  if (config_.ignore_merges && n > 1)
    if (auto id = find(piece); id && !tokens_[static_cast<size_t>(*id)].added) {
      out.push_back(*id);
      return;
    }
  const size_t first = out.size();
  for (char c : piece) out.push_back(byte_token_[static_cast<unsigned char>(c)]);
  if (n == 1) return;
  int32_t* sym = out.data() + first;
  if (n <= kScanLimit) {
    // ranks[i]: the merge of sym[i] and sym[i + 1]; INT_MAX when they do not merge.
    int32_t ranks[kScanLimit], merged[kScanLimit];
    size_t count = n;
    auto look = [&](size_t i) {
      const MergeTable::Entry* e = merge_table_->find(sym[i], sym[i + 1]);
      ranks[i] = e ? e->rank : INT_MAX;
      merged[i] = e ? e->id : -1;
    };
    for (size_t i = 0; i + 1 < count; ++i) look(i);
    while (count > 1) {
      size_t best = 0;
      for (size_t i = 1; i + 1 < count; ++i)
        if (ranks[i] < ranks[best]) best = i;
      if (ranks[best] == INT_MAX) break;
      sym[best] = merged[best];
      std::memmove(sym + best + 1, sym + best + 2, (count - best - 2) * sizeof(int32_t));
      std::memmove(ranks + best + 1, ranks + best + 2, (count - best - 2) * sizeof(int32_t));
      std::memmove(merged + best + 1, merged + best + 2, (count - best - 2) * sizeof(int32_t));
      --count;
      if (best > 0) look(best - 1);
      if (best + 1 < count) look(best);
    }
    out.resize(first + count);
    return;
  }
  // A linked list of symbols and a heap of candidate merges (rank, position), checked when popped.
  std::vector<int32_t> id(sym, sym + n), prev(n), next(n);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  struct Candidate {
    int32_t rank, pos, left, right;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push = [&](int32_t pos) {
    const int32_t nx = next[static_cast<size_t>(pos)];
    if (nx < 0) return;
    if (const MergeTable::Entry* e = merge_table_->find(id[static_cast<size_t>(pos)], id[static_cast<size_t>(nx)]))
      heap.push({e->rank, pos, id[static_cast<size_t>(pos)], id[static_cast<size_t>(nx)]});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  std::vector<bool> alive(n, true);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const auto p = static_cast<size_t>(c.pos);
    const int32_t nx = next[p];
    if (!alive[p] || nx < 0 || id[p] != c.left || id[static_cast<size_t>(nx)] != c.right) continue;
    id[p] = merge_table_->find(c.left, c.right)->id;
    alive[static_cast<size_t>(nx)] = false;
    next[p] = next[static_cast<size_t>(nx)];
    if (next[p] >= 0) prev[static_cast<size_t>(next[p])] = c.pos;
    if (prev[p] >= 0) push(prev[p]);
    push(c.pos);
  }
  out.resize(first);
  for (int32_t i = 0; i >= 0; i = next[static_cast<size_t>(i)]) out.push_back(id[static_cast<size_t>(i)]);
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  BpeEncoder(*this).encode_ordinary(text, out);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool allow_added, int threads) const {
  // Cuts at added tokens, then encodes each stretch between them with `enc`.
  auto encode_part = [&](BpeEncoder& enc, std::string_view part, std::vector<int32_t>& out) {
    if (!allow_added || added_.empty()) return enc.encode_ordinary(part, out);
    size_t start = 0;
    for (size_t i = 0; i < part.size();) {
      if (!added_first_byte_[static_cast<unsigned char>(part[i])]) {
        ++i;
        continue;
      }
      int32_t hit = -1;
      for (int32_t a : added_) {
        const std::string& s = tokens_[static_cast<size_t>(a)].bytes;
        if (part.compare(i, s.size(), s) == 0) {
          hit = a;
          break;
        }
      }
      if (hit < 0) {
        ++i;
        continue;
      }
      enc.encode_ordinary(part.substr(start, i - start), out);
      out.push_back(hit);
      i += tokens_[static_cast<size_t>(hit)].bytes.size();
      start = i;
    }
    enc.encode_ordinary(part.substr(start), out);
  };
  std::vector<int32_t> out;
  const size_t kChunk = size_t{1} << 18;
  bool cuttable = threads > 1 && text.size() > 2 * kChunk;
  if (allow_added)
    for (int32_t a : added_) cuttable = cuttable && tokens_[static_cast<size_t>(a)].bytes.find(' ') == std::string::npos;
  if (!cuttable) {
    BpeEncoder enc(*this);
    out.reserve(text.size() / 3);
    encode_part(enc, text, out);
    return out;
  }
  std::vector<size_t> cuts{0};
  while (cuts.back() < text.size()) cuts.push_back(next_safe_cut(text, cuts.back() + kChunk));
  const auto parts = static_cast<int64_t>(cuts.size() - 1);
  std::vector<std::vector<int32_t>> pieces(static_cast<size_t>(parts));
  ParallelErrors errors;
#pragma omp parallel num_threads(threads)
  {
    BpeEncoder enc(*this);
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < parts; ++i)
      errors.run([&] {
        const auto k = static_cast<size_t>(i);
        encode_part(enc, text.substr(cuts[k], cuts[k + 1] - cuts[k]), pieces[k]);
      });
  }
  errors.rethrow();
  size_t total = 0;
  for (const auto& p : pieces) total += p.size();
  out.reserve(total);
  for (const auto& p : pieces) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids) const {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= vocab_size() || tokens_[static_cast<size_t>(id)].bytes.empty())
      LAT_THROW("tokenizer: token id ", id, " at position ", i, " is not in the vocabulary (",
                vocab_size(), " ids)");
    if (!fallback_bytes_.empty())
      if (auto it = fallback_bytes_.find(id); it != fallback_bytes_.end()) {
        text += it->second;
        continue;
      }
    text += tokens_[static_cast<size_t>(id)].bytes;
  }
  return text;
}

}  // namespace lat::data
