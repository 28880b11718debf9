// Reference CPU loops for kernels/lightning_attention.h. Pointers are contiguous [B, H, N, ·] buffers;
// bh = B·H independent (batch, head) problems, head h = index % heads. starts: i32 [B, N] document starts
// (kernels/documents.h) or nullptr (one document per sequence).
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

template <class T>
void lightning_attention_forward(const T* q, const T* k, const T* v, const T* log_decay, const T* initial_state,
                                 T* out, T* final_state, int64_t batch, int64_t heads, int64_t n, int64_t m,
                                 int64_t e, int64_t block, const int32_t* starts = nullptr);

template <class T>
void lightning_attention_backward(const T* q, const T* k, const T* v, const T* log_decay, const T* initial_state,
                                  const T* grad_out, const T* grad_final_state, T* grad_q, T* grad_k, T* grad_v,
                                  T* grad_initial_state, int64_t batch, int64_t heads, int64_t n, int64_t m,
                                  int64_t e, int64_t block, const int32_t* starts = nullptr);

template <class T>
void augment_values(const T* v, T* v_aug, int64_t rows, int64_t e);
// Row i of the numerator at num + i·num_stride (e values), its denominator at den_column[i·den_stride].
template <class T>
void normalize_by_denominator(const T* num, int64_t num_stride, const T* den_column, int64_t den_stride, T eps,
                              T* out, T* denominator, int64_t rows, int64_t e);
template <class T>
void denominator_backward(const T* grad_out, const T* out, const T* denominator, T* grad_num, int64_t num_stride,
                          T* grad_den_column, int64_t den_stride, int64_t rows, int64_t e);

}  // namespace lat::kernels::cpu
