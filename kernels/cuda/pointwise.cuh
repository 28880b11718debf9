// Pointwise maps shared by the elementwise kernels and the fused loads of Lightning Attention (fp32 arithmetic):
//   elu1(x) = x + 1 (x > 0), eˣ (x ≤ 0)      elu1'(x) = 1 (x > 0), eˣ (x ≤ 0)
//   silu(x) = x σ(x)                          silu'(x) = σ(x) (1 + x (1 − σ(x)))
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

// The feature map of code F (La2Feature: 0 identity, 1 elu1, 2 silu) for kernels templated on it, with the fast
// exponential (their results are rounded to bf16), its derivative, and the map of a bf16x2 register.
template <int F>
__device__ __forceinline__ float feature_map(float x) {
  if constexpr (F == 1) return elu1<FastExp>(x);
  else if constexpr (F == 2) return silu<FastExp>(x);
  else return x;
}
template <int F>
__device__ __forceinline__ float feature_map_grad(float x) {
  if constexpr (F == 1) return elu1_grad<FastExp>(x);
  else if constexpr (F == 2) return silu_grad<FastExp>(x);
  else return 1.0f;
}
template <int F>
__device__ __forceinline__ uint32_t feature_map_bf16x2(uint32_t x) {
  const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&x));
  const __nv_bfloat162 y = __floats2bfloat162_rn(feature_map<F>(f.x), feature_map<F>(f.y));
  return *reinterpret_cast<const uint32_t*>(&y);
}

}  // namespace lat::kernels::cuda
