// The step guard's rule (kernels/optim.h, guard_step) as one function that the CPU path and the CUDA kernel
// (kernels/cuda/adamw.cu, one thread) both run, in double, so the two devices decide alike. CUDA-clean: only
// <math.h> and <stdint.h>.
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define LAT_GUARD_HD __host__ __device__
#else
#define LAT_GUARD_HD
#endif

namespace lat::kernels::guard_rule {

// Codes as kernels::SkipReason.
constexpr int kApplied = 0, kInvalidTargets = 1, kNonFiniteLoss = 2, kNonFiniteGradient = 3, kLossSpike = 4,
              kNormSpike = 5;

// False for NaN and ±inf (x − x is NaN for both); no <cmath> needed on either side.
LAT_GUARD_HD inline bool finite(double x) { return x - x == 0.0; }

// True when x lies more than z EMA standard deviations above the EMA mean (z > 0; the variance must be > 0).
LAT_GUARD_HD inline bool spike(double x, double mean, double variance, double z) {
  return z > 0.0 && variance > 0.0 && (x - mean) / ::sqrt(variance) > z;
}

LAT_GUARD_HD inline void ema_update(double x, double beta, bool first, double* mean, double* variance) {
  if (first) {
    *mean = x, *variance = 0.0;
    return;
  }
  const double delta = x - *mean;
  *mean += (1.0 - beta) * delta;
  *variance = beta * (*variance + (1.0 - beta) * delta * delta);
}

// loss / invalid_targets may be null (not judged). state: [loss mean, loss variance, norm mean, norm
// variance, applied steps]. Writes the norm and the factor (0 when skipped); returns the verdict code.
LAT_GUARD_HD inline int decide(double sum_squares, const double* loss, const double* invalid_targets,
                               double max_norm, double loss_z, double norm_z, double beta, double warmup,
                               double* state, double* norm, double* factor) {
  const double n = ::sqrt(sum_squares);
  *norm = n;
  int verdict = kApplied;
  if (invalid_targets != nullptr && *invalid_targets > 0.0)
    verdict = kInvalidTargets;
  else if (loss != nullptr && !finite(*loss))
    verdict = kNonFiniteLoss;
  else if (!finite(n))
    verdict = kNonFiniteGradient;
  else if (state[4] >= warmup) {
    if (loss != nullptr && spike(*loss, state[0], state[1], loss_z))
      verdict = kLossSpike;
    else if (spike(n, state[2], state[3], norm_z))
      verdict = kNormSpike;
  }
  if (verdict != kApplied) {
    *factor = 0.0;
    return verdict;
  }
  const bool first = state[4] == 0.0;
  if (loss != nullptr) ema_update(*loss, beta, first, &state[0], &state[1]);
  ema_update(n, beta, first, &state[2], &state[3]);
  state[4] += 1.0;
  *factor = max_norm > 0.0 && n > max_norm ? max_norm / n : 1.0;
  return verdict;
}

}  // namespace lat::kernels::guard_rule
