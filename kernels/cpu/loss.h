// Reference CPU loops for kernels/loss.h. logits, dlogits: [rows, vocab]; targets: [rows], valid or ignored.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

// Returns the mean loss (in double) and writes dlogits.
template <class T>
double softmax_cross_entropy_forward(const T* logits, const int32_t* targets, int32_t ignore_index,
                                     T* dlogits, int64_t rows, int64_t vocab);
// out = dlogits · scale
template <class T>
void scale_copy(const T* dlogits, T scale, T* out, int64_t n);

// Row of the first target outside [0, vocab) that is not ignore_index, or -1.
int64_t first_invalid_target(const int32_t* targets, int64_t rows, int64_t vocab, int32_t ignore_index);

}  // namespace lat::kernels::cpu
