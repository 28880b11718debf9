// lat-bench attention-cpu: tokens/s of the tiled causal linear-attention op on the CPU
// (kernels/cpu/lightning_attention.cpp, SPEC §4) against the quadratic form A = (Q̃K̃ᵀ ⊙ decay mask), O = A V
// (the test reference's algorithm, O(N²) per head), and the exact softmax baseline, at q̃, k̃: [B, H, N, m],
// v: [B, H, N, e]. Best of --repeat timed runs after one warm-up. Threads: OMP_NUM_THREADS (one head per thread).
//   lat-bench attention-cpu --batch 1 --heads 4 --seq 4096 --dim 64
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include "bench/registry.h"
#include "core/error.h"
#include "core/random.h"
#include "core/tensor.h"
#include "core/timer.h"
#include "kernels/lightning_attention.h"
#include "kernels/softmax_attention.h"
#include "tools/cli.h"

namespace lat::bench {
namespace {

struct AttentionCpuOptions {
  int64_t batch = 1, heads = 4, seq = 4096, dim = 64, block = 64;
  int repeat = 3;
  std::string dtype = "f32";
  bool quadratic = true;
};

// The quadratic reference (unnormalised, per-head decay s): o_i = Σ_{j≤i} exp(−s(i−j)) (q̃_i·k̃_j) v_j.
template <class T>
void quadratic(const T* q, const T* k, const T* v, const T* s, T* o, int64_t bh, int64_t heads, int64_t n, int64_t m,
               int64_t e) {
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t p = 0; p < bh; ++p)
    for (int64_t i = 0; i < n; ++i) {
      T* oi = o + (p * n + i) * e;
      for (int64_t c = 0; c < e; ++c) oi[c] = 0;
      const T* qi = q + (p * n + i) * m;
      for (int64_t j = 0; j <= i; ++j) {
        const T* kj = k + (p * n + j) * m;
        T a = 0;
        for (int64_t c = 0; c < m; ++c) a += qi[c] * kj[c];
        a *= std::exp(-s[p % heads] * static_cast<T>(i - j));
        const T* vj = v + (p * n + j) * e;
        for (int64_t c = 0; c < e; ++c) oi[c] += a * vj[c];
      }
    }
}

double best_of(int repeat, const std::function<void()>& fn) {
  double best = 1e30;
  for (int r = 0; r <= repeat; ++r) {
    Timer timer;
    fn();
    if (r > 0) best = std::min(best, timer.seconds());
  }
  return best;
}

template <class T>
void run(const AttentionCpuOptions& o) {
  const int64_t B = o.batch, H = o.heads, N = o.seq, m = o.dim, e = o.dim;
  Tensor q = Tensor::empty(Shape{B, H, N, m}, dtype_of<T>), k = Tensor::empty_like(q);
  Tensor v = Tensor::empty(Shape{B, H, N, e}, dtype_of<T>);
  // Positive features (as after elu1) keep the sums well scaled.
  fill_uniform(q, 1, 0, 0, 1.0 / std::sqrt(static_cast<double>(m)));
  fill_uniform(k, 2, 0, 0, 1.0 / std::sqrt(static_cast<double>(m)));
  fill_uniform(v, 3, 0, -1, 1);
  std::vector<T> sv(static_cast<size_t>(H));
  for (int64_t h = 0; h < H; ++h) sv[static_cast<size_t>(h)] = static_cast<T>(std::exp2(-8.0 * (h + 1) / H));
  Tensor s = Tensor::from_vector<T>(sv, Shape{H});
  Tensor out = Tensor::empty_like(v), state = Tensor::empty(Shape{B, H, m, e}, dtype_of<T>);
  Tensor dq = Tensor::empty_like(q), dk = Tensor::empty_like(k), dv = Tensor::empty_like(v), none;
  Tensor g = Tensor::empty_like(v);
  fill_uniform(g, 4, 0, -1, 1);
  const double tokens = static_cast<double>(B * N);
  std::printf("lat-bench attention-cpu: B=%lld H=%lld N=%lld m=e=%lld block=%lld %s, %d OpenMP threads, best of %d\n",
              static_cast<long long>(B), static_cast<long long>(H), static_cast<long long>(N),
              static_cast<long long>(m), static_cast<long long>(o.block), dtype_name(dtype_of<T>),
              omp_get_max_threads(), o.repeat);
  const double fwd = best_of(o.repeat, [&] { kernels::lightning_attention_forward(q, k, v, s, none, o.block, out, state); });
  const double bwd = best_of(o.repeat, [&] {
    kernels::lightning_attention_backward(q, k, v, s, none, o.block, g, none, dq, dk, dv, none);
  });
  std::printf("  tiled forward           %9.3f s  %12.0f tokens/s\n", fwd, tokens / fwd);
  std::printf("  tiled backward          %9.3f s  %12.0f tokens/s\n", bwd, tokens / bwd);
  Tensor lse = Tensor::empty(Shape{B, H, N}, dtype_of<T>), so = Tensor::empty_like(v);
  const double sm = best_of(o.repeat, [&] { kernels::softmax_attention_forward(q, k, v, 0.125, so, lse); });
  std::printf("  softmax forward (exact) %9.3f s  %12.0f tokens/s\n", sm, tokens / sm);
  if (o.quadratic) {
    Tensor ref = Tensor::empty_like(v);
    const double quad = best_of(o.repeat, [&] {
      quadratic<T>(q.data<T>(), k.data<T>(), v.data<T>(), s.data<T>(), ref.data<T>(), B * H, H, N, m, e);
    });
    const T* a = out.data<T>();
    const T* b = ref.data<T>();
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < out.numel(); ++i) {
      diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
      scale = std::max(scale, std::abs(static_cast<double>(b[i])));
    }
    std::printf("  quadratic forward       %9.3f s  %12.0f tokens/s   (tiled is %.1fx faster; max rel diff %.1e)\n",
                quad, tokens / quad, quad / fwd, diff / scale);
  }
  std::fflush(stdout);
}

Subcommand attention_cpu("attention-cpu", "tokens/s of the tiled CPU linear attention vs the quadratic form",
                         [](CLI::App& sub) {
                           auto o = std::make_shared<AttentionCpuOptions>();
                           const CLI::Validator& positive = tools::kPositiveInteger;
                           sub.add_option("--batch", o->batch, "batch size B")->check(positive);
                           sub.add_option("--heads", o->heads, "heads H")->check(positive);
                           sub.add_option("--seq", o->seq, "sequence length N")->check(positive);
                           sub.add_option("--dim", o->dim, "feature and value dim m = e")->check(positive);
                           sub.add_option("--block", o->block, "tile size along N")->check(positive);
                           sub.add_option("--repeat", o->repeat, "timed runs (best is reported)")->check(positive);
                           sub.add_option("--dtype", o->dtype, "f32 or f64");
                           sub.add_flag("!--no-quadratic", o->quadratic, "skip the O(N²) reference");
                           sub.callback([o] {
                             const DType dtype = parse_dtype(o->dtype);
                             if (dtype == DType::F32)
                               run<float>(*o);
                             else if (dtype == DType::F64)
                               run<double>(*o);
                             else
                               LAT_THROW("attention-cpu: --dtype must be f32 or f64, got ", o->dtype);
                           });
                         });

}  // namespace
}  // namespace lat::bench
