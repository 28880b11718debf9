// CUDA embedding lookup and its scatter-add backward.
//   forward:  out[i, :] = table[ids[i], :]
//   backward: dtable[ids[i], :] += dout[i, :]   (fp32 atomics: the order of additions is not fixed)
// ids: [n] int32; table: [vocab, dim] of table_dtype (f32 or bf16); out: [n, dim] of out_dtype (f32 or bf16);
// dout: [n, dim] of dout_dtype; dtable: [vocab, dim] fp32, accumulated into (zero it first for a fresh grad).
// An id outside [0, vocab) writes a row of NaN in the forward (visible in the loss) and is skipped in the
// backward: kernels cannot throw, and checking ids on the host would synchronise the step.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

void embedding_forward(const int32_t* ids, const void* table, DType table_dtype, void* out, DType out_dtype,
                       int64_t n, int64_t vocab, int64_t dim);
void embedding_backward(const int32_t* ids, const void* dout, DType dout_dtype, float* dtable, int64_t n,
                        int64_t vocab, int64_t dim);

}  // namespace lat::kernels::cuda
