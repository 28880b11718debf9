// Test-only helpers for packed documents: a layout of document lengths per row, the per-position starts it
// means (built here from the lengths, independently of data/documents.cpp), and the slices that run each
// document as a sequence of its own for the "packed equals separate" tests.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace lat::testing {

struct Document {
  int64_t row, begin, end;
};

// Document lengths per row; every row's lengths sum to the same N.
using DocumentLayout = std::vector<std::vector<int64_t>>;

// The edge cases of issue 22 at tile size 4 and N = 21: row 0 has boundaries on tile multiples (4, 12) and
// off them (5, 13), with one-token documents at 4 and 12; row 1 starts with two one-token documents
// (boundaries at 0, 1, 2) and holds a document spanning three tiles; row 2 is one document cut by the window
// at both ends.
inline DocumentLayout edge_case_layout() {
  return {{4, 1, 7, 1, 8}, {1, 1, 10, 9}, {21}};
}

inline std::vector<Document> documents_of(const DocumentLayout& layout) {
  std::vector<Document> out;
  for (size_t b = 0; b < layout.size(); ++b) {
    int64_t t = 0;
    for (int64_t len : layout[b]) {
      out.push_back({static_cast<int64_t>(b), t, t + len});
      t += len;
    }
  }
  return out;
}

// i32 [B, N]: entry [b, t] = the first position of the document holding t.
inline Tensor starts_of(const DocumentLayout& layout) {
  const int64_t B = static_cast<int64_t>(layout.size());
  int64_t N = 0;
  for (int64_t len : layout.front()) N += len;
  std::vector<int32_t> s(static_cast<size_t>(B * N));
  for (const Document& d : documents_of(layout))
    for (int64_t t = d.begin; t < d.end; ++t)
      s[static_cast<size_t>(d.row * N + t)] = static_cast<int32_t>(d.begin);
  return Tensor::from_vector<int32_t>(s, Shape{B, N});
}

// Document d of x (batch row d.row, positions [begin, end) along `token_dim`) as a contiguous tensor of
// batch 1.
inline Tensor document_slice(const Tensor& x, const Document& d, int token_dim) {
  return x.slice(0, d.row, d.row + 1).slice(token_dim, d.begin, d.end).contiguous();
}

// Writes `part` (a document's result, batch 1) into its place in `whole`.
inline void put_document(Tensor& whole, const Document& d, int token_dim, const Tensor& part) {
  Tensor window = whole.slice(0, d.row, d.row + 1).slice(token_dim, d.begin, d.end);
  window.copy_(part);
}

}  // namespace lat::testing
