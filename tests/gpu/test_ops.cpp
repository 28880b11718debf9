// Hand-written CUDA kernels against double-precision references computed on the host from the same stored
// inputs (the CPU ops' math: kernels/cpu/{activation,norm,embedding,optim}.cpp). fp32 path: max relative error
// ≤ 1e-5; bf16 path: relative RMS ≤ 5e-3. Shapes include odd sizes that miss the 8-element vector path.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "gpu_test_util.h"
#include "kernels/cuda/activations.cuh"
#include "kernels/cuda/adamw.cuh"
#include "kernels/cuda/cross_entropy.cuh"
#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/rmsnorm.cuh"

using namespace lat;
using namespace lat::gpu_test;
namespace kc = lat::kernels::cuda;

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double gelu(double x) { return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
double gelu_grad(double x) {
  const double t = std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.7978845608028654 * (1 + 3 * 0.044715 * x * x);
}

void check_close(DType dtype, const Tensor& got, const std::vector<double>& ref, const char* what) {
  const double err = error_for(dtype, host(got), ref);
  const std::string note = std::string(what) + " " + dtype_name(dtype) + ": error " + sci(err);
  MESSAGE(note);
  CHECK(err < tolerance_for(dtype));
}

}  // namespace

TEST_CASE("silu, gelu, swiglu forward and backward") {
  for (DType dt : {DType::F32, DType::BF16})
    for (int64_t n : {int64_t{1}, int64_t{1000003}, int64_t{4096}}) {
      CAPTURE(n);
      Tensor x = random_device(Shape{n}, dt, 11, -4, 4), u = random_device(Shape{n}, dt, 12), dy = random_device(Shape{n}, dt, 13);
      auto hx = host(x), hu = host(u), hdy = host(dy);
      std::vector<double> r1(n), r2(n), r3(n), r4(n), r5(n), r6(n), r7(n);
      for (int64_t i = 0; i < n; ++i) {
        const double s = sigmoid(hx[i]);
        r1[i] = hx[i] * s;
        r2[i] = hdy[i] * s * (1 + hx[i] * (1 - s));
        r3[i] = gelu(hx[i]);
        r4[i] = hdy[i] * gelu_grad(hx[i]);
        r5[i] = hx[i] * s * hu[i];
        r6[i] = hdy[i] * hu[i] * s * (1 + hx[i] * (1 - s));
        r7[i] = hdy[i] * hx[i] * s;
      }
      Tensor y = Tensor::empty_like(x), a = Tensor::empty_like(x), b = Tensor::empty_like(x);
      kc::silu_forward(x.raw_data(), y.raw_data(), dt, n);
      check_close(dt, y, r1, "silu_forward");
      kc::silu_backward(x.raw_data(), dy.raw_data(), y.raw_data(), dt, n);
      check_close(dt, y, r2, "silu_backward");
      kc::gelu_forward(x.raw_data(), y.raw_data(), dt, n);
      check_close(dt, y, r3, "gelu_forward");
      kc::gelu_backward(x.raw_data(), dy.raw_data(), y.raw_data(), dt, n);
      check_close(dt, y, r4, "gelu_backward");
      kc::swiglu_forward(x.raw_data(), u.raw_data(), y.raw_data(), dt, n);
      check_close(dt, y, r5, "swiglu_forward");
      kc::swiglu_backward(x.raw_data(), u.raw_data(), dy.raw_data(), a.raw_data(), b.raw_data(), dt, n);
      check_close(dt, a, r6, "swiglu_backward dgate");
      check_close(dt, b, r7, "swiglu_backward dup");
      a.fill_(123.0);
      kc::swiglu_backward(x.raw_data(), u.raw_data(), dy.raw_data(), nullptr, a.raw_data(), dt, n);
      check_close(dt, a, r7, "swiglu_backward dup only");
    }
}

TEST_CASE("rmsnorm forward and backward") {
  // No dim = 1 case: there dx = rstd·w·g·(1 − x²/(x² + eps)) cancels to ~eps/x², so any fp32 evaluation (the CPU
  // op's included) is far from the double reference in relative terms; dim = 7 covers the odd scalar path.
  for (DType dt : {DType::F32, DType::BF16})
    for (auto [rows, dim] : {std::pair<int64_t, int64_t>{37, 768}, {300, 100}, {1, 7}, {5, 4104}}) {
      CAPTURE(rows);
      CAPTURE(dim);
      const double eps = 1e-5;
      Tensor x = random_device(Shape{rows, dim}, dt, 21, -2, 2);
      Tensor w = random_device(Shape{dim}, DType::F32, 22, 0.5, 1.5);
      Tensor dy = random_device(Shape{rows, dim}, dt, 23);
      auto hx = host(x), hw = host(w), hdy = host(dy);
      std::vector<double> ry(rows * dim), rr(rows), rdx(rows * dim), rdw(dim, 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        double ss = 0, dot = 0;
        for (int64_t j = 0; j < dim; ++j) {
          ss += hx[r * dim + j] * hx[r * dim + j];
          dot += hw[j] * hdy[r * dim + j] * hx[r * dim + j];
        }
        const double s = 1 / std::sqrt(ss / dim + eps);
        rr[r] = s;
        for (int64_t j = 0; j < dim; ++j) {
          ry[r * dim + j] = hx[r * dim + j] * s * hw[j];
          rdx[r * dim + j] = s * hw[j] * hdy[r * dim + j] - hx[r * dim + j] * s * s * s * dot / dim;
          rdw[j] += hdy[r * dim + j] * hx[r * dim + j] * s;
        }
      }
      Tensor y = Tensor::empty_like(x), dx = Tensor::empty_like(x);
      Tensor rstd = Tensor::empty(Shape{rows}, DType::F32, Device::cuda());
      Tensor dw = Tensor::empty(Shape{dim}, DType::F32, Device::cuda());
      kc::rmsnorm_forward(x.raw_data(), w.raw_data(), y.raw_data(), rstd.data<float>(), dt, DType::F32, rows, dim,
                          static_cast<float>(eps));
      check_close(dt, y, ry, "rmsnorm_forward y");
      check_close(DType::F32, rstd, rr, "rmsnorm_forward rstd");
      kc::rmsnorm_backward(x.raw_data(), w.raw_data(), dy.raw_data(), dx.raw_data(), dw.raw_data(), dt, DType::F32,
                           rows, dim, static_cast<float>(eps));
      check_close(dt, dx, rdx, "rmsnorm_backward dx");
      // dw is fp32 but sums bf16-rounded products over rows: bf16 inputs, bf16 tolerance.
      check_close(dt, dw, rdw, "rmsnorm_backward dw");
      // accumulate into dw
      kc::rmsnorm_backward(x.raw_data(), w.raw_data(), dy.raw_data(), nullptr, dw.raw_data(), dt, DType::F32, rows,
                           dim, static_cast<float>(eps), true);
      for (double& v : rdw) v *= 2;
      check_close(dt, dw, rdw, "rmsnorm_backward dw accumulated");
    }
}

TEST_CASE("softmax cross-entropy forward and backward over a large vocabulary") {
  for (DType dt : {DType::F32, DType::BF16})
    for (auto [rows, vocab] : {std::pair<int64_t, int64_t>{24, 50304}, {7, 1001}, {3, 1}}) {
      CAPTURE(rows);
      CAPTURE(vocab);
      Tensor logits = random_device(Shape{rows, vocab}, dt, 31, -8, 8);
      std::vector<double> tv(rows);
      for (int64_t r = 0; r < rows; ++r) tv[r] = static_cast<double>((r * 7919 + 13) % vocab);
      if (rows > 2) tv[1] = -1;  // ignored row
      Tensor targets = Tensor::from_vector<double>(tv, Shape{rows}).to(DType::I32).to(Device::cuda());
      Tensor dloss = random_device(Shape{rows}, DType::F32, 32, 0.5, 1.5);
      auto hl = host(logits), hd = host(dloss);
      const float scale = 1.0f / static_cast<float>(rows);
      std::vector<double> rloss(rows), rlse(rows), rgrad(rows * vocab);
      for (int64_t r = 0; r < rows; ++r) {
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < vocab; ++j) mx = std::max(mx, hl[r * vocab + j]);
        for (int64_t j = 0; j < vocab; ++j) s += std::exp(hl[r * vocab + j] - mx);
        const double lse = mx + std::log(s);
        rlse[r] = lse;
        const int64_t t = static_cast<int64_t>(tv[r]);
        rloss[r] = t < 0 ? 0.0 : lse - hl[r * vocab + t];
        const double g = t < 0 ? 0.0 : static_cast<double>(scale) * hd[r];
        for (int64_t j = 0; j < vocab; ++j) rgrad[r * vocab + j] = g * (std::exp(hl[r * vocab + j] - lse) - (j == t));
      }
      Tensor loss = Tensor::empty(Shape{rows}, DType::F32, Device::cuda());
      Tensor lse = Tensor::empty(Shape{rows}, DType::F32, Device::cuda());
      kc::cross_entropy_forward(logits.raw_data(), targets.data<int32_t>(), loss.data<float>(), lse.data<float>(), dt,
                                rows, vocab);
      check_close(DType::F32, loss, rloss, "cross_entropy loss");
      check_close(DType::F32, lse, rlse, "cross_entropy lse");
      Tensor dlogits = Tensor::empty_like(logits);
      kc::cross_entropy_backward(logits.raw_data(), targets.data<int32_t>(), lse.data<float>(), dloss.data<float>(), 1,
                                 scale, dlogits.raw_data(), dt, rows, vocab);
      check_close(dt, dlogits, rgrad, "cross_entropy dlogits");
      // in place, shared upstream gradient (stride 0)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < vocab; ++j) rgrad[r * vocab + j] *= (tv[r] < 0 ? 0.0 : hd[0] / hd[r]);
      kc::cross_entropy_backward(logits.raw_data(), targets.data<int32_t>(), lse.data<float>(), dloss.data<float>(), 0,
                                 scale, logits.raw_data(), dt, rows, vocab);
      check_close(dt, logits, rgrad, "cross_entropy dlogits in place");
    }
}

TEST_CASE("embedding forward and scatter-add backward") {
  for (DType dt : {DType::F32, DType::BF16})
    for (auto [n, vocab, dim] : {std::tuple<int64_t, int64_t, int64_t>{4096, 100, 768}, {33, 7, 13}}) {
      CAPTURE(n);
      CAPTURE(dim);
      Tensor table = random_device(Shape{vocab, dim}, dt, 41);
      std::vector<double> iv(n);
      for (int64_t i = 0; i < n; ++i) iv[i] = static_cast<double>((i * i + 3 * i) % vocab);  // many repeats
      Tensor ids = Tensor::from_vector<double>(iv, Shape{n}).to(DType::I32).to(Device::cuda());
      Tensor dout = random_device(Shape{n, dim}, dt, 42);
      auto ht = host(table), hd = host(dout);
      std::vector<double> rout(n * dim), rgrad(vocab * dim, 0.0);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < dim; ++j) {
          const int64_t id = static_cast<int64_t>(iv[i]);
          rout[i * dim + j] = ht[id * dim + j];
          rgrad[id * dim + j] += hd[i * dim + j];
        }
      Tensor out = Tensor::empty(Shape{n, dim}, dt, Device::cuda());
      kc::embedding_forward(ids.data<int32_t>(), table.raw_data(), dt, out.raw_data(), dt, n, vocab, dim);
      CHECK(host(out) == rout);  // a gather is exact
      Tensor dtable = Tensor::zeros(Shape{vocab, dim}, DType::F32, Device::cuda());
      kc::embedding_backward(ids.data<int32_t>(), dout.raw_data(), dt, dtable.data<float>(), n, vocab, dim);
      check_close(DType::F32, dtable, rgrad, "embedding_backward");
    }
}

TEST_CASE("multi-tensor AdamW equals the CPU step, global norm and clip factor") {
  // 30 tensors: more than one launch group, sizes that are and are not multiples of the chunk.
  std::vector<int64_t> sizes;
  for (int i = 0; i < 30; ++i) sizes.push_back(i % 3 == 0 ? 8192 * (i + 1) : 1000 * i + 7);
  std::vector<Tensor> p, g, m, v, pb;
  std::vector<kc::AdamWTensor> list;
  std::vector<kc::NormTensor> norms;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const DType gd = i % 2 ? DType::BF16 : DType::F32;
    p.push_back(random_device(Shape{sizes[i]}, DType::F32, 50 + i));
    g.push_back(random_device(Shape{sizes[i]}, gd, 100 + i));
    m.push_back(random_device(Shape{sizes[i]}, DType::F32, 150 + i, -0.1, 0.1));
    v.push_back(random_device(Shape{sizes[i]}, DType::F32, 200 + i, 0.0, 0.01));
    pb.push_back(Tensor::empty(Shape{sizes[i]}, DType::BF16, Device::cuda()));
    kc::AdamWTensor t;
    t.param = p.back().data<float>(), t.grad = g.back().raw_data(), t.grad_dtype = gd;
    t.m = m.back().data<float>(), t.v = v.back().data<float>(), t.param_bf16 = pb.back().raw_data();
    t.n = sizes[i], t.weight_decay = i % 4 == 0 ? 0.0 : 0.1;
    list.push_back(t);
    norms.push_back({g.back().raw_data(), gd, sizes[i]});
  }
  // Host copies before the step.
  std::vector<std::vector<double>> hp, hg, hm, hv;
  double sumsq = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    hp.push_back(host(p[i])), hg.push_back(host(g[i])), hm.push_back(host(m[i])), hv.push_back(host(v[i]));
    for (double x : hg.back()) sumsq += x * x;
  }
  Tensor dev_sumsq = Tensor::empty(Shape{}, DType::F32, Device::cuda());
  Tensor scale = Tensor::empty(Shape{}, DType::F32, Device::cuda());
  Tensor norm = Tensor::empty(Shape{}, DType::F32, Device::cuda());
  kc::global_sum_squares(norms.data(), static_cast<int64_t>(norms.size()), dev_sumsq.data<float>());
  CHECK(std::abs(dev_sumsq.item() - sumsq) / sumsq < kF32Tolerance);
  const float max_norm = static_cast<float>(0.5 * std::sqrt(sumsq));
  kc::clip_scale_from_sum_squares(dev_sumsq.data<float>(), max_norm, scale.data<float>(), norm.data<float>());
  const double ref_scale = max_norm / (std::sqrt(sumsq) + 1e-6);
  CHECK(std::abs(scale.item() - ref_scale) / ref_scale < kF32Tolerance);

  kc::AdamWHyper h;
  h.lr = 3e-3, h.beta1 = 0.9, h.beta2 = 0.95, h.eps = 1e-8;
  h.bias_correction1 = 1 - std::pow(0.9, 7), h.bias_correction2 = 1 - std::pow(0.95, 7);
  h.grad_scale = scale.data<float>();
  kc::adamw_step(list.data(), static_cast<int64_t>(list.size()), h);
  const float fscale = static_cast<float>(scale.item());
  double worst = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    // The CPU kernel's float arithmetic (kernels/cpu/optim.cpp), on the scaled gradient.
    const float beta1 = 0.9f, beta2 = 0.95f, omb1 = static_cast<float>(1.0 - 0.9), omb2 = static_cast<float>(1.0 - 0.95);
    const float decay = static_cast<float>(1.0 - h.lr * list[i].weight_decay);
    const float step_size = static_cast<float>(h.lr / h.bias_correction1);
    const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(h.bias_correction2));
    const float eps = 1e-8f;
    std::vector<double> rp(sizes[i]), rm(sizes[i]), rv(sizes[i]);
    for (int64_t e = 0; e < sizes[i]; ++e) {
      const float gi = static_cast<float>(hg[i][e]) * fscale;
      const float mi = beta1 * static_cast<float>(hm[i][e]) + omb1 * gi;
      const float vi = beta2 * static_cast<float>(hv[i][e]) + omb2 * gi * gi;
      rm[e] = mi, rv[e] = vi;
      rp[e] = static_cast<float>(hp[i][e]) * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
    }
    worst = std::max({worst, max_rel(host(p[i]), rp), max_rel(host(m[i]), rm), max_rel(host(v[i]), rv)});
    CHECK(rel_rms(host(pb[i]), rp) < kBF16Tolerance);
  }
  const std::string note = "adamw worst max relative error over p, m, v: " + sci(worst);
  MESSAGE(note);
  CHECK(worst < kF32Tolerance);
}
