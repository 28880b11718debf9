// Reference CPU loops for kernels/loss.h. logits, dlogits: [rows, vocab]; targets: [rows], valid or ignored.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

// Writes lse[n] = logsumexp(logits[n]) (every row) and *inv_count = 1 / C (0 when C = 0, C the number of
// counted rows); returns the mean loss over counted rows, summed in double in row order.
template <class T>
double softmax_cross_entropy_forward(const T* logits, const int32_t* targets, int32_t ignore_index, T* lse,
                                     T* inv_count, int64_t rows, int64_t vocab);
// dlogits[n, v] = g · (exp(logits[n, v] − lse[n]) − [v = targets[n]]) with g = dloss · inv_count, 0 for ignored
// rows. dlogits may be logits.
template <class T>
void softmax_cross_entropy_backward(const T* logits, const int32_t* targets, int32_t ignore_index, const T* lse,
                                    double g, T* dlogits, int64_t rows, int64_t vocab);

// Row of the first target outside [0, vocab) that is not ignore_index, or -1.
int64_t first_invalid_target(const int32_t* targets, int64_t rows, int64_t vocab, int32_t ignore_index);

}  // namespace lat::kernels::cpu
