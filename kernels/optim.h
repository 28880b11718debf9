// Optimizer kernels: the fused AdamW update of one parameter tensor and the sum of squares used by global
// gradient-norm clipping. Per-tensor entry points over contiguous buffers, so a multi-tensor launcher (one
// CUDA launch over many parameters) can be built on the same per-element math.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace lat::kernels {

// Scalars of one AdamW step, computed on the host in double (bias corrections included) so every device
// applies the same numbers.
struct AdamWStep {
  double lr = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.0;  // already zero for parameters excluded from decay
  double bias_correction1 = 1.0;  // 1 - beta1^t
  double bias_correction2 = 1.0;  // 1 - beta2^t
};

// One decoupled-weight-decay Adam step (Loshchilov & Hutter; PyTorch's AdamW), element-wise:
//   p -= lr · wd · p
//   m  = β1 m + (1 − β1) g
//   v  = β2 v + (1 − β2) g²
//   p -= lr · (m / bc1) / (sqrt(v / bc2) + eps)
// param, grad, m, v: [any shape] contiguous, same shape, dtype (f32, or f64 for tests) and device.
void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWStep& step);

// Σ x², accumulated in double in a fixed order (independent of thread count), returned on the host.
// x: [any shape] contiguous f32/f64.
double sum_of_squares(const Tensor& x);

// --- The optimizer step over all parameters, with nothing read back to the host (the trainer's path) ---

// The dtype of the one-element scalars below (sum of squares, norm, clip factor, grad_scale) on `device`.
inline DType optimizer_scalar_dtype(Device device) { return device.is_cuda() ? DType::F32 : DType::F64; }

// out = Σ over xs of Σ x², accumulated in double in a fixed order. xs: contiguous, all on one device (f32/f64 on
// the CPU, f32/bf16 on CUDA); out: one element of accumulation type, f64 on the CPU and f32 on CUDA (written on
// the device by one multi-tensor pass).
void sum_of_squares(const std::vector<Tensor>& xs, Tensor& out);

// From a sum of squares s (as written above): norm = sqrt(s); factor = max_norm / norm when max_norm > 0 and
// the norm is finite and above it, else 1 (a non-finite norm is reported, not clipped). norm, factor: like s.
void clip_factor(const Tensor& sum_squares, double max_norm, Tensor& norm, Tensor& factor);

// --- The step guard (optim/guard.h): whether this step's update is applied, decided on the device ---

// Why a step was skipped; the verdict scalar holds the code (0: applied). In order of precedence.
enum class SkipReason : int {
  None = 0,
  InvalidTargets = 1,     // the loss counted targets outside the vocabulary
  NonFiniteLoss = 2,      // NaN or inf loss
  NonFiniteGradient = 3,  // NaN or inf global gradient norm
  LossSpike = 4,          // loss z-score above the threshold
  NormSpike = 5,          // gradient-norm z-score above the threshold
};
const char* skip_reason_text(SkipReason reason);  // "non-finite gradient", ...

struct StepGuardParams {
  double max_norm = 0.0;  // clip threshold as in clip_factor (0: no clipping)
  double loss_z = 0.0;    // > 0: skip when (loss − EMA mean) / EMA std exceeds it
  double norm_z = 0.0;    // > 0: the same for the gradient norm
  double ema_beta = 0.98;    // decay of the EMAs of mean and variance
  int64_t warmup_steps = 20;  // applied steps before the z rules judge (the EMAs settle first)
};
// The guard's EMA state: kGuardStateSize f64 values on the device, zeros at the start.
//   [0] loss mean  [1] loss variance  [2] norm mean  [3] norm variance  [4] applied steps seen
constexpr int64_t kGuardStateSize = 5;

// One step's verdict, on the device, with nothing read back. sum_squares as for clip_factor; loss and
// invalid_targets: one element each like sum_squares or undefined (not judged). Writes norm = sqrt(sum_squares),
// verdict = the SkipReason code (first that applies: invalid targets > 0, loss not finite, norm not finite, loss
// z-score > loss_z, norm z-score > norm_z, z rules only after warmup_steps applied steps), factor = 0 when skipped
// (AdamW's grad_scale of 0 leaves parameters and moments untouched) else clip_factor's factor. Applied steps
// update the EMAs (first value: mean = x, variance 0; then δ = x − mean, mean += (1 − β) δ,
// variance = β (variance + (1 − β) δ²)); skipped ones leave them. norm, factor, verdict: like sum_squares.
void guard_step(const Tensor& sum_squares, const Tensor& loss, const Tensor& invalid_targets,
                const StepGuardParams& params, Tensor& state, Tensor& norm, Tensor& factor, Tensor& verdict);

struct AdamWParam {
  Tensor param, grad, m, v;  // handles sharing the caller's storage; as adamw_step above
  double weight_decay = 0.0;
};
// adamw_step for every entry, each gradient first multiplied by grad_scale[0] (a one-element tensor like
// clip_factor's factor, read where it lives; undefined = 1). A grad_scale of exactly 0 skips the step: no
// parameter or moment changes (guard_step's verdict). CUDA: multi-tensor launches, no host sync.
void adamw_step(const std::vector<AdamWParam>& params, const AdamWStep& step, const Tensor& grad_scale);

}  // namespace lat::kernels
