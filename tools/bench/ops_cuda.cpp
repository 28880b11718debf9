// lat-bench ops: times every CUDA kernel of lat (GEMMs through cuBLASLt, the hand-written kernels in
// kernels/cuda/, the core copy/cast/fill kernels) and prints, per kernel, the bytes it must move, the flops it
// must do, its floor = max(bytes / 4.3 TB/s, flops / 790 TFLOP/s) (the H200 ceilings measured in GPU.md),
// the measured median and measured / floor. Inputs are random (Philox, never zeros) and each problem's
// footprint is several times the 60 MB L2; each kernel runs 3 warm-up times, then --repeat times, each timed
// with its own pair of CUDA events; the median is reported.
//   lat-bench ops [--repeat 25] [--filter rmsnorm]
#ifdef LAT_HAVE_CUDA

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/cuda_timing.h"
#include "bench/registry.h"
#include "core/cuda_context.h"
#include "core/random.h"
#include "core/tensor.h"
#include "kernels/cuda/activations.cuh"
#include "kernels/cuda/adamw.cuh"
#include "kernels/cuda/attention_family.cuh"
#include "kernels/cuda/cross_entropy.cuh"
#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/cuda/rmsnorm.cuh"

namespace lat::bench {
namespace {

namespace kc = lat::kernels::cuda;


struct OpsOptions {
  int repeat = 25;
  std::string filter;
};

Tensor rnd(const Shape& shape, DType dtype, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::empty(shape, dtype, Device::cuda());
  fill_uniform(t, seed, 0, lo, hi);
  return t;
}


struct Row {
  std::string name, shape;
  double bytes, flops, ms;
};

void print_row(const Row& r) {
  const double floor_ms = std::max(r.bytes / kBandwidth, r.flops / kBf16Rate) * 1e3;
  std::printf("| %-26s | %-30s | %10.1f | %9.1f | %9.3f | %9.3f | %6.2f |\n", r.name.c_str(), r.shape.c_str(),
              r.bytes / 1e6, r.flops / 1e9, floor_ms, r.ms, r.ms / floor_ms);
  std::fflush(stdout);
}

std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t v : d) s += (s.empty() ? "" : "x") + std::to_string(v);
  return s;
}

void run_ops(const OpsOptions& opt) {
  cuda::init(0);
  cudaDeviceProp prop{};
  LAT_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("lat-bench ops on %s (%d SMs, L2 %d MB); floor = max(bytes / 4.3 TB/s, flops / 790 TFLOP/s); "
              "median of %d runs after 3 warm-ups\n\n",
              prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20, opt.repeat);
  std::printf("| %-26s | %-30s | %10s | %9s | %9s | %9s | %6s |\n", "kernel", "shape", "MB moved", "GFLOP",
              "floor ms", "median ms", "ratio");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(28, '-').c_str(), std::string(32, '-').c_str(),
              std::string(12, '-').c_str(), std::string(11, '-').c_str(), std::string(11, '-').c_str(),
              std::string(11, '-').c_str(), std::string(8, '-').c_str());
  auto want = [&](const std::string& name) { return opt.filter.empty() || name.find(opt.filter) != std::string::npos; };
  // A section runs when any of its rows is wanted (so a filter naming one row never skips its section).
  auto want_any = [&](std::initializer_list<const char*> rows) {
    return std::any_of(rows.begin(), rows.end(), [&](const char* r) { return want(r); });
  };
  auto bench = [&](const std::string& name, const std::string& shape, double bytes, double flops,
                   const std::function<void()>& fn) {
    if (!want(name)) return;
    print_row({name, shape, bytes, flops, median_cuda_ms(fn, opt.repeat)});
  };

  // --- GEMMs (cuBLASLt) ---
  auto gemm_case = [&](const std::string& name, int64_t m, int64_t n, int64_t k, DType ab, DType c, bool tb) {
    if (!want(name)) return;
    Tensor A = rnd(Shape{m, k}, ab, 1), B = rnd(tb ? Shape{n, k} : Shape{k, n}, ab, 2);
    Tensor C = Tensor::empty(Shape{m, n}, c, Device::cuda());
    kc::GemmArgs g;
    g.a = A.raw_data(), g.b = B.raw_data(), g.c = C.raw_data(), g.ab_dtype = ab, g.c_dtype = c;
    g.m = m, g.n = n, g.k = k, g.transpose_b = tb;
    const double bytes = static_cast<double>(A.nbytes() + B.nbytes() + C.nbytes());
    bench(name, dims({m, n, k}), bytes, 2.0 * m * n * k, [&] { kc::gemm(g); });
  };
  gemm_case("gemm bf16->bf16 NN", 8192, 8192, 8192, DType::BF16, DType::BF16, false);
  gemm_case("gemm bf16->bf16 NT", 8192, 8192, 8192, DType::BF16, DType::BF16, true);
  gemm_case("gemm bf16->f32 NT", 8192, 8192, 8192, DType::BF16, DType::F32, true);
  gemm_case("gemm lm-head bf16 NT", 16384, 50304, 768, DType::BF16, DType::BF16, true);
  gemm_case("gemm mlp-up bf16 NT", 16384, 2048, 768, DType::BF16, DType::BF16, true);
  gemm_case("gemm f32 (no TF32) NN", 4096, 4096, 4096, DType::F32, DType::F32, false);
  if (want("gemm batched bf16 NN")) {
    const int64_t b = 96, m = 2048, n = 128, k = 2048;  // per-head attention-like products
    Tensor A = rnd(Shape{b, m, k}, DType::BF16, 3), B = rnd(Shape{b, k, n}, DType::BF16, 4);
    Tensor C = Tensor::empty(Shape{b, m, n}, DType::BF16, Device::cuda());
    kc::GemmArgs g;
    g.a = A.raw_data(), g.b = B.raw_data(), g.c = C.raw_data(), g.m = m, g.n = n, g.k = k;
    g.batch = b, g.stride_a = m * k, g.stride_b = k * n, g.stride_c = m * n;
    bench("gemm batched bf16 NN", dims({b, m, n, k}), static_cast<double>(A.nbytes() + B.nbytes() + C.nbytes()),
          2.0 * b * m * n * k, [&] { kc::gemm(g); });
  }

  // --- core: cast, strided copy, fill; reduce ---
  const int64_t big = int64_t{1} << 27;  // 128 M elements
  if (want_any({"cast f32->bf16", "cast bf16->f32", "copy_ transpose f32->bf16", "fill_ f32", "sum f32"})) {
    Tensor x = rnd(Shape{big}, DType::F32, 5);
    Tensor y = Tensor::empty(Shape{big}, DType::BF16, Device::cuda());
    bench("cast f32->bf16", dims({big}), big * 6.0, 0,
          [&] { cuda::cast(y.raw_data(), DType::BF16, x.raw_data(), DType::F32, big); });
    bench("cast bf16->f32", dims({big}), big * 6.0, 0,
          [&] { cuda::cast(x.raw_data(), DType::F32, y.raw_data(), DType::BF16, big); });
    Tensor sq = x.view(Shape{8192, 16384});
    Tensor t = Tensor::empty(Shape{16384, 8192}, DType::BF16, Device::cuda());
    bench("copy_ transpose f32->bf16", "8192x16384^T", big * 6.0, 0, [&] { t.copy_(sq.transpose(0, 1)); });
    bench("fill_ f32", dims({big}), big * 4.0, 0, [&] { x.fill_(0.5); });
    Tensor out = Tensor::empty(Shape{}, DType::F32, Device::cuda());
    bench("sum f32", dims({big}), big * 4.0, big, [&] { kc::sum(x.raw_data(), out.raw_data(), DType::F32, big); });
  }

  // --- pointwise activations (bf16) ---
  if (want_any({"silu fwd bf16", "silu bwd bf16", "gelu fwd bf16", "gelu bwd bf16", "swiglu fwd bf16",
                "swiglu bwd bf16"})) {
    const int64_t n = big;
    Tensor a = rnd(Shape{n}, DType::BF16, 6), b = rnd(Shape{n}, DType::BF16, 7), c = rnd(Shape{n}, DType::BF16, 8);
    Tensor d = Tensor::empty_like(a), e = Tensor::empty_like(a);
    bench("silu fwd bf16", dims({n}), n * 4.0, n * 5.0, [&] { kc::silu_forward(a.raw_data(), d.raw_data(), DType::BF16, n); });
    bench("silu bwd bf16", dims({n}), n * 6.0, n * 8.0,
          [&] { kc::silu_backward(a.raw_data(), b.raw_data(), d.raw_data(), DType::BF16, n); });
    bench("gelu fwd bf16", dims({n}), n * 4.0, n * 8.0, [&] { kc::gelu_forward(a.raw_data(), d.raw_data(), DType::BF16, n); });
    bench("gelu bwd bf16", dims({n}), n * 6.0, n * 14.0,
          [&] { kc::gelu_backward(a.raw_data(), b.raw_data(), d.raw_data(), DType::BF16, n); });
    bench("swiglu fwd bf16", dims({n}), n * 6.0, n * 6.0,
          [&] { kc::swiglu_forward(a.raw_data(), b.raw_data(), d.raw_data(), DType::BF16, n); });
    bench("swiglu bwd bf16", dims({n}), n * 10.0, n * 10.0, [&] {
      kc::swiglu_backward(a.raw_data(), b.raw_data(), c.raw_data(), d.raw_data(), e.raw_data(), DType::BF16, n);
    });
  }

  // --- RMSNorm (bf16 activations, fp32 gain) ---
  if (want_any({"rmsnorm fwd bf16", "rmsnorm bwd bf16"})) {
    const int64_t rows = 262144, dim = 768;
    Tensor x = rnd(Shape{rows, dim}, DType::BF16, 9), dy = rnd(Shape{rows, dim}, DType::BF16, 10);
    Tensor w = rnd(Shape{dim}, DType::F32, 11, 0.5, 1.5), dw = Tensor::empty(Shape{dim}, DType::F32, Device::cuda());
    Tensor y = Tensor::empty_like(x), dx = Tensor::empty_like(x), rstd = Tensor::empty(Shape{rows}, DType::F32, Device::cuda());
    const double elems = static_cast<double>(rows * dim);
    bench("rmsnorm fwd bf16", dims({rows, dim}), elems * 4 + rows * 4.0, elems * 4, [&] {
      kc::rmsnorm_forward(x.raw_data(), w.raw_data(), y.raw_data(), rstd.data<float>(), DType::BF16, DType::F32, rows, dim, 1e-5f);
    });
    bench("rmsnorm bwd bf16", dims({rows, dim}), elems * 6, elems * 9, [&] {
      kc::rmsnorm_backward(x.raw_data(), w.raw_data(), dy.raw_data(), dx.raw_data(), dw.raw_data(), DType::BF16,
                           DType::F32, rows, dim, 1e-5f);
    });
  }

  // --- attention family (bf16): feature maps, RoPE, output forms; the softmax baseline ---
  if (want_any({"elu1 fwd bf16", "sigmoid_gate fwd bf16", "cosine feature fwd bf16", "rope fwd bf16",
                "head_rmsnorm fwd bf16"})) {
    const int64_t bh = 96, n = 8192, d = 64, count = bh * n * d;  // 124M-like: 8 × 12 heads, 64 wide
    Tensor x = rnd(Shape{count}, DType::BF16, 40), g = rnd(Shape{count}, DType::BF16, 41);
    Tensor y = Tensor::empty_like(x), y2 = Tensor::empty(Shape{2 * count}, DType::BF16, Device::cuda());
    Tensor inv = Tensor::empty(Shape{bh * n}, DType::F32, Device::cuda());
    const std::string shape = dims({bh, n, d});
    const double elems = static_cast<double>(count);
    bench("elu1 fwd bf16", shape, elems * 4, elems * 3,
          [&] { kc::elu1_forward(x.raw_data(), y.raw_data(), DType::BF16, count); });
    bench("sigmoid_gate fwd bf16", shape, elems * 6, elems * 5,
          [&] { kc::sigmoid_gate_forward(x.raw_data(), g.raw_data(), y.raw_data(), DType::BF16, count); });
    bench("cosine feature fwd bf16", shape, elems * 6, elems * 4, [&] {
      kc::cosine_feature_forward(x.raw_data(), y2.raw_data(), DType::BF16, bh, n, d, n, 0);
    });
    bench("rope fwd bf16", shape, elems * 4, elems * 3,
          [&] { kc::rope_forward(x.raw_data(), y.raw_data(), DType::BF16, bh, n, d, 0, 10000.0, false); });
    bench("head_rmsnorm fwd bf16", shape, elems * 4 + bh * n * 4.0, elems * 3, [&] {
      kc::head_rmsnorm_forward(x.raw_data(), 1e-6f, y.raw_data(), inv.data<float>(), DType::BF16, bh * n, d);
    });
  }
  // Causal: each of the two products of the forward costs 2·(N²/2)·d per head; the backward's floor counts five
  // (the recomputed scores, dP, dV, dK, dQ). Bytes: q, k, v, o (+ lse) forward; q, k, v, o, dO, dq, dk, dv back.
  auto softmax_case = [&](int64_t bh, int64_t n, int64_t d) {
    const std::string tag = " d" + std::to_string(d);
    if (!want("softmax_attention fwd bf16" + tag) && !want("softmax_attention bwd bf16" + tag)) return;
    const Shape s{bh, n, d};
    Tensor q = rnd(s, DType::BF16, 50), k = rnd(s, DType::BF16, 51), v = rnd(s, DType::BF16, 52);
    Tensor dout = rnd(s, DType::BF16, 53), o = Tensor::empty_like(q), dq = Tensor::empty_like(q);
    Tensor dk = Tensor::empty_like(q), dv = Tensor::empty_like(q);
    Tensor lse = Tensor::empty(Shape{bh, n}, DType::F32, Device::cuda());
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
    const double tensor = static_cast<double>(q.nbytes()), matmul = 2.0 * bh * (n * n / 2.0) * d;
    auto forward = [&] {
      kc::softmax_attention_forward(q.raw_data(), k.raw_data(), v.raw_data(), o.raw_data(), lse.data<float>(),
                                    DType::BF16, bh, n, n, d, d, scale);
    };
    bench("softmax_attention fwd bf16" + tag, dims({bh, n, d}), 4 * tensor + bh * n * 4.0, 2 * matmul, forward);
    forward();
    bench("softmax_attention bwd bf16" + tag, dims({bh, n, d}), 8 * tensor + bh * n * 8.0, 5 * matmul, [&] {
      kc::softmax_attention_backward(q.raw_data(), k.raw_data(), v.raw_data(), o.raw_data(), lse.data<float>(),
                                     dout.raw_data(), dq.raw_data(), dk.raw_data(), dv.raw_data(), DType::BF16, bh, n,
                                     n, d, d, scale);
    });
  };
  softmax_case(192, 2048, 128);  // the 124M softmax twin's attention (6 heads × 128) at 32 × 2048 tokens
  softmax_case(96, 2048, 64);

  // --- fused softmax cross-entropy (GPT-2 vocabulary) ---
  if (want_any({"cross_entropy fwd bf16", "cross_entropy bwd bf16"})) {
    const int64_t rows = 8192, vocab = 50304;
    Tensor logits = rnd(Shape{rows, vocab}, DType::BF16, 12, -8, 8);
    std::vector<int32_t> tv(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) tv[static_cast<size_t>(r)] = static_cast<int32_t>((r * 7919) % vocab);
    Tensor targets = Tensor::from_vector<int32_t>(tv, Shape{rows}, Device::cuda());
    Tensor loss = Tensor::empty(Shape{rows}, DType::F32, Device::cuda()), lse = Tensor::empty_like(loss);
    Tensor dloss = Tensor::full(Shape{1}, 1.0, DType::F32, Device::cuda());
    Tensor dlogits = Tensor::empty_like(logits);
    const double elems = static_cast<double>(rows * vocab);
    bench("cross_entropy fwd bf16", dims({rows, vocab}), elems * 2, elems * 3, [&] {
      kc::cross_entropy_forward(logits.raw_data(), targets.data<int32_t>(), loss.data<float>(), lse.data<float>(),
                                DType::BF16, rows, vocab);
    });
    bench("cross_entropy bwd bf16", dims({rows, vocab}), elems * 4, elems * 3, [&] {
      kc::cross_entropy_backward(logits.raw_data(), targets.data<int32_t>(), lse.data<float>(), dloss.data<float>(), 0,
                                 1.0f / rows, dlogits.raw_data(), DType::BF16, rows, vocab);
    });
  }

  // --- embedding ---
  if (want_any({"embedding fwd bf16", "embedding bwd bf16->f32"})) {
    const int64_t n = 262144, vocab = 50304, dim = 768;
    Tensor table = rnd(Shape{vocab, dim}, DType::BF16, 13);
    std::vector<int32_t> iv(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) iv[static_cast<size_t>(i)] = static_cast<int32_t>((i * 2654435761LL) % vocab);
    Tensor ids = Tensor::from_vector<int32_t>(iv, Shape{n}, Device::cuda());
    Tensor out = Tensor::empty(Shape{n, dim}, DType::BF16, Device::cuda());
    Tensor dtable = Tensor::zeros(Shape{vocab, dim}, DType::F32, Device::cuda());
    const double elems = static_cast<double>(n * dim);
    bench("embedding fwd bf16", dims({n, dim}), elems * 4 + n * 4.0, 0, [&] {
      kc::embedding_forward(ids.data<int32_t>(), table.raw_data(), DType::BF16, out.raw_data(), DType::BF16, n, vocab, dim);
    });
    // Each of the n rows does a read-modify-write of 4-byte floats (atomics); distinct rows hit L2 often.
    bench("embedding bwd bf16->f32", dims({n, dim}), elems * (2 + 8), elems, [&] {
      kc::embedding_backward(ids.data<int32_t>(), out.raw_data(), DType::BF16, dtable.data<float>(), n, vocab, dim);
    });
  }

  // --- optimizer ---
  if (want_any({"global_norm + clip f32", "adamw multi-tensor f32", "adamw 1 tensor f32"})) {
    // A 124M-parameter model's worth of tensors: one embedding-sized tensor plus 12 × (4 × 768² + 3 × 768·2048).
    std::vector<int64_t> sizes{50304 * 768};
    for (int l = 0; l < 12; ++l)
      for (int64_t s : {768 * 768, 768 * 768, 768 * 768, 768 * 768, 768 * 2048, 768 * 2048, 768 * 2048, 768, 768})
        sizes.push_back(s);
    std::vector<Tensor> keep;
    std::vector<kc::AdamWTensor> list;
    std::vector<kc::NormTensor> norms;
    int64_t total = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const int64_t n = sizes[i];
      total += n;
      keep.push_back(rnd(Shape{n}, DType::F32, 100 + i));
      keep.push_back(rnd(Shape{n}, DType::F32, 1000 + i, -1e-3, 1e-3));
      keep.push_back(rnd(Shape{n}, DType::F32, 2000 + i, -1e-3, 1e-3));
      keep.push_back(rnd(Shape{n}, DType::F32, 3000 + i, 0, 1e-6));
      keep.push_back(Tensor::empty(Shape{n}, DType::BF16, Device::cuda()));
      const size_t b = keep.size() - 5;
      kc::AdamWTensor t;
      t.param = keep[b].data<float>(), t.grad = keep[b + 1].raw_data(), t.m = keep[b + 2].data<float>();
      t.v = keep[b + 3].data<float>(), t.param_bf16 = keep[b + 4].raw_data(), t.n = n, t.weight_decay = 0.1;
      list.push_back(t);
      norms.push_back({keep[b + 1].raw_data(), DType::F32, n});
    }
    Tensor sumsq = Tensor::empty(Shape{}, DType::F32, Device::cuda()), scale = Tensor::empty_like(sumsq);
    kc::AdamWHyper h;
    h.lr = 6e-4, h.bias_correction1 = 0.5, h.bias_correction2 = 0.1, h.grad_scale = scale.data<float>();
    const std::string shape = std::to_string(sizes.size()) + " tensors, " + std::to_string(total / 1000000) + "M";
    bench("global_norm + clip f32", shape, total * 4.0, total * 2.0, [&] {
      kc::global_sum_squares(norms.data(), static_cast<int64_t>(norms.size()), sumsq.data<float>());
      kc::clip_scale_from_sum_squares(sumsq.data<float>(), 1.0f, scale.data<float>(), nullptr);
    });
    bench("adamw multi-tensor f32", shape, total * 30.0, total * 12.0,
          [&] { kc::adamw_step(list.data(), static_cast<int64_t>(list.size()), h); });
    // The same bytes as one tensor: isolates the cost of the multi-tensor packing.
    std::vector<kc::AdamWTensor> one{list[0]};
    bench("adamw 1 tensor f32", std::to_string(sizes[0] / 1000000) + "M", sizes[0] * 30.0, sizes[0] * 12.0,
          [&] { kc::adamw_step(one.data(), 1, h); });
  }
}

Subcommand ops_cuda("ops", "time every CUDA kernel against its roofline floor (H200 ceilings)", [](CLI::App& sub) {
  auto opt = std::make_shared<OpsOptions>();
  sub.add_option("--repeat", opt->repeat, "timed runs per kernel (median reported)")->check(CLI::Range(1, 10000));
  sub.add_option("--filter", opt->filter, "only kernels whose name contains this text");
  sub.callback([opt] { run_ops(*opt); });
});

}  // namespace
}  // namespace lat::bench

#endif  // LAT_HAVE_CUDA
