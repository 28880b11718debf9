// The attention family's CUDA kernels (feature maps, RoPE, head RMSNorm, sigmoid gate, flash-style softmax
// attention) against the CPU ops on random inputs: the CPU reference runs in f64 on the values the GPU saw
// (bf16 rounding included); fp32 path max relative error ≤ 1e-5, bf16 path relative RMS ≤ 5e-3.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "autograd/attention_ops.h"
#include "autograd/ops.h"
#include "gpu_test_util.h"
#include "kernels/attention_output.h"
#include "kernels/feature_maps.h"
#include "kernels/rope.h"
#include "kernels/softmax_attention.h"

using namespace lat;
using namespace lat::gpu_test;
namespace k = lat::kernels;

namespace {

Tensor cpu_f64(const Tensor& t) { return host_copy(t, DType::F64); }

Tensor empty_dev(const Shape& s, DType dt) { return Tensor::empty(s, dt, Device::cuda()); }

}  // namespace

// 5,328 elements take 16-byte accesses throughout; 777 leave a partial last pack.
TEST_CASE("elu1 / silu feature maps and the sigmoid gate on CUDA equal the CPU ops") {
  for (DType dt : {DType::F32, DType::BF16})
    for (const Shape& s : {Shape{2, 3, 37, 24}, Shape{1, 3, 37, 7}}) {
      Tensor x = random_device(s, dt, 1, -3, 3), g = random_device(s, dt, 2),
             gate = random_device(s, dt, 3, -4, 4);
      Tensor y = empty_dev(s, dt), y2 = empty_dev(s, dt);
      Tensor r = Tensor::empty(s, DType::F64), r2 = Tensor::empty(s, DType::F64);
      k::elu1_forward(x, y);
      k::elu1_forward(cpu_f64(x), r);
      expect_close(dt, y, r, "elu1");
      k::elu1_backward(x, g, y);
      k::elu1_backward(cpu_f64(x), cpu_f64(g), r);
      expect_close(dt, y, r, "elu1 backward");
      k::silu_forward(x, y);
      k::silu_forward(cpu_f64(x), r);
      expect_close(dt, y, r, "silu");
      k::silu_backward(x, g, y);
      k::silu_backward(cpu_f64(x), cpu_f64(g), r);
      expect_close(dt, y, r, "silu backward");
      k::sigmoid_gate_forward(x, gate, y);
      k::sigmoid_gate_forward(cpu_f64(x), cpu_f64(gate), r);
      expect_close(dt, y, r, "sigmoid_gate");
      k::sigmoid_gate_backward(x, gate, g, y, y2);
      k::sigmoid_gate_backward(cpu_f64(x), cpu_f64(gate), cpu_f64(g), r, r2);
      expect_close(dt, y, r, "sigmoid_gate backward dx");
      expect_close(dt, y2, r2, "sigmoid_gate backward dgate");
      Tensor none, y3 = empty_dev(s, dt), y4 = empty_dev(s, dt);  // one gradient at a time
      k::sigmoid_gate_backward(x, gate, g, y3, none);
      k::sigmoid_gate_backward(x, gate, g, none, y4);
      expect_close(dt, y3, r, "sigmoid_gate backward dx alone");
      expect_close(dt, y4, r2, "sigmoid_gate backward dgate alone");
    }
}

TEST_CASE("cosine feature map and RoPE on CUDA equal the CPU ops (offset positions)") {
  for (DType dt : {DType::F32, DType::BF16}) {
    const Shape s{2, 3, 45, 32}, s2{2, 3, 45, 64};
    Tensor x = random_device(s, dt, 4), g2 = random_device(s2, dt, 5), g = random_device(s, dt, 6);
    Tensor y2 = empty_dev(s2, dt), dx = empty_dev(s, dt);
    Tensor r2 = Tensor::empty(s2, DType::F64), rdx = Tensor::empty(s, DType::F64);
    k::cosine_feature_forward(x, 512, 17, y2);
    k::cosine_feature_forward(cpu_f64(x), 512, 17, r2);
    expect_close(dt, y2, r2, "cosine d 32");
    k::cosine_feature_backward(x, 512, 17, g2, dx);
    k::cosine_feature_backward(cpu_f64(x), 512, 17, cpu_f64(g2), rdx);
    expect_close(dt, dx, rdx, "cosine backward d 32");
    {  // d = 6: feature by feature
      const Shape s6{1, 2, 9, 6}, s6x2{1, 2, 9, 12};
      Tensor x6 = random_device(s6, dt, 13), g6 = random_device(s6x2, dt, 14);
      Tensor y6 = empty_dev(s6x2, dt), dx6 = empty_dev(s6, dt);
      Tensor r6 = Tensor::empty(s6x2, DType::F64), rdx6 = Tensor::empty(s6, DType::F64);
      k::cosine_feature_forward(x6, 12, 3, y6);
      k::cosine_feature_forward(cpu_f64(x6), 12, 3, r6);
      expect_close(dt, y6, r6, "cosine d 6");
      k::cosine_feature_backward(x6, 12, 3, g6, dx6);
      k::cosine_feature_backward(cpu_f64(x6), 12, 3, cpu_f64(g6), rdx6);
      expect_close(dt, dx6, rdx6, "cosine backward d 6");
    }
    // d = 32 takes 16-byte accesses; d = 6 the pair-by-pair path.
    for (const Shape& rs : {s, Shape{1, 2, 9, 6}})
      for (bool inverse : {false, true}) {
        Tensor xr = rs == s ? x : random_device(rs, dt, 12);
        Tensor y = empty_dev(rs, dt), r = Tensor::empty(rs, DType::F64);
        k::rope_forward(xr, 100003, 10000.0, inverse, y);
        k::rope_forward(cpu_f64(xr), 100003, 10000.0, inverse, r);
        expect_close(dt, y, r, std::string(inverse ? "rope inverse (backward)" : "rope") + " d " +
                                   std::to_string(rs.dim(-1)));
      }
  }
}

TEST_CASE("random (FAVOR+) feature map on CUDA equals the CPU op (queries, keys, fixed key stabiliser)") {
  for (DType dt : {DType::F32, DType::BF16}) {
    const int64_t B = 2, H = 3, N = 41, d = 32, m = 64;
    Tensor x = random_device(Shape{B, H, N, d}, dt, 7, -2, 2);
    Tensor w = k::draw_random_features(5, 0, 0, m, d).to(dt).to(Device::cuda());
    Tensor g = random_device(Shape{B, H, N, m}, dt, 8);
    for (int mode = 0; mode < 3; ++mode) {
      const bool is_query = mode == 0;
      const Shape ss = is_query ? Shape{B, H, N} : Shape{B, H};
      Tensor fixed = mode == 2 ? random_device(Shape{B, H}, dt, 9, 1, 2) : Tensor();
      Tensor y = empty_dev(Shape{B, H, N, m}, dt), st = empty_dev(ss, dt);
      Tensor ry = Tensor::empty(Shape{B, H, N, m}, DType::F64), rst = Tensor::empty(ss, DType::F64);
      k::random_feature_forward(x, w, is_query, fixed, y, st);
      k::random_feature_forward(cpu_f64(x), cpu_f64(w), is_query, fixed.defined() ? cpu_f64(fixed) : Tensor(), ry,
                                rst);
      const std::string what = mode == 0 ? "random features (queries)" : mode == 1 ? "random features (keys)"
                                                                                  : "random features (fixed key c)";
      expect_close(dt, st, rst, what + " stabiliser");
      // Keys use their constant as stored (bf16-rounded on the bf16 path): the reference takes the same one.
      if (mode == 1) k::random_feature_forward(cpu_f64(x), cpu_f64(w), false, cpu_f64(st), ry, rst);
      expect_close(dt, y, ry, what);
      // Backward against the CPU on the same y (what autograd saves).
      Tensor dx = empty_dev(Shape{B, H, N, d}, dt), rdx = Tensor::empty(Shape{B, H, N, d}, DType::F64);
      k::random_feature_backward(x, w, y, g, dx);
      k::random_feature_backward(cpu_f64(x), cpu_f64(w), cpu_f64(y), cpu_f64(g), rdx);
      expect_close(dt, dx, rdx, what + " backward");
    }
  }
}

// e = 48 takes 16-byte accesses, e = 13 element by element.
TEST_CASE("head RMSNorm on CUDA equals the CPU op (fp32 statistics)") {
  for (DType dt : {DType::F32, DType::BF16})
    for (const Shape& s : {Shape{3, 5, 29, 48}, Shape{2, 7, 13}}) {
      const int64_t rows = s.numel() / s.dim(-1);
      Tensor x = random_device(s, dt, 10, -2, 2), g = random_device(s, dt, 11);
      Tensor y = empty_dev(s, dt), inv = empty_dev(Shape{rows}, DType::F32), dx = empty_dev(s, dt);
      Tensor ry = Tensor::empty(s, DType::F64), rinv = Tensor::empty(Shape{rows}, DType::F64),
             rdx = Tensor::empty(s, DType::F64);
      k::head_rmsnorm_forward(x, 1e-6, y, inv);
      k::head_rmsnorm_forward(cpu_f64(x), 1e-6, ry, rinv);
      expect_close(dt, y, ry, "head_rmsnorm");
      expect_close(DType::F32, inv, rinv, "head_rmsnorm inv_rms");
      k::head_rmsnorm_backward(y, inv, g, dx);
      k::head_rmsnorm_backward(cpu_f64(y), cpu_f64(inv), cpu_f64(g), rdx);
      expect_close(dt, dx, rdx, "head_rmsnorm backward");
    }
}

namespace {

struct SoftmaxCase {
  int64_t B, H, nq, nk, d, e;
};

// Forward (out, logsumexp) and backward (dq, dk, dv) of one shape against the CPU op in f64.
void check_softmax_attention(DType dt, const SoftmaxCase& c) {
  Tensor q = random_device(Shape{c.B, c.H, c.nq, c.d}, dt, 20, -2, 2);
  Tensor kk = random_device(Shape{c.B, c.H, c.nk, c.d}, dt, 21, -2, 2);
  Tensor v = random_device(Shape{c.B, c.H, c.nk, c.e}, dt, 22);
  Tensor go = random_device(Shape{c.B, c.H, c.nq, c.e}, dt, 23);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
  Tensor o = empty_dev(Shape{c.B, c.H, c.nq, c.e}, dt), lse = empty_dev(Shape{c.B, c.H, c.nq}, DType::F32);
  Tensor ro = Tensor::empty(o.shape(), DType::F64), rlse = Tensor::empty(lse.shape(), DType::F64);
  k::softmax_attention_forward(q, kk, v, scale, o, lse);
  k::softmax_attention_forward(cpu_f64(q), cpu_f64(kk), cpu_f64(v), scale, ro, rlse);
  const std::string tag = "softmax attention [" + std::to_string(c.nq) + "x" + std::to_string(c.nk) + ", d " +
                          std::to_string(c.d) + "]";
  expect_close(dt, o, ro, tag + " out");
  expect_close(DType::F32, lse, rlse, tag + " logsumexp");
  Tensor dq = empty_dev(q.shape(), dt), dk = empty_dev(kk.shape(), dt), dv = empty_dev(v.shape(), dt);
  Tensor rdq = Tensor::empty(q.shape(), DType::F64), rdk = Tensor::empty(kk.shape(), DType::F64),
         rdv = Tensor::empty(v.shape(), DType::F64);
  k::softmax_attention_backward(q, kk, v, o, lse, go, scale, dq, dk, dv);
  // The backward as a function of its inputs: the reference gets the saved out and logsumexp the GPU gave.
  k::softmax_attention_backward(cpu_f64(q), cpu_f64(kk), cpu_f64(v), cpu_f64(o), cpu_f64(lse), cpu_f64(go), scale,
                                rdq, rdk, rdv);
  expect_close(dt, dq, rdq, tag + " dq");
  expect_close(dt, dk, rdk, tag + " dk");
  expect_close(dt, dv, rdv, tag + " dv");
}

}  // namespace

TEST_CASE("flash-style softmax attention on CUDA equals the CPU op (causal, Nq ≤ Nk, odd sizes, d 64 and 128)") {
  for (DType dt : {DType::F32, DType::BF16})
    for (const SoftmaxCase& c : {SoftmaxCase{2, 3, 130, 130, 64, 64}, SoftmaxCase{1, 2, 37, 200, 128, 128},
                                 SoftmaxCase{2, 2, 1, 77, 32, 48}, SoftmaxCase{1, 4, 64, 64, 96, 96}})
      check_softmax_attention(dt, c);
}

// bf16 with d = e ∈ {64, 128} runs the tensor-core kernels (softmax_attention_mma.cu): sequences of many
// 64-row tiles with ragged ends, queries at the end of a longer key sequence, a single query.
TEST_CASE("tensor-core softmax attention on CUDA equals the CPU op (bf16, d = e = 64 and 128, many tiles)") {
  for (const SoftmaxCase& c : {SoftmaxCase{1, 3, 300, 300, 64, 64}, SoftmaxCase{2, 2, 1000, 1000, 128, 128},
                               SoftmaxCase{1, 2, 130, 1000, 128, 128}, SoftmaxCase{2, 1, 257, 513, 64, 64},
                               SoftmaxCase{1, 2, 1, 700, 64, 64}})
    check_softmax_attention(DType::BF16, c);
}

TEST_CASE("autograd attention ops run on CUDA tensors (fp32 statistics, W moved to the device)") {
  using autograd::Variable;
  const Shape s{1, 2, 16, 8};
  Variable x(random_device(s, DType::F32, 30), true);
  Variable y = autograd::head_rmsnorm(autograd::rope(x, 3));
  Tensor w = k::draw_random_features(1, 0, 0, 16, 8);  // f64 on the host, as Attention keeps it
  autograd::RandomFeatureOutput rf = autograd::random_feature_map(y, w, true);
  Variable o = autograd::softmax_attention(rf.features, rf.features, y, 0.5);
  autograd::sum(o).backward();
  CHECK(x.grad().defined());
  CHECK(x.grad().device().is_cuda());
  CHECK(std::isfinite(x.grad().to(Device::cpu()).to(DType::F64).to_vector<double>()[0]));
}
