// Document boundaries of packed token windows (docs/data.md, "Document boundaries"). A token stream joins its
// documents with a separator token (EOS in byte-level text, data.eot_token in GPT-2 shards); a window cuts
// the stream anywhere. Each separator begins the document it introduces (it is that document's first input,
// so no prediction is conditioned on another document: the last token of a document predicts the separator,
// and the separator, read with a fresh state, predicts the next document's first token); the window's first
// token begins the document it lands in, cut there. The result is the per-position form the attention kernels
// read (kernels/documents.h): starts[t] = where the document holding input t begins, in window coordinates.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace lat::data {

// starts[t] for the T inputs of one window: 0 up to the first separator at t > 0, then t at each separator.
void document_starts(const int32_t* inputs, int64_t T, int32_t separator, int32_t* starts);
// The same for every row of inputs: i32 [B, T] on the CPU -> i32 [B, T] on the CPU.
Tensor document_starts(const Tensor& inputs, int32_t separator);

}  // namespace lat::data
