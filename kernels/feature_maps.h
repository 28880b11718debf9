// Feature maps φ of linear attention (SPEC §2), applied per row of x: [B, H, N, d] (contiguous). Forward and
// hand-written backward for each, plus the FAVOR+ random-feature sampler.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace lat::kernels {

// elu(x) + 1 (x + 1 for x > 0, eˣ otherwise) and its backward (φ′ = 1 or eˣ). y, dx: shape of x.
void elu1_forward(const Tensor& x, Tensor& y);
void elu1_backward(const Tensor& x, const Tensor& grad_y, Tensor& grad_x);
// x·σ(x) and its backward.
void silu_forward(const Tensor& x, Tensor& y);
void silu_backward(const Tensor& x, const Tensor& grad_y, Tensor& grad_x);

// cosFormer: y: [B, H, N, 2d] = [relu(x) sin a_i ; relu(x) cos a_i], a_i = π p_i / (2 max_context) with p_i =
// offset + i, or offset + i − document_starts[b, i] with document starts (i32 [B, N], kernels/documents.h; on CUDA
// compiled, not yet run on a GPU): positions restart at each document. Throws lat::Error when a position
// p_i ≥ max_context (with starts on CUDA the bound checked is offset + N − 1: reading them would synchronise).
void cosine_feature_forward(const Tensor& x, int64_t max_context, int64_t offset, Tensor& y,
                            const Tensor& document_starts = Tensor());
// The check of the two ops above (the same error, e.g. for the core's fused cosine map): every position p_i of
// n rows must lie in [0, max_context).
void check_cosine_positions(int64_t max_context, int64_t offset, int64_t n, const Tensor& document_starts = Tensor());
// grad_x = 1[x > 0] ⊙ (g_sin sin a_i + g_cos cos a_i); grad_y: [B, H, N, 2d].
void cosine_feature_backward(const Tensor& x, int64_t max_context, int64_t offset, const Tensor& grad_y,
                             Tensor& grad_x, const Tensor& document_starts = Tensor());

// FAVOR+ (positive random features): x̂ = d^(−1/4) x, y_r = m^(−1/2) exp(w_r·x̂ − ‖x̂‖²/2 − c).
// w: [m, d]; y: [B, H, N, m]. Queries: c per row, written to stabilizer [B, H, N]. Keys: c one constant per
// (batch, head) sequence (the max over its rows and features), written to stabilizer [B, H]; when
// key_stabilizer [B, H] is defined it is used instead (streaming keeps the prefill's constant). With document
// starts (i32 [B, N], kernels/documents.h; CPU only: CUDA refuses them) the keys' c is one constant per
// document, and stabilizer is [B, H, N] (each row its document's c), so packed documents get exactly the features
// they get alone.
void random_feature_forward(const Tensor& x, const Tensor& w, bool is_query, const Tensor& key_stabilizer,
                            Tensor& y, Tensor& stabilizer, const Tensor& document_starts = Tensor());
// c held constant: dx̂ = Wᵀ(g ⊙ y) − x̂ (g·y), dx = d^(−1/4) dx̂. y is the forward output.
void random_feature_backward(const Tensor& x, const Tensor& w, const Tensor& y, const Tensor& grad_y,
                             Tensor& grad_x);

// The random features W: [m, d] (f64, CPU) for (seed, layer, draw): a pure function, so a frozen or redrawn
// W is reproducible and identical on every device. orthogonal: blocks of d rows are the columns of Q from
// the QR of a d×d Gaussian matrix with R's diagonal made positive (Gram–Schmidt does this by construction:
// the sign fix that makes the rows uniform on the sphere), each row rescaled by the norm of a fresh Gaussian
// d-vector; the last block is truncated when d ∤ m. orthogonal = false: iid N(0, I) rows (for comparison).
Tensor draw_random_features(uint64_t seed, int64_t layer, int64_t draw, int64_t m, int64_t d,
                            bool orthogonal = true);

}  // namespace lat::kernels
