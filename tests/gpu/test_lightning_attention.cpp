// gpu: Lightning Attention-2 CUDA kernels (kernels/cuda/lightning_attention.cu) against the CPU op in double.
// Ragged N (63, 500, 913) and N = 0, d = e ∈ {64, 128} (tensor-core path, bf16: relative RMS ≤ 5e-3), d ≠ e
// (generic path, bf16 and f32), no decay and strong decay, with initial state and final-state gradient; B·H small
// enough that the segmented sweep runs (also with segments cut into several state-pass slots), and large enough
// that it does not; [B, N, H, D] buffers read and written in place; the backward with and without the forward's
// segment states; elu1 and silu feature maps fused into the loads; cosFormer's map as two d × d cores (positions
// from an offset, states [B, H, 2d, e]). The state-only pass of the segmented sweep also on its own: strided
// [B, N, H, D] operands, a slot cut by n and one past n, forward and reverse, shift 0 and 1. Without the optional
// final state every path writes the same output, bit for bit.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/cuda/lightning_attention_state.cuh"
#include "kernels/lightning_attention.h"

namespace lat {
namespace {

using gpu_test::host;
using gpu_test::rel_rms;

struct Case {
  int64_t b, h, n, m, e;
  double decay;  // log-decay of the last head (heads interpolate from decay / H)
  bool init;
  DType dtype;
  bool heads_inner = false;  // operands and results are [B, N, H, D] buffers seen as [B, H, N, D]
  kernels::CoreFeatureMap feature = kernels::CoreFeatureMap::Identity;  // φ applied inside the core
};

Tensor to_cpu64(const Tensor& t) { return t.to(Device::cpu()).to(DType::F64).contiguous(); }

void run_case(const Case& c) {
  const uint64_t seed = static_cast<uint64_t>(c.n * 131 + c.m * 7 + c.e + c.h * 1000 + (c.init ? 5 : 0));
  const Shape qs{c.b, c.h, c.n, c.m}, vs{c.b, c.h, c.n, c.e}, ss{c.b, c.h, c.feature.features(c.m), c.e};
  // [B, H, N, x] tensors, or [B, N, H, x] buffers transposed to that shape.
  auto layout = [&](const Shape& s) { return c.heads_inner ? Shape{s[0], s[2], s[1], s[3]} : s; };
  auto as_bhnd = [&](const Tensor& t) { return c.heads_inner ? t.transpose(1, 2) : t; };
  auto random_op = [&](const Shape& s, uint64_t sd) {
    return as_bhnd(gpu_test::random_device(layout(s), c.dtype, sd, -1, 1));
  };
  auto empty_op = [&](const Shape& s) { return as_bhnd(Tensor::empty(layout(s), c.dtype, Device::cuda())); };
  Tensor q = random_op(qs, seed), k = random_op(qs, seed + 1), v = random_op(vs, seed + 2);
  Tensor go = random_op(vs, seed + 3);
  Tensor gfin = gpu_test::random_device(ss, c.dtype, seed + 4, -1, 1);
  Tensor init = c.init ? gpu_test::random_device(ss, c.dtype, seed + 5, -1, 1) : Tensor();  // states share q's dtype
  std::vector<double> dec(static_cast<size_t>(c.h));
  for (int64_t i = 0; i < c.h; ++i) dec[static_cast<size_t>(i)] = c.decay * static_cast<double>(i + 1) / c.h;
  Tensor ld = gpu_test::device_from(dec, Shape{c.h}, c.dtype);

  Tensor o = empty_op(vs), fin = Tensor::empty(ss, c.dtype, Device::cuda());
  Tensor dq = empty_op(qs), dk = empty_op(qs), dv = empty_op(vs);
  Tensor dinit = c.init ? Tensor::empty(ss, c.dtype, Device::cuda()) : Tensor();
  Tensor segment_states;
  kernels::lightning_attention_forward(q, k, v, ld, init, 64, o, fin, &segment_states, c.feature);
  kernels::lightning_attention_backward(q, k, v, ld, init, 64, go, gfin, dq, dk, dv, dinit, Tensor(), c.feature);
  // The backward again, handed the forward's segment states (its dQ sweep then skips its own state pass).
  Tensor dq2 = empty_op(qs), dk2 = empty_op(qs), dv2 = empty_op(vs);
  Tensor dinit2 = c.init ? Tensor::empty(ss, c.dtype, Device::cuda()) : Tensor();
  if (segment_states.defined())
    kernels::lightning_attention_backward(q, k, v, ld, init, 64, go, gfin, dq2, dk2, dv2, dinit2, segment_states,
                                          c.feature);

  // Reference: the CPU op in double on the very values the GPU saw.
  Tensor q64 = to_cpu64(q), k64 = to_cpu64(k), v64 = to_cpu64(v), go64 = to_cpu64(go), gf64 = to_cpu64(gfin);
  Tensor ld64 = to_cpu64(ld), init64 = c.init ? to_cpu64(init) : Tensor();
  Tensor ro = Tensor::empty(vs, DType::F64), rfin = Tensor::empty(ss, DType::F64);
  Tensor rdq = Tensor::empty(qs, DType::F64), rdk = Tensor::empty(qs, DType::F64), rdv = Tensor::empty(vs, DType::F64);
  Tensor rdinit = c.init ? Tensor::empty(ss, DType::F64) : Tensor();
  // (The CPU applies a feature map as its own op first: an independent path from the GPU's fused loads.)
  kernels::lightning_attention_forward(q64, k64, v64, ld64, init64, 64, ro, rfin, nullptr, c.feature);
  kernels::lightning_attention_backward(q64, k64, v64, ld64, init64, 64, go64, gf64, rdq, rdk, rdv, rdinit, Tensor(),
                                        c.feature);

  const bool fast = c.m == c.e && (c.m == 64 || c.m == 128);  // bf16 tensor-core path, also for f32 operands
  const double tol = (c.dtype == DType::BF16 || fast) ? gpu_test::kBF16Tolerance : 1e-4;
  auto check = [&](const char* name, const Tensor& got, const Tensor& ref) {
    const double err = rel_rms(host(got), ref.to_vector<double>());
    using K = kernels::CoreFeatureMap::Kind;
    const std::string fm = c.feature.kind == K::Elu1   ? " elu1"
                           : c.feature.kind == K::Silu ? " silu"
                           : c.feature.kind == K::Cosine
                               ? " cosine M=" + std::to_string(c.feature.max_context) +
                                     " offset=" + std::to_string(c.feature.offset)
                               : "";
    const std::string label = std::string(name) + fm + (c.heads_inner ? " [B,N,H,D]" : "") +
                              " B=" + std::to_string(c.b) + " H=" + std::to_string(c.h) + " N=" + std::to_string(c.n) +
                              " m=" + std::to_string(c.m) + " e=" + std::to_string(c.e) +
                              " decay=" + gpu_test::sci(c.decay) + (c.init ? " init" : "") + " " +
                              dtype_name(c.dtype) + ": rel RMS " + gpu_test::sci(err);
    MESSAGE(label);
    CHECK_MESSAGE(err <= tol, label);
  };
  check("o", o, ro);
  check("final_state", fin, rfin);
  check("dq", dq, rdq);
  check("dk", dk, rdk);
  check("dv", dv, rdv);
  if (c.init) check("d_initial_state", dinit, rdinit);
  if (segment_states.defined()) {
    check("dq (forward's segment states)", dq2, rdq);
    check("dk (forward's segment states)", dk2, rdk);
    check("dv (forward's segment states)", dv2, rdv);
    if (c.init) check("d_initial_state (forward's segment states)", dinit2, rdinit);
  }
}

// la2_state_pass on [B, N, H, D] operands against Σ_t λ^{(e_s − t) − shift} k_t v_tᵀ over the whole slot in
// double: n = 300 with slots of 128 tokens (groups of 128; the third slot is cut by n, the fourth starts past it)
// or 192 (groups of 64, the second slot's second group is cut by n). Head i decays by decay_step · (i + 1); with
// n = 2000 and steps of 0.13 the decay window (27.7 / s tokens) is shorter than the slots, so the kernel skips
// the groups before it and must still match the full sum.
void run_state_case(int d, int slot_tokens, bool reverse, int shift, int64_t n = 300, double decay_step = 0.03) {
  const int64_t b = 2, h = 3, bh = b * h;
  const int slots = static_cast<int>((n + slot_tokens - 1) / slot_tokens) + 1;
  const uint64_t seed = static_cast<uint64_t>(d * 7 + slot_tokens + (reverse ? 3 : 0) + shift);
  const Shape shape{b, n, h, d};
  Tensor k = gpu_test::random_device(shape, DType::BF16, seed, -1, 1);
  Tensor v = gpu_test::random_device(shape, DType::BF16, seed + 1, -1, 1);
  std::vector<double> dec(static_cast<size_t>(h));
  for (int64_t i = 0; i < h; ++i) dec[static_cast<size_t>(i)] = decay_step * static_cast<double>(i + 1);
  Tensor ld = gpu_test::device_from(dec, Shape{h}, DType::F32);
  Tensor out = Tensor::empty(Shape{bh, slots, d, d}, DType::F32, Device::cuda());
  const kernels::cuda::La2View ko{k.raw_data(), n * h * d, d, h * d}, vo{v.raw_data(), n * h * d, d, h * d};
  kernels::cuda::la2_state_pass(d, ko, vo, ld.data<float>(), static_cast<int>(h), bh, n, slot_tokens, slots, slots,
                                reverse, shift, out.data<float>());
  const std::vector<double> kh = host(k), vh = host(v), got = host(out), lam = host(ld);
  std::vector<double> ref(got.size(), 0.0);
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t hi = 0; hi < h; ++hi)
      for (int s = 0; s < slots; ++s) {
        const int64_t ts = static_cast<int64_t>(s) * slot_tokens, te = std::min(n, ts + slot_tokens);
        double* L = ref.data() + ((bi * h + hi) * slots + s) * d * d;
        for (int64_t t = ts; t < te; ++t) {
          const int64_t row = reverse ? n - 1 - t : t;
          const double w = std::exp(-lam[static_cast<size_t>(hi)] * static_cast<double>(te - t - shift));
          const double* kr = kh.data() + ((bi * n + row) * h + hi) * d;
          const double* vr = vh.data() + ((bi * n + row) * h + hi) * d;
          for (int i = 0; i < d; ++i)
            for (int j = 0; j < d; ++j) L[i * d + j] += w * kr[i] * vr[j];
        }
      }
  bool past_n_zero = true;
  for (int64_t r = 0; r < bh; ++r)
    for (int64_t e = 0; e < static_cast<int64_t>(d) * d; ++e)
      past_n_zero = past_n_zero && got[static_cast<size_t>((r * slots + slots - 1) * d * d + e)] == 0.0;
  const double err = rel_rms(got, ref);
  const std::string label = "state pass d=" + std::to_string(d) + " n=" + std::to_string(n) +
                            " slot=" + std::to_string(slot_tokens) + (reverse ? " reverse" : " forward") + " shift=" + std::to_string(shift) + ": rel RMS " +
                            gpu_test::sci(err);
  MESSAGE(label);
  CHECK_MESSAGE(err <= gpu_test::kBF16Tolerance, label);
  CHECK_MESSAGE(past_n_zero, label);
}

}  // namespace

TEST_CASE("gpu: lightning attention state-only pass (strided operands, slots cut by n) vs CPU double") {
  cuda::init(0);
  for (int d : {64, 128}) {
    run_state_case(d, 128, false, 0);
    run_state_case(d, 192, true, 1);
    run_state_case(d, 128, true, 0);
    run_state_case(d, 192, false, 1);
    run_state_case(d, 640, false, 0, 2000, 0.13);  // the decay window: groups of 128, last slot cut by n
    run_state_case(d, 960, true, 1, 2000, 0.13);   // groups of 64
  }
}

TEST_CASE("gpu: lightning attention fast path (d = e) vs CPU double reference") {
  cuda::init(0);
  run_case({1, 2, 63, 64, 64, 0.0, false, DType::BF16});
  run_case({1, 2, 500, 128, 128, 0.0, true, DType::BF16});
  run_case({1, 2, 913, 128, 128, 2.0, true, DType::BF16});
  run_case({2, 3, 913, 64, 64, 0.05, true, DType::BF16});
  run_case({2, 40, 500, 128, 128, 0.02, true, DType::BF16});  // B·H = 80: one segment per head
  run_case({1, 4, 4493, 128, 128, 0.02, true, DType::BF16});  // 24 segments of 3 tiles, 3 state-pass slots each
  run_case({1, 1, 913, 128, 128, 0.01, true, DType::F32});    // f32 operands through the bf16 kernels
  // d = 128 identity runs the wgmma sweep on sm_90a builds: one partial tile; segments without an initial state.
  run_case({1, 2, 63, 128, 128, 1.0, false, DType::BF16});
  run_case({3, 5, 2100, 128, 128, 0.3, false, DType::BF16});
  // 8 segments of 512 tokens, slots of 256: heads with s > 0.11 read only their decay window in the state passes.
  run_case({1, 16, 4096, 128, 128, 0.5, true, DType::BF16});
  // An empty sequence: o and the operand gradients are empty, final state = initial state, d(initial state) =
  // d(final state).
  run_case({1, 2, 0, 128, 128, 0.3, true, DType::BF16});
  run_case({2, 3, 0, 64, 64, 0.1, true, DType::BF16});
}

TEST_CASE("gpu: lightning attention with the feature map fused into the loads (elu1, silu) vs CPU double reference") {
  cuda::init(0);
  using F = kernels::CoreFeatureMap;
  run_case({2, 3, 500, 128, 128, 0.05, true, DType::BF16, false, F::Elu1});   // segmented
  run_case({1, 4, 4493, 128, 128, 0.02, true, DType::BF16, true, F::Silu});   // segmented, slots, [B, N, H, D]
  run_case({3, 64, 131, 64, 64, 0.5, false, DType::BF16, false, F::Silu});    // one segment per head
  run_case({2, 70, 200, 128, 128, 0.0, true, DType::BF16, true, F::Elu1});    // one segment per head
  run_case({1, 2, 300, 64, 65, 0.1, true, DType::BF16, false, F::Elu1});      // generic path: mapped first
}

TEST_CASE("gpu: lightning attention with cosFormer's map as two fused d x d cores vs CPU double reference") {
  cuda::init(0);
  using F = kernels::CoreFeatureMap;
  run_case({2, 3, 500, 128, 128, 0.05, true, DType::BF16, false, F::cosine(2048, 300)});  // segmented
  run_case({1, 2, 8192, 128, 128, 0.01, true, DType::BF16, true, F::cosine(16384, 5000)});  // slots, [B, N, H, D]
  run_case({1, 2, 8192, 64, 64, 0.02, true, DType::F32, false, F::cosine(8192, 0)});  // f32 results added in f32
  run_case({3, 64, 131, 64, 64, 0.5, false, DType::BF16, false, F::cosine(200, 60)});  // one segment per head
  run_case({2, 70, 913, 128, 128, 0.0, true, DType::BF16, true, F::cosine(1000, 87)});  // positions up to M − 1
  run_case({1, 2, 300, 64, 65, 0.1, true, DType::BF16, false, F::cosine(400, 17)});  // generic path: mapped first
}

// The normalised form through kernels::lightning_attention_normalized_{forward,backward} on CUDA (d = e ∈ {64, 128}:
// the tile kernel with the key sum z and the score biases; other d: the core on [v | 1], e + 1 columns, generic
// path) against the composition on the CPU in double.
// bf16 operands; the gradients in bf16, or in f32 with f32_grads (the kernels write either).
void run_normalized_case(int64_t b, int64_t h, int64_t n, int64_t d, double decay, bool init, bool f32_grads = false) {
  const uint64_t seed = static_cast<uint64_t>(n * 17 + d + h * 7 + (init ? 3 : 0));
  const Shape qs{b, h, n, d}, ss{b, h, d, d + 1};
  Tensor q = gpu_test::random_device(qs, DType::BF16, seed, 0.05, 1);  // positive features: den > 0
  Tensor k = gpu_test::random_device(qs, DType::BF16, seed + 1, 0.05, 1);
  Tensor v = gpu_test::random_device(qs, DType::BF16, seed + 2, -1, 1);
  Tensor go = gpu_test::random_device(qs, DType::BF16, seed + 3, -1, 1);
  Tensor gfin = gpu_test::random_device(ss, DType::BF16, seed + 4, -1, 1);
  Tensor s0 = init ? gpu_test::random_device(ss, DType::BF16, seed + 5, 0, 1) : Tensor();
  std::vector<double> dec(static_cast<size_t>(h));
  for (int64_t i = 0; i < h; ++i) dec[static_cast<size_t>(i)] = decay * static_cast<double>(i + 1) / h;
  Tensor ld = gpu_test::device_from(dec, Shape{h}, DType::F32);
  auto run = [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor& ld_, const Tensor& s0_,
                 const Tensor& go_, const Tensor& gfin_, Device dev, DType dt) {
    // out and denominator in the accumulation dtype, as the autograd op keeps them for the backward.
    const DType acc = accumulation_dtype(dt), gd = f32_grads && dt == DType::BF16 ? DType::F32 : dt;
    std::vector<Tensor> r{Tensor::empty(qs, acc, dev),
                          Tensor::empty(ss, dt, dev),
                          Tensor::empty(Shape{b, h, n}, acc, dev),
                          Tensor::empty(qs, gd, dev),
                          Tensor::empty(qs, gd, dev),
                          Tensor::empty(qs, gd, dev),
                          init ? Tensor::empty(ss, dt, dev) : Tensor()};
    kernels::lightning_attention_normalized_forward(q_, k_, v_, ld_, s0_, 64, 1e-6, r[0], r[1], r[2]);
    kernels::lightning_attention_normalized_backward(q_, k_, v_, ld_, s0_, 64, 1e-6, r[0], r[2], go_, gfin_, r[3], r[4], r[5],
                                                     r[6]);
    return r;
  };
  const std::vector<Tensor> got = run(q, k, v, ld, s0, go, gfin, Device::cuda(), DType::BF16);
  const std::vector<Tensor> ref = run(to_cpu64(q), to_cpu64(k), to_cpu64(v), to_cpu64(ld),
                                      init ? to_cpu64(s0) : Tensor(), to_cpu64(go), to_cpu64(gfin), Device::cpu(),
                                      DType::F64);
  const char* names[] = {"o", "final_state", "denominator", "dq", "dk", "dv", "d_initial_state"};
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i].defined()) continue;
    const double err = rel_rms(host(got[i]), ref[i].to_vector<double>());
    const std::string label = std::string("normalized ") + names[i] + " B=" + std::to_string(b) + " H=" +
                              std::to_string(h) + " N=" + std::to_string(n) + " d=" + std::to_string(d) +
                              (init ? " init" : "") + (f32_grads ? " f32 grads" : "") + ": rel RMS " +
                              gpu_test::sci(err);
    MESSAGE(label);
    CHECK_MESSAGE(err <= gpu_test::kBF16Tolerance, label);
  }
}

TEST_CASE("gpu: normalised form (fused tile kernel, generic path for other d) vs CPU double reference") {
  cuda::init(0);
  run_normalized_case(2, 3, 500, 128, 0.05, true);
  run_normalized_case(2, 70, 131, 64, 0.5, false);
  run_normalized_case(1, 2, 913, 128, 0.0, true);    // no decay
  run_normalized_case(3, 2, 63, 64, 2.0, true);      // strong decay, one partial tile
  run_normalized_case(1, 2, 4493, 128, 0.02, true);  // segmented: slots' S and key sums, the last tile partial
  run_normalized_case(1, 3, 2000, 64, 1.0, true);    // segmented, strong decay
  run_normalized_case(1, 2, 4493, 128, 0.0, false, true);  // segmented, no decay (whole slots), f32 gradients
  run_normalized_case(2, 3, 500, 128, 0.05, true, true);   // f32 gradients
  run_normalized_case(1, 3, 300, 96, 0.1, true);     // d = 96: generic path
}

TEST_CASE("gpu: lightning attention without the optional final state writes the same output, bit for bit") {
  cuda::init(0);
  struct Shape5 {
    int64_t b, h, n, m, e;
    bool normalized;
  };
  // Fast path one segment per head and segmented, the generic path, the normalised form segmented.
  for (const Shape5& c : {Shape5{2, 70, 300, 128, 128, false}, Shape5{1, 2, 4493, 128, 128, false},
                          Shape5{1, 2, 500, 64, 65, false}, Shape5{1, 3, 2000, 64, 64, true}}) {
    const Shape qs{c.b, c.h, c.n, c.m}, vs{c.b, c.h, c.n, c.e};
    const Tensor q = gpu_test::random_device(qs, DType::BF16, 71, 0.05, 1);
    const Tensor k = gpu_test::random_device(qs, DType::BF16, 72, 0.05, 1);
    const Tensor v = gpu_test::random_device(vs, DType::BF16, 73, -1, 1);
    std::vector<double> dec(static_cast<size_t>(c.h));
    for (int64_t i = 0; i < c.h; ++i) dec[static_cast<size_t>(i)] = 0.1 * static_cast<double>(i + 1) / c.h;
    const Tensor ld = gpu_test::device_from(dec, Shape{c.h}, DType::F32);
    auto out = [&](bool with_state) {
      const int64_t cols = c.normalized ? c.e + 1 : c.e;
      Tensor fin = with_state ? Tensor::empty(Shape{c.b, c.h, c.m, cols}, DType::F32, Device::cuda()) : Tensor();
      Tensor o = Tensor::empty(vs, c.normalized ? DType::F32 : DType::BF16, Device::cuda());
      Tensor den = Tensor::empty(Shape{c.b, c.h, c.n}, DType::F32, Device::cuda());
      if (c.normalized) kernels::lightning_attention_normalized_forward(q, k, v, ld, Tensor(), 64, 1e-6, o, fin, den);
      else kernels::lightning_attention_forward(q, k, v, ld, Tensor(), 64, o, fin);
      return host(o);
    };
    const std::vector<double> with = out(true), without = out(false);
    CAPTURE(c.h);
    CAPTURE(c.n);
    CHECK(with == without);
  }
}

TEST_CASE("gpu: lightning attention on [B, N, H, D] buffers (in place through strides) vs CPU double reference") {
  cuda::init(0);
  run_case({2, 3, 500, 128, 128, 0.05, true, DType::BF16, true});    // segmented
  run_case({3, 64, 131, 64, 64, 0.5, false, DType::BF16, true});     // one segment per head
  run_case({1, 4, 4493, 128, 128, 0.02, true, DType::BF16, true});   // several state-pass slots per segment
  run_case({1, 2, 500, 64, 65, 0.1, true, DType::BF16, true});       // generic path: contiguous copies
  run_case({1, 2, 300, 128, 128, 0.02, true, DType::F32, true});     // f32: bf16 copies, results cast back
}

TEST_CASE("gpu: lightning attention generic path (d != e) vs CPU double reference") {
  cuda::init(0);
  run_case({1, 2, 500, 64, 65, 0.1, true, DType::BF16});
  run_case({1, 2, 63, 128, 129, 0.0, true, DType::BF16});
  run_case({2, 1, 913, 32, 48, 2.0, true, DType::F32});
  run_case({1, 3, 913, 64, 96, 0.0, false, DType::F32});
  run_case({1, 2, 150, 256, 256, 0.05, true, DType::BF16});  // d = 256: the state lives in a global workspace
  run_case({2, 1, 77, 256, 200, 0.0, true, DType::F32});
}

}  // namespace lat
