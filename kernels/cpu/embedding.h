// Reference CPU loops for kernels/embedding.h. Rows are D contiguous elements; ids are valid.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

// out[n, :] = weight[ids[n], :]   weight: [V, D], ids: [n_ids], out: [n_ids, D]
template <class T>
void embedding_forward(const T* weight, const int32_t* ids, T* out, int64_t n_ids, int64_t dim);
// dweight[ids[n], :] += dout[n, :]   (deterministic: each thread owns a range of columns)
template <class T>
void embedding_backward(const T* dout, const int32_t* ids, T* dweight, int64_t n_ids, int64_t dim);

// Index of the first id outside [0, vocab), or -1.
int64_t first_invalid_id(const int32_t* ids, int64_t n_ids, int64_t vocab);

}  // namespace lat::kernels::cpu
