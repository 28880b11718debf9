// Reference CPU loops for kernels/softmax_attention.h.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

// starts: i32 [B, N] document starts (kernels/documents.h; nq = nk = N) or nullptr; heads = H (bh = B·H).
template <class T>
void softmax_attention_forward(const T* q, const T* k, const T* v, T* out, T* lse, int64_t bh, int64_t nq,
                               int64_t nk, int64_t d, int64_t e, double scale, const int32_t* starts = nullptr,
                               int64_t heads = 1);
template <class T>
void softmax_attention_backward(const T* q, const T* k, const T* v, const T* out, const T* lse, const T* grad_out,
                                T* grad_q, T* grad_k, T* grad_v, int64_t bh, int64_t nq, int64_t nk, int64_t d,
                                int64_t e, double scale, const int32_t* starts = nullptr, int64_t heads = 1);

}  // namespace lat::kernels::cpu
