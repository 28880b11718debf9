// Fused multi-tensor AdamW and global-norm gradient clipping on the GPU. No host synchronisation: the clip
// factor is computed on the device and read by the AdamW kernel through a device pointer.
//
// AdamW (decoupled weight decay, as torch.optim.AdamW), per element with g = grad · (*grad_scale or 1); a
// *grad_scale of exactly 0 is a skipped step (the step guard's verdict): nothing is written.
//   m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
//   p ← p · (1 − lr · wd) − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)       (kernels/cpu/optim.cpp's form)
// and, when param_bf16 is set, param_bf16 ← bf16(p) (the compute copy for the next forward).
// param, m, v: fp32 [n]; grad: [n] f32 or bf16.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lat::kernels::cuda {

struct AdamWTensor {
  float* param = nullptr;
  const void* grad = nullptr;
  DType grad_dtype = DType::F32;
  float* m = nullptr;
  float* v = nullptr;
  void* param_bf16 = nullptr;  // optional bf16 copy written after the update
  int64_t n = 0;
  double weight_decay = 0.0;
};

// The scalars of one step, as kernels::AdamWStep (kernels/optim.h): derived on the host in double and rounded
// to fp32 exactly as the CPU kernel rounds them, so an fp32 step matches the CPU's to the last bits.
struct AdamWHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double bias_correction1 = 1.0, bias_correction2 = 1.0;  // 1 - beta^t
  const float* grad_scale = nullptr;  // device scalar multiplying every gradient (e.g. the clip factor)
};

// Updates every tensor in one or a few launches (tensors are packed into kernel parameters in groups).
void adamw_step(const AdamWTensor* tensors, int64_t count, const AdamWHyper& hyper);

struct NormTensor {
  const void* data = nullptr;
  DType dtype = DType::F32;  // f32 or bf16
  int64_t n = 0;
};

// *sum_squares (device fp32) = Σ over all tensors of x², accumulated in double, deterministic (fixed order).
void global_sum_squares(const NormTensor* tensors, int64_t count, float* sum_squares);

// From *sum_squares: *norm = sqrt(sum_squares); *scale = max_norm / norm when max_norm > 0 and the norm is finite
// and above it, else 1 (kernels/optim.h's clip_factor). Device pointers; norm may be null.
void clip_scale_from_sum_squares(const float* sum_squares, float max_norm, float* scale, float* norm);

// kernels/optim.h's guard_step on the device (one thread, the rule of kernels/step_guard_rule.h): loss and
// invalid_targets may be null; state: 5 f64; norm, factor, verdict: f32 scalars. The factor of an applied step
// is computed in fp32 exactly as clip_scale_from_sum_squares computes it.
struct GuardHyper {
  double max_norm = 0, loss_z = 0, norm_z = 0, ema_beta = 0.98, warmup_steps = 20;
};
void guard_step(const float* sum_squares, const float* loss, const float* invalid_targets, const GuardHyper& hyper,
                double* state, float* norm, float* factor, float* verdict);

// kernels/optim.h's contract for one tensor: param, m, v f32; grad f32 or bf16.
void adamw_step_one(float* param, const void* grad, DType grad_dtype, float* m, float* v, int64_t n,
                    const AdamWHyper& hyper, double weight_decay);

// Σ x² of one tensor (f32 or bf16), accumulated in double, returned on the host (synchronises the stream).
double sum_of_squares(const void* x, DType dtype, int64_t n);

}  // namespace lat::kernels::cuda
