// Document boundaries inside packed sequences (docs/attention.md, "Document boundaries"): the one form every
// attention kernel reads them in, and its checks.
//
// document_starts: i32 [B, N], contiguous, on the operands' device. Entry [b, t] is where the document
// holding token t begins, in this sequence's coordinates:
//   starts[b, 0] ≤ 0, and for t > 0 starts[b, t] is starts[b, t − 1] (t continues a document) or t (one
//   begins).
// Token t's position within its document is t − starts[b, t] (RoPE and cosFormer use it). starts[b, 0] = 0: a
// document begins at position 0 and reads no initial state; −p < 0: the document began p tokens before this
// chunk and continues the initial state (streaming). Per-position starts let every kernel decide locally,
// with no host synchronisation and no search: the linear core's intra-tile mask is c ≥ starts[t], the carried
// state reaches row t iff starts[t] < the tile's first row, softmax's mask is starts[i] ≤ j ≤ i. An undefined
// tensor means one document per sequence (no boundaries).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace lat::kernels {

// Throws lat::Error naming `op` unless `starts` is an i32 [batch, n] contiguous tensor on `like`'s device; on
// the CPU it also checks the rules above (a CUDA tensor is not read: that would synchronise the host).
void check_document_starts(const char* op, const Tensor& starts, int64_t batch, int64_t n,
                           const Tensor& like);

// The refusal of a CUDA path that does not honour document boundaries: one sentence naming `op` and the
// switch.
[[noreturn]] void no_cuda_document_boundaries(const char* op);

// The pointer of a defined `starts` (nullptr when undefined), for the CPU loops and the CUDA launches.
inline const int32_t* document_starts_or_null(const Tensor& starts) {
  return starts.defined() ? starts.data<int32_t>() : nullptr;
}

}  // namespace lat::kernels
