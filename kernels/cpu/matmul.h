// Reference CPU driver for kernels/matmul.h: a loop of GEMMs (kernels/cpu/gemm.h) over the batch.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

// For i in [0, batch): C_i (+)= op(A_i) · op(B_i) with A_i = a + i·stride_a (likewise b, c). A stride of 0
// shares one matrix; stride_c == 0 sums all products into one C. accumulate keeps C's previous contents.
template <class T>
void batched_matmul(int64_t batch, bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K,
                    const T* a, int64_t stride_a, const T* b, int64_t stride_b, T* c, int64_t stride_c,
                    bool accumulate);

}  // namespace lat::kernels::cpu
