// Reference CPU loops for kernels/feature_maps.h; rows = B·H·N rows of width d. starts: i32 [B, N] document starts
// (kernels/documents.h) or nullptr; heads = H maps a (batch, head) index to its batch row.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

template <class T> void elu1_forward(const T* x, T* y, int64_t n);
template <class T> void elu1_backward(const T* x, const T* gy, T* gx, int64_t n);
template <class T> void silu_forward(const T* x, T* y, int64_t n);
template <class T> void silu_backward(const T* x, const T* gy, T* gx, int64_t n);
template <class T>
void cosine_feature_forward(const T* x, T* y, int64_t bh, int64_t n, int64_t d, int64_t max_context, int64_t offset,
                            const int32_t* starts = nullptr, int64_t heads = 1);
template <class T>
void cosine_feature_backward(const T* x, const T* gy, T* gx, int64_t bh, int64_t n, int64_t d, int64_t max_context,
                             int64_t offset, const int32_t* starts = nullptr, int64_t heads = 1);
// Keys with starts: stabilizer is [B, H, N], each row its document's maximum.
template <class T>
void random_feature_forward(const T* x, const T* w, bool is_query, const T* key_stabilizer, T* y, T* stabilizer,
                            int64_t bh, int64_t n, int64_t d, int64_t m, const int32_t* starts = nullptr,
                            int64_t heads = 1);
template <class T>
void random_feature_backward(const T* x, const T* w, const T* y, const T* gy, T* gx, int64_t rows, int64_t d,
                             int64_t m);

}  // namespace lat::kernels::cpu
