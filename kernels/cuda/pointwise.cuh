// Pointwise maps shared by the elementwise kernels and the fused loads of Lightning Attention (fp32 arithmetic):
//   elu1(x) = x + 1 (x > 0), eˣ (x ≤ 0)      elu1'(x) = 1 (x > 0), eˣ (x ≤ 0)
//   silu(x) = x σ(x)                          silu'(x) = σ(x) (1 + x (1 − σ(x)))
// Exp picks the exponential: ExactExp (expf) by default; FastExp (the hardware ex2 path, a few ulp) where the
// result is rounded to bf16 at once.
#pragma once

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

}  // namespace lat::kernels::cuda
