// Pointwise maps shared by the elementwise kernels and the fused loads of Lightning Attention (fp32 arithmetic):
//   elu1(x) = x + 1 (x > 0), eˣ (x ≤ 0)      elu1'(x) = 1 (x > 0), eˣ (x ≤ 0)
//   silu(x) = x σ(x)                          silu'(x) = σ(x) (1 + x (1 − σ(x)))
//   cosFormer's halves (SPEC §2): x ↦ relu(x)·w_t with w_t = sin a_t or cos a_t, a_t = π·(offset + t)/(2M) of the
//   token's absolute position: the pointwise part relu here, the positional weight cosformer_weight below.
// Exp picks the exponential: ExactExp (expf) by default; FastExp (the hardware ex2 path, a few ulp) where the
// result is rounded to bf16 at once.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace lat::kernels::cuda {

struct ExactExp {
  __device__ __forceinline__ float operator()(float x) const { return expf(x); }
};
struct FastExp {
  __device__ __forceinline__ float operator()(float x) const { return __expf(x); }
};

template <class Exp = ExactExp>
__device__ __forceinline__ float sigmoid(float x) {
  return 1.0f / (1.0f + Exp{}(-x));
}
template <class Exp = ExactExp>
__device__ __forceinline__ float elu1(float x) {
  return x > 0.0f ? x + 1.0f : Exp{}(x);
}
template <class Exp = ExactExp>
__device__ __forceinline__ float elu1_grad(float x) {
  return x > 0.0f ? 1.0f : Exp{}(x);
}
template <class Exp = ExactExp>
__device__ __forceinline__ float silu(float x) {
  return x * sigmoid<Exp>(x);
}
template <class Exp = ExactExp>
__device__ __forceinline__ float silu_grad(float x) {
  const float s = sigmoid<Exp>(x);
  return s * (1.0f + x * (1.0f - s));
}

// The feature map of code F for kernels templated on it (0 identity, 1 elu1, 2 silu, 3 a cosFormer half: relu
// times the token's positional weight, which the kernel supplies), with the fast exponential (their results are
// rounded to bf16), its derivative, and the map of a bf16x2 register (two elements weighted w0, w1: the
// positional weights of their tokens; ignored by the pointwise maps).
constexpr int kCosineFeature = 3;
constexpr bool positional_feature(int F) { return F == kCosineFeature; }
template <int F>
__device__ __forceinline__ float feature_map(float x) {
  if constexpr (F == 1) return elu1<FastExp>(x);
  else if constexpr (F == 2) return silu<FastExp>(x);
  else if constexpr (F == kCosineFeature) return fmaxf(x, 0.0f);
  else return x;
}
template <int F>
__device__ __forceinline__ float feature_map_grad(float x) {
  if constexpr (F == 1) return elu1_grad<FastExp>(x);
  else if constexpr (F == 2) return silu_grad<FastExp>(x);
  else if constexpr (F == kCosineFeature) return x > 0.0f ? 1.0f : 0.0f;
  else return 1.0f;
}
template <int F>
__device__ __forceinline__ uint32_t feature_map_bf16x2(uint32_t x, float w0 = 1.0f, float w1 = 1.0f) {
  const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&x));
  float y0 = feature_map<F>(f.x), y1 = feature_map<F>(f.y);
  if constexpr (positional_feature(F)) {
    y0 *= w0;
    y1 *= w1;
  }
  const __nv_bfloat162 y = __floats2bfloat162_rn(y0, y1);
  return *reinterpret_cast<const uint32_t*>(&y);
}
// cosFormer's positional weight of the token at absolute position `position`: sin a or (use_cos) cos a with
// a = position·scale, scale = π/(2M), a ∈ [0, π/2) (hardware sin/cos: absolute error ≈ 4e-7 there, far below the
// bf16 rounding of the mapped values).
__device__ __forceinline__ float cosformer_weight(int64_t position, float scale, int use_cos) {
  float s, c;
  __sincosf(static_cast<float>(position) * scale, &s, &c);
  return use_cos ? c : s;
}

}  // namespace lat::kernels::cuda
