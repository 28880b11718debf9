// lat-bench la2: Lightning Attention-2 CUDA kernels (kernels/cuda/lightning_attention.cu), d = e = 128, bf16,
// decay on. floor = bytes / 4.3 TB/s with bytes = 4 tensors of B·H·N·d bf16 (forward: q, k, v in, o out) or 11
// (forward + backward: + dO in, dq, dk, dv out, and q, k, v read again). Median of --repeat CUDA-event-timed runs
// after 3 warm-ups; peak memory beyond inputs and outputs from the CUDA allocator. Rows for the [B, N, H, D] layout,
// the normalised form and cosFormer's fused map follow the bar shapes (same floor). Then time per token at fixed
// B·H·N (--flat-tokens, default 2^22) for N = 1K … 128K (flatness). --shape BxHxN (repeatable) measures only the
// shapes given. The op is called as lat-train calls it, without its optional final state (B·H·d·e f32: 6 % of the
// bytes at B·H = 4096, N = 1K); --final-state asks for it too.
#ifdef LAT_HAVE_CUDA

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/cuda_timing.h"
#include "bench/registry.h"
#include "core/allocator.h"
#include "core/cuda_context.h"
#include "core/random.h"
#include "core/tensor.h"
#include "kernels/cuda/lightning_attention_state.cuh"
#include "kernels/lightning_attention.h"
#include "tools/cli.h"

namespace lat::bench {
namespace {

// What one call computes: the core (SPEC §4), the normalised form (o = num / den in f32, positive q and k), or
// cosFormer's map fused into the core (two d × d cores).
enum class Form { Core, Normalized, Cosine };

// Operands in [B, H, N, D] or, with heads_inner, [B, N, H, D] buffers seen as [B, H, N, D] (the layout of the
// projections in a model; the kernels read and write it in place).
struct Problem {
  Form form;
  Tensor q, k, v, ld, go, o, fin, dq, dk, dv, segment_states, den;  // fin undefined: no final state (as lat-train)
  Problem(int64_t b, int64_t h, int64_t n, int64_t d, bool heads_inner, Form form_ = Form::Core,
          bool final_state = false)
      : form(form_) {
    auto buffer = [&] { return Tensor::empty(heads_inner ? Shape{b, n, h, d} : Shape{b, h, n, d}, DType::BF16,
                                             Device::cuda()); };
    auto as_bhnd = [&](const Tensor& t) { return heads_inner ? t.transpose(1, 2) : t; };
    auto make = [&] { return as_bhnd(buffer()); };
    auto rnd = [&](uint64_t seed, double lo = -1.0) {
      Tensor t = buffer();
      fill_uniform(t, seed, 0, lo, 1.0);
      return as_bhnd(t);
    };
    const double qk_lo = form == Form::Normalized ? 0.05 : -1.0;  // positive features: den > 0
    q = rnd(1, qk_lo);
    k = rnd(2, qk_lo);
    v = rnd(3);
    go = rnd(4);
    std::vector<double> dec(static_cast<size_t>(h));
    for (int64_t i = 0; i < h; ++i) dec[static_cast<size_t>(i)] = 0.5 * static_cast<double>(i + 1) / h;  // decay on
    ld = Tensor::from_vector<double>(dec, Shape{h}).to(DType::F32).to(Device::cuda());
    o = form == Form::Normalized ? Tensor::empty(Shape{b, h, n, d}, DType::F32, Device::cuda()) : make();
    dq = make();
    dk = make();
    dv = make();
    const int64_t rows = form == Form::Cosine ? 2 * d : d, cols = form == Form::Normalized ? d + 1 : d;
    if (final_state) fin = Tensor::empty(Shape{b, h, rows, cols}, DType::F32, Device::cuda());
    den = Tensor::empty(Shape{b, h, n}, DType::F32, Device::cuda());
  }
  kernels::CoreFeatureMap map() const {
    return form == Form::Cosine ? kernels::CoreFeatureMap::cosine(q.size(2), 0) : kernels::CoreFeatureMap::Identity;
  }
  // The forward keeps its segment states for the backward, as the autograd op does.
  void forward() {
    if (form == Form::Normalized)
      kernels::lightning_attention_normalized_forward(q, k, v, ld, Tensor(), 64, 1e-6, o, fin, den);
    else
      kernels::lightning_attention_forward(q, k, v, ld, Tensor(), 64, o, fin, &segment_states, map());
  }
  void backward() {
    Tensor none;
    if (form == Form::Normalized)
      kernels::lightning_attention_normalized_backward(q, k, v, ld, Tensor(), 64, 1e-6, o, den, go, Tensor(), dq, dk,
                                                       dv, none);
    else
      kernels::lightning_attention_backward(q, k, v, ld, Tensor(), 64, go, Tensor(), dq, dk, dv, none, segment_states,
                                            map());
  }
};

struct Result {
  double fwd_ms, fb_ms, fwd_floor_ms, fb_floor_ms, fwd_peak_mb, fb_peak_mb;
};

Result measure(int64_t b, int64_t h, int64_t n, int64_t d, int repeat, bool final_state, bool heads_inner = false,
               Form form = Form::Core) {
  Problem p(b, h, n, d, heads_inner, form, final_state);
  Allocator& alloc = allocator_for(Device::cuda());
  LAT_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
  const double base = static_cast<double>(alloc.bytes_in_use());
  alloc.reset_peak();
  p.forward();
  LAT_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
  const double fwd_peak = static_cast<double>(alloc.peak_bytes()) - base;
  alloc.reset_peak();
  p.forward();
  p.backward();
  LAT_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
  const double fb_peak = static_cast<double>(alloc.peak_bytes()) - base;
  const double elems = static_cast<double>(b * h * n * d) * 2.0;
  Result r{};
  r.fwd_ms = median_cuda_ms([&] { p.forward(); }, repeat);
  r.fb_ms = median_cuda_ms([&] { p.forward(); p.backward(); }, repeat);
  r.fwd_floor_ms = 4 * elems / kBandwidth * 1e3;
  r.fb_floor_ms = 11 * elems / kBandwidth * 1e3;
  r.fwd_peak_mb = fwd_peak / 1e6;
  r.fb_peak_mb = fb_peak / 1e6;
  return r;
}

// The segmented path's state-only pass alone, at the slot geometry plan_segments picks for 1×8×131072 on 132 SMs
// (30 of 31 slots of 4096 tokens per head), twice: without decay it reads every token of its slots (bytes of k'
// and v' / time: its streaming rate); with the bench's decay it reads only each slot's decay window
// (kernels/cuda/lightning_attention_state.cuh).
void state_pass(int repeat) {
  const int64_t heads = 8, n = 131072, d = 128;
  const int slot_tokens = 4096, slots = 31;
  Problem p(1, heads, n, d, false);
  Tensor out = Tensor::empty(Shape{heads, slots, d, d}, DType::F32, Device::cuda());
  Tensor no_decay = Tensor::zeros(Shape{heads}, DType::F32, Device::cuda());
  const kernels::cuda::La2View ko{p.k.raw_data(), heads * n * d, n * d, d}, vo{p.v.raw_data(), heads * n * d,
                                                                                        n * d, d};
  const double bytes = static_cast<double>(heads * (slots - 1) * slot_tokens * d) * 2 * 2;
  for (int rev = 0; rev < 2; ++rev)
    for (const Tensor* decay : {&no_decay, &p.ld}) {
      const double ms = median_cuda_ms(
          [&] {
            kernels::cuda::la2_state_pass(static_cast<int>(d), ko, vo, decay->data<float>(), static_cast<int>(heads),
                                          heads, n, slot_tokens, slots - 1, slots, rev == 1, rev, out.data<float>());
          },
          repeat);
      if (decay == &no_decay)
        std::printf("state-only pass alone (%s; 8 heads x 30 slots x 4096 tokens), no decay: %.3f ms, %.2f TB/s of "
                    "k' + v'\n",
                    rev ? "reverse, shift 1" : "forward, shift 0", ms, bytes / (ms * 1e-3) / 1e12);
      else
        std::printf("  the same with the bench's decay (only each slot's decay window is read): %.3f ms\n", ms);
    }
}

// Only the shapes given as BxHxN (ratios and ns/token), e.g. for same-binary comparisons under LAT_LA2_WGMMA or
// LAT_LA2_SEGMENTS.
void run_shapes(int repeat, bool final_state, const std::vector<std::string>& shapes) {
  struct Shape3 {
    long long b, h, n;
  };
  std::vector<Shape3> parsed;  // all checked before the device is touched
  for (const std::string& s : shapes) {
    Shape3 x{};
    char tail = 0;
    LAT_CHECK(std::sscanf(s.c_str(), "%lldx%lldx%lld%c", &x.b, &x.h, &x.n, &tail) == 3 && x.b > 0 && x.h > 0 &&
                  x.n > 0,
              "la2 --shape '", s, "' is not BxHxN with positive sizes");
    parsed.push_back(x);
  }
  cuda::init(0);
  std::printf("| B×H×N | fwd ratio | fwd+bwd ratio | fwd ns/token | fwd+bwd ns/token |\n|---|---|---|---|---|\n");
  for (size_t i = 0; i < parsed.size(); ++i) {
    const Shape3& x = parsed[i];
    const Result r = measure(x.b, x.h, x.n, 128, repeat, final_state);
    const double tokens = static_cast<double>(x.b * x.h * x.n);
    std::printf("| %s | %.2f | %.2f | %.3f | %.3f |\n", shapes[i].c_str(), r.fwd_ms / r.fwd_floor_ms,
                r.fb_ms / r.fb_floor_ms, r.fwd_ms * 1e6 / tokens, r.fb_ms * 1e6 / tokens);
    std::fflush(stdout);
  }
}

// The flatness sweep's B·H·N must split into every N = 1K … 128K.
constexpr int64_t kFlatLongest = 131072;
void check_flat_tokens(int64_t total) {
  LAT_CHECK(total > 0 && total % kFlatLongest == 0, "la2 --flat-tokens ", total,
            " is not a positive multiple of 131072 (B·H·N must split into N = 1K ... 128K)");
}

void run(int repeat, bool flat, int64_t total, bool final_state) {
  check_flat_tokens(total);
  cuda::init(0);
  cudaDeviceProp prop{};
  LAT_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("lat-bench la2 on %s (%d SMs); d = e = 128, bf16, decay on; floor = tensors x B·H·N·d x 2 B / 4.3 TB/s "
              "(forward 4, forward+backward 11); median of %d runs after 3 warm-ups; final state %s\n\n",
              prop.name, prop.multiProcessorCount, repeat,
              final_state ? "computed (--final-state)" : "not computed, as in training");
  std::printf("| B×H×N | fwd floor ms | fwd ms | fwd ratio | fwd+bwd floor ms | fwd+bwd ms | fwd+bwd ratio | "
              "peak extra MB fwd / fwd+bwd |\n|---|---|---|---|---|---|---|---|\n");
  const int64_t shapes[3][3] = {{8, 16, 2048}, {4, 32, 32768}, {1, 8, 131072}};
  for (const auto& s : shapes) {
    const Result r = measure(s[0], s[1], s[2], 128, repeat, final_state);
    std::printf("| %lldx%lldx%lld | %.3f | %.3f | %.2f | %.3f | %.3f | %.2f | %.1f / %.1f |\n",
                static_cast<long long>(s[0]), static_cast<long long>(s[1]), static_cast<long long>(s[2]),
                r.fwd_floor_ms, r.fwd_ms, r.fwd_ms / r.fwd_floor_ms, r.fb_floor_ms, r.fb_ms, r.fb_ms / r.fb_floor_ms,
                r.fwd_peak_mb, r.fb_peak_mb);
    std::fflush(stdout);
  }
  struct Variant {
    const char* name;
    int64_t b, h, n;
    bool heads_inner;
    Form form;
  };
  // The same floor for every row (the core's bytes): the normalised rows write o in f32 and their backward first
  // forms G / den and c = −(G'·o); the cosine rows run two d × d cores (feature dim 2d = 256).
  for (const Variant& v : {Variant{"4x32x32768 as [B, N, H, D]", 4, 32, 32768, true, Form::Core},
                           Variant{"normalised 4x32x32768", 4, 32, 32768, false, Form::Normalized},
                           Variant{"normalised 1x8x131072", 1, 8, 131072, false, Form::Normalized},
                           Variant{"cosine 4x32x32768", 4, 32, 32768, false, Form::Cosine},
                           Variant{"cosine 1x8x131072", 1, 8, 131072, false, Form::Cosine}}) {
    const Result r = measure(v.b, v.h, v.n, 128, repeat, final_state, v.heads_inner, v.form);
    std::printf("| %s | %.3f | %.3f | %.2f | %.3f | %.3f | %.2f | %.1f / %.1f |\n", v.name, r.fwd_floor_ms, r.fwd_ms,
                r.fwd_ms / r.fwd_floor_ms, r.fb_floor_ms, r.fb_ms, r.fb_ms / r.fb_floor_ms, r.fwd_peak_mb,
                r.fb_peak_mb);
    std::fflush(stdout);
  }
  std::printf("\n");
  state_pass(repeat);
  if (!flat) return;
  std::printf("\nTime per token at fixed B·H·N = %lld, d = 128:\n\n| N | B·H | fwd ns/token | fwd+bwd ns/token |\n"
              "|---|---|---|---|\n",
              static_cast<long long>(total));
  for (int64_t n = 1024; n <= kFlatLongest; n *= 2) {
    const int64_t bh = total / n;
    const Result r = measure(1, bh, n, 128, repeat, final_state);
    std::printf("| %lld | %lld | %.3f | %.3f |\n", static_cast<long long>(n), static_cast<long long>(bh),
                r.fwd_ms * 1e6 / static_cast<double>(total), r.fb_ms * 1e6 / static_cast<double>(total));
    std::fflush(stdout);
  }
}

struct Options {
  int repeat = 20;
  bool flat = true;
  bool final_state = false;
  long long flat_tokens = int64_t{1} << 22;
  std::vector<std::string> shapes;
};

const Subcommand la2("la2", "Lightning Attention-2 CUDA forward / forward+backward against the HBM floor",
                     [](CLI::App& sub) {
                       auto opt = std::make_shared<Options>();
                       sub.add_option("--repeat", opt->repeat, "timed runs (median)")
                           ->check(tools::kPositiveInteger)
                           ->check(CLI::Range(1, 10000));
                       sub.add_flag("!--no-flat", opt->flat, "skip the time-per-token sweep");
                       sub.add_option("--flat-tokens", opt->flat_tokens,
                                      "B·H·N of the time-per-token sweep (a multiple of 131072; default 4194304)")
                           ->check(tools::kPositiveInteger);
                       sub.add_option("--shape", opt->shapes, "measure only these BxHxN shapes (repeatable)");
                       sub.add_flag("--final-state", opt->final_state,
                                    "also compute the final state (an optional output; lat-train does not ask for it)");
                       sub.callback([opt] {
                         if (opt->shapes.empty()) run(opt->repeat, opt->flat, opt->flat_tokens, opt->final_state);
                         else run_shapes(opt->repeat, opt->final_state, opt->shapes);
                       });
                     });

}  // namespace
}  // namespace lat::bench

#endif  // LAT_HAVE_CUDA
