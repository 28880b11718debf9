// Pointwise activations (see activations.cuh). One generic map kernel: each thread takes 16 bytes of
// consecutive elements per step (8 bf16 or 4 fp32) when every pointer allows, scalar accesses otherwise
// and for the tail. Memory-bound: the floor is (inputs + outputs) × n × sizeof(T) / 4.3 TB/s.
#include <cmath>

#include "kernels/cuda/activations.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/pointwise.cuh"

namespace lat::kernels::cuda {
namespace {

template <class T, int N>
struct Ptrs {
  T* p[N];
};

// in: NI arrays of [n]; out: NO arrays of [n]; op(in[NI], out[NO]) on fp32 values. Each thread takes V = 16 bytes
// of every array per step (one full-sector access per warp instruction).
template <class T, int NI, int NO, class Op, bool kVec>
__global__ void map_kernel(Ptrs<const T, NI> in, Ptrs<T, NO> out, int64_t n, Op op) {
  constexpr int V = kVecWidth<T>;
  const int64_t packs = (n + V - 1) / V;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < packs;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = p * V;
    float a[NI][V], r[NO][V];
    if (kVec && base + V <= n) {
#pragma unroll
      for (int i = 0; i < NI; ++i) load_vec<V>(in.p[i] + base, a[i]);
    } else {
#pragma unroll
      for (int k = 0; k < V; ++k)
#pragma unroll
        for (int i = 0; i < NI; ++i) a[i][k] = base + k < n ? to_float(in.p[i][base + k]) : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < V; ++k) {
      float x[NI], y[NO];
#pragma unroll
      for (int i = 0; i < NI; ++i) x[i] = a[i][k];
      op(x, y);
#pragma unroll
      for (int o = 0; o < NO; ++o) r[o][k] = y[o];
    }
    if (kVec && base + V <= n) {
#pragma unroll
      for (int o = 0; o < NO; ++o) store_vec<V>(out.p[o] + base, r[o]);
    } else {
      for (int k = 0; k < V && base + k < n; ++k)
#pragma unroll
        for (int o = 0; o < NO; ++o) out.p[o][base + k] = from_float<T>(r[o][k]);
    }
  }
}

template <int NI, int NO, class Op>
void launch_map(const char* name, DType dtype, const void* const (&in)[NI], void* const (&out)[NO], int64_t n, Op op) {
  if (n <= 0) return;
  dispatch_float_bf16(name, dtype, [&](auto tag) {
    using T = decltype(tag);
    Ptrs<const T, NI> ip;
    Ptrs<T, NO> op_;
    bool vec = true;
    for (int i = 0; i < NI; ++i) {
      ip.p[i] = static_cast<const T*>(in[i]);
      vec = vec && aligned_to(in[i], 16);
    }
    for (int o = 0; o < NO; ++o) {
      op_.p[o] = static_cast<T*>(out[o]);
      vec = vec && aligned_to(out[o], 16);
    }
    const int threads = 256;
    const int grid = grid_for((n + kVecWidth<T> - 1) / kVecWidth<T>, threads);
    if (vec)
      map_kernel<T, NI, NO, Op, true><<<grid, threads, 0, lat::cuda::stream()>>>(ip, op_, n, op);
    else
      map_kernel<T, NI, NO, Op, false><<<grid, threads, 0, lat::cuda::stream()>>>(ip, op_, n, op);
    LAT_CUDA_CHECK_LAUNCH();
  });
}

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
