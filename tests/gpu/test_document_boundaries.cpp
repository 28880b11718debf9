// gpu: document boundaries on CUDA (issue 22; compiled, not yet run on a GPU). The Lightning Attention-2 core
// with document starts takes the generic per-token path (kernels/cuda/lightning_attention_generic.cu) in both
// output forms, for d = e = 64 (where it replaces the tile kernels) and d ≠ e; it is held against the CPU op
// in double with the same starts, which tests/attention/test_document_boundaries*.cpp hold to "packed equals
// separate"; RoPE's and cosFormer's document positions likewise. FAVOR+ and softmax refuse document starts on
// CUDA.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "autograd/attention_ops.h"
#include "core/error.h"
#include "gpu_test_util.h"
#include "kernels/feature_maps.h"
#include "kernels/lightning_attention.h"
#include "kernels/rope.h"
#include "kernels/softmax_attention.h"

namespace lat {
namespace {

// Row 0: documents at 0, 4 (a tile edge of the CPU reference's block 4 and of 64-token tiles' multiples
// below), 5 and 70 (past one 64-token tile); row 1: one document continuing the initial state (negative
// start) then one at 33; every row spans N = 100.
Tensor starts_host(int64_t n) {
  std::vector<int32_t> s;
  for (int64_t t = 0; t < n; ++t) s.push_back(t < 4 ? 0 : t < 5 ? 4 : t < 70 ? 5 : 70);
  for (int64_t t = 0; t < n; ++t) s.push_back(t < 33 ? -7 : 33);
  return Tensor::from_vector<int32_t>(s, Shape{2, n});
}

Tensor to_cpu64(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::F64).contiguous();
}

void run_boundaries_case(int64_t m, int64_t e, DType dtype, bool normalized) {
  const int64_t B = 2, H = 3, N = 100;
  const uint64_t seed = static_cast<uint64_t>(m * 13 + e + (normalized ? 7 : 0));
  const Tensor starts = starts_host(N), starts_dev = starts.to(Device::cuda());
  const double lo = normalized ? 0.05 : -1.0;
  const Shape qs{B, H, N, m}, vs{B, H, N, e}, ss{B, H, m, normalized ? e + 1 : e};
  Tensor q = gpu_test::random_device(qs, dtype, seed, lo, 1),
         k = gpu_test::random_device(qs, dtype, seed + 1, lo, 1);
  Tensor v = gpu_test::random_device(vs, dtype, seed + 2), go = gpu_test::random_device(vs, dtype, seed + 3);
  Tensor init = gpu_test::random_device(ss, dtype, seed + 4, normalized ? 0.0 : -1.0, 1);
  Tensor gfin = gpu_test::random_device(ss, dtype, seed + 5);
  const Tensor ld = gpu_test::device_from({0.0, 0.05, 0.5}, Shape{H}, DType::F32);
  auto cuda_like = [&](const Shape& s) { return Tensor::empty(s, dtype, Device::cuda()); };
  auto cpu64 = [](const Shape& s) { return Tensor::empty(s, DType::F64); };
  // The normalised form's output is kept in f32 for its backward (as the autograd op keeps it).
  Tensor o = Tensor::empty(vs, normalized ? DType::F32 : dtype, Device::cuda());
  Tensor fin = cuda_like(ss), dq = cuda_like(qs), dk = cuda_like(qs), dv = cuda_like(vs);
  Tensor dinit = cuda_like(ss);
  Tensor ro = cpu64(vs), rfin = cpu64(ss), rdq = cpu64(qs), rdk = cpu64(qs), rdv = cpu64(vs),
         rdinit = cpu64(ss);
  const Tensor q64 = to_cpu64(q), k64 = to_cpu64(k), v64 = to_cpu64(v), go64 = to_cpu64(go),
               gf64 = to_cpu64(gfin);
  const Tensor ld64 = to_cpu64(ld), init64 = to_cpu64(init);
  if (normalized) {
    const double eps = 1e-6;
    Tensor den = Tensor::empty(Shape{B, H, N}, DType::F32, Device::cuda()), rden = cpu64(Shape{B, H, N});
    kernels::lightning_attention_normalized_forward(q, k, v, ld, init, 64, eps, o, fin, den, starts_dev);
    kernels::lightning_attention_normalized_backward(q, k, v, ld, init, 64, eps, o, den, go, gfin, dq, dk, dv,
                                                     dinit, starts_dev);
    kernels::lightning_attention_normalized_forward(q64, k64, v64, ld64, init64, 4, eps, ro, rfin, rden,
                                                    starts);
    kernels::lightning_attention_normalized_backward(q64, k64, v64, ld64, init64, 4, eps, ro, rden, go64,
                                                     gf64, rdq, rdk, rdv, rdinit, starts);
  } else {
    kernels::lightning_attention_forward(q, k, v, ld, init, 64, o, fin, nullptr,
                                         kernels::CoreFeatureMap::Elu1, starts_dev);
    kernels::lightning_attention_backward(q, k, v, ld, init, 64, go, gfin, dq, dk, dv, dinit, Tensor(),
                                          kernels::CoreFeatureMap::Elu1, starts_dev);
    kernels::lightning_attention_forward(q64, k64, v64, ld64, init64, 4, ro, rfin, nullptr,
                                         kernels::CoreFeatureMap::Elu1, starts);
    kernels::lightning_attention_backward(q64, k64, v64, ld64, init64, 4, go64, gf64, rdq, rdk, rdv, rdinit,
                                          Tensor(), kernels::CoreFeatureMap::Elu1, starts);
  }
  // The generic path accumulates in fp32 and writes the operands' dtype: the op contract's bf16 measure for
  // bf16, 1e-4 relative RMS for f32 (the per-token recurrence sums N terms in fp32, as the existing generic
  // cases).
  const double tol = dtype == DType::BF16 ? gpu_test::kBF16Tolerance : 1e-4;
  const std::string tag = std::string(normalized ? "normalized" : "core elu1") + " m=" + std::to_string(m) +
                          " e=" + std::to_string(e) + " " + dtype_name(dtype);
  auto check = [&](const char* name, const Tensor& got, const Tensor& ref) {
    const double err = gpu_test::rel_rms(gpu_test::host(got), ref.to_vector<double>());
    const std::string label = tag + " " + name + " with document starts: rel RMS " + gpu_test::sci(err);
    MESSAGE(label);
    CHECK_MESSAGE(err <= tol, label);
  };
  check("o", o, ro);
  check("final_state", fin, rfin);
  check("dq", dq, rdq);
  check("dk", dk, rdk);
  check("dv", dv, rdv);
  check("d_initial_state", dinit, rdinit);
}

}  // namespace

TEST_CASE("gpu: LA2 with document boundaries (generic path, both forms) equals the CPU op in double") {
  for (DType dtype : {DType::F32, DType::BF16})
    for (bool normalized : {false, true}) {
      run_boundaries_case(64, 64, dtype, normalized);  // where the tile kernels would run without boundaries
      run_boundaries_case(16, 24, dtype, normalized);
    }
}

TEST_CASE("gpu: RoPE and cosFormer restart positions at document starts as the CPU ops do") {
  const Tensor starts = starts_host(100), starts_dev = starts.to(Device::cuda());
  for (DType dtype : {DType::F32, DType::BF16}) {
    const Tensor x = gpu_test::random_device(Shape{2, 3, 100, 8}, dtype, 21);
    const Tensor x64 = to_cpu64(x);
    Tensor y = Tensor::empty(x.shape(), dtype, Device::cuda()), ry = Tensor::empty(x.shape(), DType::F64);
    kernels::rope_forward(x, 0, 10000.0, false, y, starts_dev);
    kernels::rope_forward(x64, 0, 10000.0, false, ry, starts);
    gpu_test::expect_close(dtype, y, ry, "rope with document starts");
    Tensor c = Tensor::empty(Shape{2, 3, 100, 16}, dtype, Device::cuda()),
           rc = Tensor::empty(c.shape(), DType::F64);
    kernels::cosine_feature_forward(x, 128, 0, c, starts_dev);
    kernels::cosine_feature_forward(x64, 128, 0, rc, starts);
    gpu_test::expect_close(dtype, c, rc, "cosine feature map with document starts");
  }
}

TEST_CASE("gpu: CUDA ops without document boundaries refuse them with one line naming the op") {
  const Tensor starts = starts_host(8).to(Device::cuda());
  const Tensor x = gpu_test::random_device(Shape{2, 2, 8, 4}, DType::F32, 3);
  Tensor out = Tensor::empty(x.shape(), DType::F32, Device::cuda());
  Tensor lse = Tensor::empty(Shape{2, 2, 8}, DType::F32, Device::cuda());
  CHECK_THROWS_WITH_AS(
      kernels::softmax_attention_forward(x, x, x, 0.5, out, lse, starts),
      doctest::Contains("softmax_attention: the CUDA kernel does not honour document boundaries"), Error);
  const Tensor w = kernels::draw_random_features(1, 0, 0, 6, 4).to(DType::F32).to(Device::cuda());
  CHECK_THROWS_WITH_AS(
      autograd::random_feature_map(autograd::Variable(x), w, false, Tensor(), starts),
      doctest::Contains("random_feature_map: the CUDA kernel does not honour document boundaries"), Error);
}

}  // namespace lat
