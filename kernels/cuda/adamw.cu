// Multi-tensor AdamW and global gradient norm (see adamw.cuh). Tensors are passed by value in groups of
// kGroup inside the kernel parameters (no descriptor upload, no host sync); each block owns one kChunk-element
// chunk of one tensor, found by a short scan of the group's block offsets. AdamW is memory-bound:
// per element it reads p, m, v (fp32) and g, and writes p, m, v (and the bf16 copy): 28-30 bytes for fp32
// grads, floor = bytes / 4.3 TB/s.
#include <cmath>
#include <vector>

#include "kernels/cuda/adamw.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/step_guard_rule.h"

namespace lat::kernels::cuda {
namespace {

constexpr int kGroup = 24;
constexpr int kThreads = 256;
constexpr int64_t kChunk = kThreads * 8 * 4;  // elements per block (a multiple of 2 × kThreads × 4)

struct AdamWDev {
  float* p;
  const void* g;
  float* m;
  float* v;
  bf16* pb;
  int64_t n;
  float decay;  // 1 − lr · wd, rounded from double
  bool g_bf16;
  bool vec;  // every pointer allows 8-element vector accesses
};

struct AdamWGroup {
  int count;
  int64_t block_start[kGroup + 1];
  AdamWDev t[kGroup];
};

struct AdamWScalars {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, step_size, inv_sqrt_bc2;
  const float* grad_scale;
};

__device__ __forceinline__ int find_tensor(const int64_t* block_start, int count, int64_t block) {
  int i = 0;
  while (i + 1 < count && block >= block_start[i + 1]) ++i;
  return i;
}

__device__ __forceinline__ void adamw_update(float& p, float g, float& m, float& v, float decay,
                                             const AdamWScalars& h) {
  m = h.beta1 * m + h.one_minus_beta1 * g;
  v = h.beta2 * v + h.one_minus_beta2 * g * g;
  p = p * decay - h.step_size * m / (sqrtf(v) * h.inv_sqrt_bc2 + h.eps);
}

__global__ void __launch_bounds__(kThreads) adamw_kernel(AdamWGroup group, AdamWScalars h) {
  const int i = find_tensor(group.block_start, group.count, blockIdx.x);
  const AdamWDev& t = group.t[i];
  const int64_t begin = (blockIdx.x - group.block_start[i]) * kChunk;
  const int64_t end = min(t.n, begin + kChunk);
  const float scale = h.grad_scale != nullptr ? *h.grad_scale : 1.0f;
  if (scale == 0.0f) return;  // a skipped step: parameters, moments and the bf16 copy stay as they are
  if (t.vec && end - begin == kChunk) {
    // 4 elements (16 bytes of fp32) per thread per access, two packs loaded before either is used: whole-sector
    // warp accesses and 8 independent 16-byte loads in flight per thread.
    constexpr int V = 4;
    for (int64_t e0 = begin + threadIdx.x * V; e0 < end; e0 += 2 * kThreads * V) {
      float p[2][V], m[2][V], v[2][V], g[2][V];
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const int64_t e = e0 + u * kThreads * V;
        load_vec<V>(t.p + e, p[u]);
        load_vec<V>(t.m + e, m[u]);
        load_vec<V>(t.v + e, v[u]);
        if (t.g_bf16)
          load_vec<V>(static_cast<const bf16*>(t.g) + e, g[u]);
        else
          load_vec<V>(static_cast<const float*>(t.g) + e, g[u]);
      }
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const int64_t e = e0 + u * kThreads * V;
#pragma unroll
        for (int k = 0; k < V; ++k) adamw_update(p[u][k], g[u][k] * scale, m[u][k], v[u][k], t.decay, h);
        store_vec<V>(t.p + e, p[u]);
        store_vec<V>(t.m + e, m[u]);
        store_vec<V>(t.v + e, v[u]);
        if (t.pb != nullptr) store_vec<V>(t.pb + e, p[u]);
      }
    }
    return;
  }
  for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) {
    float p = t.p[e], m = t.m[e], v = t.v[e];
    const float g = (t.g_bf16 ? to_float(static_cast<const bf16*>(t.g)[e]) : static_cast<const float*>(t.g)[e]) * scale;
    adamw_update(p, g, m, v, t.decay, h);
    t.p[e] = p;
    t.m[e] = m;
    t.v[e] = v;
    if (t.pb != nullptr) t.pb[e] = from_float<bf16>(p);
  }
}

struct NormDev {
  const void* x;
  int64_t n;
  bool bf16_data;
  bool vec;
};

struct NormGroup {
  int count;
  int64_t block_start[kGroup + 1];
  NormDev t[kGroup];
};

// partial: one double per block of this launch, at partial[blockIdx.x]
__global__ void __launch_bounds__(kThreads) sum_squares_kernel(NormGroup group, double* __restrict__ partial) {
  __shared__ double scratch[32];
  const int i = find_tensor(group.block_start, group.count, blockIdx.x);
  const NormDev& t = group.t[i];
  const int64_t begin = (blockIdx.x - group.block_start[i]) * kChunk;
  const int64_t end = min(t.n, begin + kChunk);
  float acc = 0.0f;  // ≤ 32 squares per thread in fp32, then double across the block and the blocks
  if (t.vec && end - begin == kChunk) {
    for (int64_t e = begin + threadIdx.x * 8; e < end; e += kThreads * 8) {
      float a[8];
      if (t.bf16_data)
        load8(static_cast<const bf16*>(t.x) + e, a);
      else
        load8(static_cast<const float*>(t.x) + e, a);
#pragma unroll
      for (int k = 0; k < 8; ++k) acc += a[k] * a[k];
    }
  } else {
    for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) {
      const float a = t.bf16_data ? to_float(static_cast<const bf16*>(t.x)[e]) : static_cast<const float*>(t.x)[e];
      acc += a * a;
    }
  }
  const double total = block_sum(static_cast<double>(acc), scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// out = Σ partial[0..count), in a fixed order (one block)
template <class O>
__global__ void sum_partials_kernel(const double* __restrict__ partial, int64_t count, O* __restrict__ out) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) *out = static_cast<O>(acc);
}

__global__ void clip_scale_kernel(const float* sum_squares, float max_norm, float* scale, float* norm) {
  const float nrm = sqrtf(*sum_squares);
  if (norm != nullptr) *norm = nrm;
  *scale = max_norm > 0.0f && isfinite(nrm) && nrm > max_norm ? max_norm / nrm : 1.0f;
}

__global__ void guard_step_kernel(const float* sum_squares, const float* loss, const float* invalid_targets,
                                  GuardHyper h, double* state, float* norm, float* factor, float* verdict) {
  const double loss_value = loss != nullptr ? static_cast<double>(*loss) : 0.0;
  const double invalid = invalid_targets != nullptr ? static_cast<double>(*invalid_targets) : 0.0;
  double n = 0.0, f = 0.0;
  const int code = guard_rule::decide(static_cast<double>(*sum_squares), loss != nullptr ? &loss_value : nullptr,
                                      invalid_targets != nullptr ? &invalid : nullptr, h.max_norm, h.loss_z, h.norm_z,
                                      h.ema_beta, h.warmup_steps, state, &n, &f);
  const float nrm = sqrtf(*sum_squares), max_norm = static_cast<float>(h.max_norm);
  *norm = nrm;
  *factor = code != guard_rule::kApplied ? 0.0f : max_norm > 0.0f && nrm > max_norm ? max_norm / nrm : 1.0f;
  *verdict = static_cast<float>(code);
}

int64_t chunks(int64_t n) { return (n + kChunk - 1) / kChunk; }

}  // namespace

void adamw_step(const AdamWTensor* tensors, int64_t count, const AdamWHyper& hyper) {
  LAT_CHECK(hyper.bias_correction1 > 0.0 && hyper.bias_correction2 > 0.0, "adamw_step: bias corrections must be > 0, got ",
            hyper.bias_correction1, " and ", hyper.bias_correction2);
  AdamWScalars h{};
  h.beta1 = static_cast<float>(hyper.beta1), h.beta2 = static_cast<float>(hyper.beta2);
  h.one_minus_beta1 = static_cast<float>(1.0 - hyper.beta1), h.one_minus_beta2 = static_cast<float>(1.0 - hyper.beta2);
  h.eps = static_cast<float>(hyper.eps);
  h.step_size = static_cast<float>(hyper.lr / hyper.bias_correction1);
  h.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(hyper.bias_correction2));
  h.grad_scale = hyper.grad_scale;
  int64_t i = 0;
  while (i < count) {
    AdamWGroup group{};
    int64_t blocks = 0;
    while (i < count && group.count < kGroup) {
      const AdamWTensor& t = tensors[i++];
      if (t.n <= 0) continue;
      LAT_CHECK(t.grad_dtype == DType::F32 || t.grad_dtype == DType::BF16, "adamw_step: gradient dtype ",
                dtype_name(t.grad_dtype), " is not supported (f32 or bf16)");
      AdamWDev& d = group.t[group.count];
      d.p = t.param, d.g = t.grad, d.m = t.m, d.v = t.v, d.pb = static_cast<bf16*>(t.param_bf16), d.n = t.n;
      d.decay = static_cast<float>(1.0 - hyper.lr * t.weight_decay), d.g_bf16 = t.grad_dtype == DType::BF16;
      d.vec = aligned_to(t.param, 16) && aligned_to(t.m, 16) && aligned_to(t.v, 16) &&
              aligned_to(t.grad, d.g_bf16 ? 8 : 16) && (t.param_bf16 == nullptr || aligned_to(t.param_bf16, 8));
      group.block_start[group.count] = blocks;
      blocks += chunks(t.n);
      ++group.count;
    }
    if (group.count == 0) break;
    group.block_start[group.count] = blocks;
    adamw_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, lat::cuda::stream()>>>(group, h);
    LAT_CUDA_CHECK_LAUNCH();
  }
}

namespace {

// Σ x² over the tensors into *out (device), float or double.
template <class O>
void sum_squares_into(const NormTensor* tensors, int64_t count, O* out) {
  int64_t total_blocks = 0;
  for (int64_t i = 0; i < count; ++i) total_blocks += tensors[i].n > 0 ? chunks(tensors[i].n) : 0;
  if (total_blocks == 0) {
    LAT_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(O), lat::cuda::stream()));
    return;
  }
  Scratch partial(static_cast<size_t>(total_blocks) * sizeof(double));
  int64_t i = 0, written = 0;
  while (i < count) {
    NormGroup group{};
    int64_t blocks = 0;
    while (i < count && group.count < kGroup) {
      const NormTensor& t = tensors[i++];
      if (t.n <= 0) continue;
      LAT_CHECK(t.dtype == DType::F32 || t.dtype == DType::BF16, "global_sum_squares: dtype ", dtype_name(t.dtype),
                " is not supported (f32 or bf16)");
      NormDev& d = group.t[group.count];
      d.x = t.data, d.n = t.n, d.bf16_data = t.dtype == DType::BF16;
      d.vec = aligned_to(t.data, d.bf16_data ? 16 : 32);
      group.block_start[group.count] = blocks;
      blocks += chunks(t.n);
      ++group.count;
    }
    if (group.count == 0) break;
    group.block_start[group.count] = blocks;
    sum_squares_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, lat::cuda::stream()>>>(
        group, partial.as<double>() + written);
    LAT_CUDA_CHECK_LAUNCH();
    written += blocks;
  }
  sum_partials_kernel<O><<<1, 1024, 0, lat::cuda::stream()>>>(partial.as<double>(), written, out);
  LAT_CUDA_CHECK_LAUNCH();
}

}  // namespace

void global_sum_squares(const NormTensor* tensors, int64_t count, float* sum_squares) {
  sum_squares_into(tensors, count, sum_squares);
}

double sum_of_squares(const void* x, DType dtype, int64_t n) {
  NormTensor t{x, dtype, n};
  Scratch out(sizeof(double));
  sum_squares_into(&t, 1, out.as<double>());
  double host = 0.0;
  LAT_CUDA_CHECK(cudaMemcpyAsync(&host, out.as<double>(), sizeof host, cudaMemcpyDeviceToHost, lat::cuda::stream()));
  lat::cuda::synchronize();
  return host;
}

void adamw_step_one(float* param, const void* grad, DType grad_dtype, float* m, float* v, int64_t n,
                    const AdamWHyper& hyper, double weight_decay) {
  AdamWTensor t;
  t.param = param, t.grad = grad, t.grad_dtype = grad_dtype, t.m = m, t.v = v, t.n = n;
  t.weight_decay = weight_decay;
  adamw_step(&t, 1, hyper);
}

void guard_step(const float* sum_squares, const float* loss, const float* invalid_targets, const GuardHyper& hyper,
                double* state, float* norm, float* factor, float* verdict) {
  guard_step_kernel<<<1, 1, 0, lat::cuda::stream()>>>(sum_squares, loss, invalid_targets, hyper, state, norm, factor,
                                                      verdict);
  LAT_CUDA_CHECK_LAUNCH();
}

void clip_scale_from_sum_squares(const float* sum_squares, float max_norm, float* scale, float* norm) {
  clip_scale_kernel<<<1, 1, 0, lat::cuda::stream()>>>(sum_squares, max_norm, scale, norm);
  LAT_CUDA_CHECK_LAUNCH();
}

}  // namespace lat::kernels::cuda
