// Pointwise activations (see activations.cuh), each a launch of the generic map kernel (kernels/cuda/map.cuh).
// Memory-bound: the floor is (inputs + outputs) × n × sizeof(T) / 4.3 TB/s.
#include <cmath>

#include "kernels/cuda/activations.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/map.cuh"
#include "kernels/cuda/pointwise.cuh"

namespace lat::kernels::cuda {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;
constexpr float kGeluCubic = 0.044715f;

struct SiluForward {
  __device__ void operator()(const float (&x)[1], float (&y)[1]) const { y[0] = silu(x[0]); }
};
struct SiluBackward {  // in: x, dy
  __device__ void operator()(const float (&a)[2], float (&y)[1]) const { y[0] = a[1] * silu_grad(a[0]); }
};
struct GeluForward {
  bool tanh_form;
  __device__ void operator()(const float (&a)[1], float (&y)[1]) const {
    const float x = a[0];
    if (tanh_form) {
      y[0] = 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + kGeluCubic * x * x * x)));
    } else {
      y[0] = 0.5f * x * (1.0f + erff(x * kInvSqrt2));
    }
  }
};
struct GeluBackward {  // in: x, dy
  bool tanh_form;
  __device__ void operator()(const float (&a)[2], float (&y)[1]) const {
    const float x = a[0];
    float d;
    if (tanh_form) {
      const float t = tanhf(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
      d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
    } else {
      d = 0.5f * (1.0f + erff(x * kInvSqrt2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
    }
    y[0] = a[1] * d;
  }
};
struct SwigluForward {  // in: gate, up
  __device__ void operator()(const float (&a)[2], float (&y)[1]) const { y[0] = a[0] * sigmoid(a[0]) * a[1]; }
};
struct SwigluBackward {  // in: gate, up, dh; out: dgate, dup
  __device__ void operator()(const float (&a)[3], float (&y)[2]) const {
    const float g = a[0], s = sigmoid(g);
    y[0] = a[2] * a[1] * s * (1.0f + g * (1.0f - s));
    y[1] = a[2] * g * s;
  }
};

struct SwigluBackwardGate {  // in: gate, up, dh; out: dgate
  __device__ void operator()(const float (&a)[3], float (&y)[1]) const {
    const float g = a[0], s = sigmoid(g);
    y[0] = a[2] * a[1] * s * (1.0f + g * (1.0f - s));
  }
};
struct SwigluBackwardUp {  // in: gate, dh; out: dup
  __device__ void operator()(const float (&a)[2], float (&y)[1]) const { y[0] = a[1] * a[0] * sigmoid(a[0]); }
};

}  // namespace

void silu_forward(const void* x, void* y, DType dtype, int64_t n) {
  launch_map<1, 1>("silu_forward", dtype, {x}, {y}, n, SiluForward{});
}
void silu_backward(const void* x, const void* dy, void* dx, DType dtype, int64_t n) {
  launch_map<2, 1>("silu_backward", dtype, {x, dy}, {dx}, n, SiluBackward{});
}
void gelu_forward(const void* x, void* y, DType dtype, int64_t n, bool tanh_approximation) {
  launch_map<1, 1>("gelu_forward", dtype, {x}, {y}, n, GeluForward{tanh_approximation});
}
void gelu_backward(const void* x, const void* dy, void* dx, DType dtype, int64_t n, bool tanh_approximation) {
  launch_map<2, 1>("gelu_backward", dtype, {x, dy}, {dx}, n, GeluBackward{tanh_approximation});
}
void swiglu_forward(const void* gate, const void* up, void* h, DType dtype, int64_t n) {
  launch_map<2, 1>("swiglu_forward", dtype, {gate, up}, {h}, n, SwigluForward{});
}
void swiglu_backward(const void* gate, const void* up, const void* dh, void* dgate, void* dup, DType dtype, int64_t n) {
  if (dgate != nullptr && dup != nullptr)
    launch_map<3, 2>("swiglu_backward", dtype, {gate, up, dh}, {dgate, dup}, n, SwigluBackward{});
  else if (dgate != nullptr)
    launch_map<3, 1>("swiglu_backward", dtype, {gate, up, dh}, {dgate}, n, SwigluBackwardGate{});
  else if (dup != nullptr)
    launch_map<2, 1>("swiglu_backward", dtype, {gate, dh}, {dup}, n, SwigluBackwardUp{});
}

}  // namespace lat::kernels::cuda
