// The device-dispatching entry points (kernels/*.h) on CUDA against the same entry points on the CPU: the CPU
// op runs on f32 copies of the inputs; the fp32 CUDA path must agree to a max relative error of 1e-5, the bf16
// path to a relative RMS of 5e-3.
#include <doctest/doctest.h>

#include <string>

#include "gpu_test_util.h"
#include "kernels/activation.h"
#include "kernels/embedding.h"
#include "kernels/loss.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/optim.h"

using namespace lat;
using namespace lat::gpu_test;
namespace k = lat::kernels;

namespace {

Tensor cpu_f32(const Tensor& t) { return host_copy(t, DType::F32); }

}  // namespace

TEST_CASE("kernels::matmul on CUDA equals the CPU op (batched, broadcast weight, transposes, accumulate)") {
  for (DType dt : {DType::F32, DType::BF16})
    for (bool tb : {false, true}) {
      Tensor a = random_device(Shape{3, 37, 64}, dt, 1);
      Tensor b = random_device(tb ? Shape{45, 64} : Shape{64, 45}, dt, 2);
      Tensor out = random_device(Shape{3, 37, 45}, dt, 3);
      Tensor ref = cpu_f32(out);
      k::matmul(a, b, out, false, tb, true);
      k::matmul(cpu_f32(a), cpu_f32(b), ref, false, tb, true);
      expect_close(dt, out, ref, tb ? "matmul NT accumulate" : "matmul NN accumulate");
      Tensor o2 = Tensor::empty(Shape{3, 64, 45}, dt, Device::cuda()), r2 = Tensor::empty(Shape{3, 64, 45}, DType::F32);
      Tensor a2 = random_device(Shape{3, 37, 64}, dt, 4), b2 = random_device(Shape{3, 37, 45}, dt, 5);
      k::matmul(a2, b2, o2, true, false, false);
      k::matmul(cpu_f32(a2), cpu_f32(b2), r2, true, false, false);
      expect_close(dt, o2, r2, "matmul TN batched");
      // 2-D out: the sum over the batch (weight gradients), folded (TN) and looped (NT)
      Tensor w1 = Tensor::empty(Shape{64, 45}, dt, Device::cuda()), rw1 = Tensor::empty(Shape{64, 45}, DType::F32);
      k::matmul(a2, b2, w1, true, false, false);
      k::matmul(cpu_f32(a2), cpu_f32(b2), rw1, true, false, false);
      expect_close(dt, w1, rw1, "matmul TN summed over batch");
      Tensor w2 = Tensor::empty(Shape{37, 37}, dt, Device::cuda()), rw2 = Tensor::empty(Shape{37, 37}, DType::F32);
      k::matmul(a2, a2, w2, false, true, false);
      k::matmul(cpu_f32(a2), cpu_f32(a2), rw2, false, true, false);
      expect_close(dt, w2, rw2, "matmul NT summed over batch");
    }
}

TEST_CASE("kernels gelu/swiglu on CUDA equal the CPU ops") {
  for (DType dt : {DType::F32, DType::BF16}) {
    const Shape s{33, 1001};
    Tensor x = random_device(s, dt, 10, -3, 3), u = random_device(s, dt, 11), g = random_device(s, dt, 12);
    Tensor y = Tensor::empty(s, dt, Device::cuda()), y2 = Tensor::empty(s, dt, Device::cuda());
    Tensor r = Tensor::empty(s, DType::F32), r2 = Tensor::empty(s, DType::F32);
    k::gelu_forward(x, y);
    k::gelu_forward(cpu_f32(x), r);
    expect_close(dt, y, r, "gelu");
    k::gelu_backward(g, x, y);
    k::gelu_backward(cpu_f32(g), cpu_f32(x), r);
    expect_close(dt, y, r, "gelu_backward");
    k::swiglu_forward(x, u, y);
    k::swiglu_forward(cpu_f32(x), cpu_f32(u), r);
    expect_close(dt, y, r, "swiglu");
    k::swiglu_backward(g, x, u, &y, &y2);
    k::swiglu_backward(cpu_f32(g), cpu_f32(x), cpu_f32(u), &r, &r2);
    expect_close(dt, y, r, "swiglu_backward dgate");
    expect_close(dt, y2, r2, "swiglu_backward dup");
  }
}

TEST_CASE("kernels rmsnorm on CUDA equals the CPU op") {
  for (DType dt : {DType::F32, DType::BF16}) {
    const Shape s{4, 9, 768};
    Tensor x = random_device(s, dt, 20, -2, 2), gain = random_device(Shape{768}, dt, 21, 0.5, 1.5);
    Tensor dout = random_device(s, dt, 22);
    Tensor y = Tensor::empty(s, dt, Device::cuda()), rstd = Tensor::empty(Shape{4, 9}, dt, Device::cuda());
    Tensor ry = Tensor::empty(s, DType::F32), rr = Tensor::empty(Shape{4, 9}, DType::F32);
    k::rmsnorm_forward(x, gain, 1e-5, y, rstd);
    k::rmsnorm_forward(cpu_f32(x), cpu_f32(gain), 1e-5, ry, rr);
    expect_close(dt, y, ry, "rmsnorm y");
    expect_close(dt, rstd, rr, "rmsnorm rstd");
    Tensor dx = Tensor::empty(s, dt, Device::cuda()), dg = Tensor::empty(Shape{768}, dt, Device::cuda());
    Tensor rdx = Tensor::empty(s, DType::F32), rdg = Tensor::empty(Shape{768}, DType::F32);
    k::rmsnorm_backward(dout, x, gain, rstd, &dx, &dg);
    k::rmsnorm_backward(cpu_f32(dout), cpu_f32(x), cpu_f32(gain), cpu_f32(rstd), &rdx, &rdg);
    expect_close(dt, dx, rdx, "rmsnorm dx");
    expect_close(dt, dg, rdg, "rmsnorm dgain");
  }
}

TEST_CASE("kernels embedding on CUDA equals the CPU op") {
  const int64_t vocab = 50, dim = 96;
  std::vector<int32_t> iv;
  for (int i = 0; i < 2 * 77; ++i) iv.push_back((i * 31 + 7) % vocab);
  Tensor ids = Tensor::from_vector<int32_t>(iv, Shape{2, 77}, Device::cuda());
  Tensor w = random_device(Shape{vocab, dim}, DType::F32, 30);
  Tensor out = Tensor::empty(Shape{2, 77, dim}, DType::F32, Device::cuda()), ref = Tensor::empty(Shape{2, 77, dim}, DType::F32);
  k::embedding_forward(w, ids, out);
  k::embedding_forward(cpu_f32(w), ids.to(Device::cpu()), ref);
  CHECK(host(out) == host(ref));
  Tensor dout = random_device(Shape{2, 77, dim}, DType::F32, 31);
  Tensor dw = random_device(Shape{vocab, dim}, DType::F32, 32), rdw = cpu_f32(dw);
  k::embedding_backward(dout, ids, dw);
  k::embedding_backward(cpu_f32(dout), ids.to(Device::cpu()), rdw);
  expect_close(DType::F32, dw, rdw, "embedding_backward");
  Tensor bad = Tensor::from_vector<int32_t>({1, vocab}, Shape{2}, Device::cuda());
  Tensor o = Tensor::empty(Shape{2, dim}, DType::F32, Device::cuda());
  CHECK_THROWS_AS(k::embedding_forward(w, bad, o), Error);
}

TEST_CASE("kernels softmax cross-entropy on CUDA equals the CPU op") {
  for (DType dt : {DType::F32, DType::BF16}) {
    const int64_t rows = 19, vocab = 5003;
    Tensor logits = random_device(Shape{rows, vocab}, dt, 40, -6, 6);
    std::vector<int32_t> tv;
    for (int64_t r = 0; r < rows; ++r) tv.push_back(r % 5 == 2 ? -1 : static_cast<int32_t>((r * 977) % vocab));
    Tensor targets = Tensor::from_vector<int32_t>(tv, Shape{rows}, Device::cuda());
    Tensor ctargets = targets.to(Device::cpu());
    // The loss and the statistics are fp32 for bf16 logits too (accumulation_dtype).
    Tensor loss = Tensor::empty(Shape{}, DType::F32, Device::cuda());
    Tensor stats = Tensor::empty(Shape{rows + 1}, DType::F32, Device::cuda());
    Tensor rloss = Tensor::empty(Shape{}, DType::F32), rstats = Tensor::empty(Shape{rows + 1}, DType::F32);
    k::softmax_cross_entropy_forward(logits, targets, -1, loss, stats);
    k::softmax_cross_entropy_forward(cpu_f32(logits), ctargets, -1, rloss, rstats);
    expect_close(dt, loss, rloss, "cross-entropy loss");
    expect_close(DType::F32, stats, rstats, "cross-entropy stats (lse, 1/C)");
    Tensor dloss = Tensor::full(Shape{}, 0.37, DType::F32, Device::cuda());
    Tensor out = Tensor::empty_like(logits), rout = Tensor::empty(Shape{rows, vocab}, DType::F32);
    k::softmax_cross_entropy_backward(logits, targets, -1, stats, dloss, out);
    k::softmax_cross_entropy_backward(cpu_f32(logits), ctargets, -1, rstats, cpu_f32(dloss), rout);
    expect_close(dt, out, rout, "cross-entropy backward");
    Tensor inplace = logits.clone();
    k::softmax_cross_entropy_backward(inplace, targets, -1, stats, dloss, inplace);  // dlogits may be the logits
    expect_close(dt, inplace, rout, "cross-entropy backward in place");
    std::vector<int32_t> all_ignored(static_cast<size_t>(rows), -1);
    Tensor ti = Tensor::from_vector<int32_t>(all_ignored, Shape{rows}, Device::cuda());
    k::softmax_cross_entropy_forward(logits, ti, -1, loss, stats);
    CHECK(loss.item() == 0.0);
    k::softmax_cross_entropy_backward(logits, ti, -1, stats, dloss, out);
    CHECK(max_rel(host(out), std::vector<double>(static_cast<size_t>(rows * vocab), 0.0)) == 0.0);
  }
}

TEST_CASE("kernels adamw_step and sum_of_squares on CUDA equal the CPU ops") {
  const Shape s{1000, 77};
  Tensor p = random_device(s, DType::F32, 50), g = random_device(s, DType::F32, 51);
  Tensor m = random_device(s, DType::F32, 52, -0.01, 0.01), v = random_device(s, DType::F32, 53, 0, 1e-4);
  Tensor rp = cpu_f32(p), rg = cpu_f32(g), rm = cpu_f32(m), rv = cpu_f32(v);
  k::AdamWStep step;
  step.lr = 1e-3, step.weight_decay = 0.1, step.bias_correction1 = 1 - 0.9 * 0.9 * 0.9;
  step.bias_correction2 = 1 - 0.95 * 0.95 * 0.95;
  k::adamw_step(p, g, m, v, step);
  k::adamw_step(rp, rg, rm, rv, step);
  expect_close(DType::F32, p, rp, "adamw p");
  expect_close(DType::F32, m, rm, "adamw m");
  expect_close(DType::F32, v, rv, "adamw v");
  const double gpu = k::sum_of_squares(g), cpu = k::sum_of_squares(rg);
  // The GPU sums up to 32 squares per thread in fp32 before going to double (the CPU sums in double throughout):
  // measured 6.1e-10 relative on the H200, far inside the fp32 contract.
  CHECK(std::abs(gpu - cpu) / cpu < 1e-6);
}

TEST_CASE("kernels multi-tensor sum_of_squares, clip_factor and scaled adamw_step on CUDA equal the CPU ops") {
  // Three tensors of odd sizes (one below a chunk, one across several), as the trainer's fused step runs them.
  const std::vector<Shape> shapes{Shape{7}, Shape{1000, 77}, Shape{3, 5001}};
  std::vector<Tensor> gp, gg, gm, gv, cp, cg, cm, cv;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const uint64_t seed = 60 + 4 * i;
    gp.push_back(random_device(shapes[i], DType::F32, seed));
    gg.push_back(random_device(shapes[i], DType::F32, seed + 1));
    gm.push_back(random_device(shapes[i], DType::F32, seed + 2, -0.01, 0.01));
    gv.push_back(random_device(shapes[i], DType::F32, seed + 3, 0, 1e-4));
    cp.push_back(cpu_f32(gp.back())), cg.push_back(cpu_f32(gg.back()));
    cm.push_back(cpu_f32(gm.back())), cv.push_back(cpu_f32(gv.back()));
  }
  Tensor gsum = Tensor::empty(Shape{}, DType::F32, Device::cuda()), csum = Tensor::empty(Shape{}, DType::F64);
  k::sum_of_squares(gg, gsum);
  k::sum_of_squares(cg, csum);
  CHECK(std::abs(gsum.item() - csum.item()) / csum.item() < 1e-6);
  Tensor gnorm = Tensor::empty(Shape{}, DType::F32, Device::cuda()), gfac = Tensor::empty_like(gnorm);
  Tensor cnorm = Tensor::empty(Shape{}, DType::F64), cfac = Tensor::empty_like(cnorm);
  const double max_norm = 0.5 * std::sqrt(csum.item());  // clips by 1/2
  k::clip_factor(gsum, max_norm, gnorm, gfac);
  k::clip_factor(csum, max_norm, cnorm, cfac);
  CHECK(std::abs(gnorm.item() - cnorm.item()) / cnorm.item() < 1e-6);
  CHECK(std::abs(gfac.item() - cfac.item()) < 1e-6);
  k::AdamWStep step;
  step.lr = 1e-3, step.bias_correction1 = 0.1, step.bias_correction2 = 0.05;
  std::vector<k::AdamWParam> gpu, cpu;
  for (size_t i = 0; i < shapes.size(); ++i) {
    gpu.push_back({gp[i], gg[i], gm[i], gv[i], i == 0 ? 0.0 : 0.1});
    cpu.push_back({cp[i], cg[i], cm[i], cv[i], i == 0 ? 0.0 : 0.1});
  }
  k::adamw_step(gpu, step, gfac);
  k::adamw_step(cpu, step, cfac);
  for (size_t i = 0; i < shapes.size(); ++i) {
    expect_close(DType::F32, gp[i], cp[i], "multi-tensor adamw p " + std::to_string(i));
    expect_close(DType::F32, gm[i], cm[i], "multi-tensor adamw m " + std::to_string(i));
    expect_close(DType::F32, gv[i], cv[i], "multi-tensor adamw v " + std::to_string(i));
  }
}
