// Differentiable ops. Each op is one forward and one hand-written backward, both calling kernels/; the
// backward is a closure recorded on the tape (variable.h). Shapes are checked at entry with a lat::Error
// naming the op and the shapes. Ops accept non-contiguous inputs (they call contiguous() where the kernel
// needs it) and return contiguous outputs, except the view ops (reshape, transpose, slice).
#pragma once

#include <vector>

#include "autograd/variable.h"

namespace lat::autograd {

// --- elementwise (ops_elementwise.cpp) ---
Variable add(const Variable& a, const Variable& b);  // equal shapes
Variable mul(const Variable& a, const Variable& b);  // equal shapes, elementwise
Variable scale(const Variable& a, double factor);
Variable sum(const Variable& x);   // all elements -> scalar
Variable mean(const Variable& x);  // all elements -> scalar
// x converted to `dtype` (x itself when it already has it); backward converts the gradient back to x's dtype.
// Mixed precision rests on it: ops that take a parameter (linear, rmsnorm) cast it to the activation's dtype,
// so an fp32 master weight is used in bf16 and receives an fp32 gradient.
Variable cast(const Variable& x, DType dtype);

// --- views (ops_view.cpp) ---
Variable reshape(const Variable& x, const std::vector<int64_t>& shape);  // one dim may be -1
Variable transpose(const Variable& x, int d0, int d1);                   // a view; backward transposes back
Variable contiguous(const Variable& x);
Variable slice(const Variable& x, int dim, int64_t start, int64_t end);  // a view
// x: [B, N, D] -> y with y[:, t] = x[:, t - 1] and y[:, 0] = previous ([B, 1, D], a constant; zeros when
// undefined): token shift, so a projection at position t sees the token before it. With document starts (i32
// [B, N], kernels/documents.h; CPU only) y[b, t] is zero where a document starts (document_starts[b, t] = t): the
// shift never reaches across a boundary.
Variable shift_sequence(const Variable& x, const Tensor& previous = Tensor(), const Tensor& document_starts = Tensor());

// --- matmul (ops_matmul.cpp) ---
// a: [..., M, K] (or [..., K, M] with transpose_a), b: [..., K, N] (or [..., N, K]) -> [..., M, N].
// Leading (batch) dims must match, or b may be 2-D and shared across a's batch.
Variable matmul(const Variable& a, const Variable& b, bool transpose_a = false, bool transpose_b = false);
// x: [..., in], weight: [out, in] -> [..., out]  (x · weightᵀ, no bias: lat's transformer has none). The
// weight is cast to x's dtype (mixed precision: an fp32 weight in a bf16 model; its gradient stays fp32).
Variable linear(const Variable& x, const Variable& weight);

// --- model pieces: ops_embedding.cpp, ops_norm.cpp, ops_activation.cpp, ops_loss.cpp ---
// weight: [V, D], ids: i32 [...] -> [..., D]; backward scatter-adds into weight. Ids outside [0, V) throw.
Variable embedding(const Variable& weight, const Tensor& ids);
// x: [..., D], gain: [D] -> x / rms(x) * gain over the last dim, rms(x) = sqrt(mean(x²) + eps), statistics in
// the accumulation type (double on the CPU, fp32 on the GPU). The gain is cast to x's dtype (as linear's weight).
Variable rmsnorm(const Variable& x, const Variable& gain, double eps = 1e-6);
// gate, up: [..., F] -> silu(gate) * up
Variable swiglu(const Variable& gate, const Variable& up);
Variable silu(const Variable& x);
Variable gelu(const Variable& x);  // tanh approximation (GPT-2)
// logits: [N, V], targets: i32 [N] -> scalar mean over targets != ignore_index. One fused pass computes the
// loss and the (scaled) dlogits; backward only scales them by the incoming gradient. Targets outside [0, V)
// that are not ignore_index throw naming the target, unless `invalid_targets` (a one-element counter of the loss's
// dtype on the logits' device) is given: then they are counted into it on the device and give a NaN loss and
// NaN gradient rows (kernels/loss.h), for the trainer's step guard. When every target is ignored the loss is 0
// and the gradient is zero (not NaN): such a batch contributes nothing.
Variable softmax_cross_entropy(const Variable& logits, const Tensor& targets, int ignore_index = -1,
                               Tensor* invalid_targets = nullptr);

}  // namespace lat::autograd
