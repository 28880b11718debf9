// Core CUDA pieces against the CPU: Philox fills (same numbers on both devices for the same seed and offset),
// device-side strided/casting copies, fill_, sum/broadcast_scalar and the pinned upload buffer.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "core/host_upload.h"
#include "gpu_test_util.h"
#include "kernels/reduce.h"

using namespace lat;
using namespace lat::gpu_test;

TEST_CASE("philox: CUDA fill equals CPU fill for the same (seed, offset)") {
  const int64_t n = (1 << 20) + 13;
  for (DType dtype : {DType::F32, DType::F64, DType::BF16}) {
    CAPTURE(dtype_name(dtype));
    for (bool normal : {false, true}) {
      CAPTURE(normal);
      Tensor cpu = Tensor::empty(Shape{n}, dtype);
      Tensor gpu = Tensor::empty(Shape{n}, dtype, Device::cuda());
      if (normal) {
        fill_normal(cpu, 1234, 777, 0.5, 2.0);
        fill_normal(gpu, 1234, 777, 0.5, 2.0);
      } else {
        fill_uniform(cpu, 1234, 777, -3.0, 5.0);
        fill_uniform(gpu, 1234, 777, -3.0, 5.0);
      }
      Tensor back = gpu.to(Device::cpu());
      const size_t bytes = static_cast<size_t>(n) * dtype_size(dtype);
      const auto* a = static_cast<const unsigned char*>(cpu.raw_data());
      const auto* b = static_cast<const unsigned char*>(back.raw_data());
      // Count differing elements (bit patterns).
      const size_t es = dtype_size(dtype);
      int64_t differing = 0;
      for (size_t i = 0; i < bytes; i += es)
        if (std::memcmp(a + i, b + i, es) != 0) ++differing;
      const std::string note = std::string(dtype_name(dtype)) + (normal ? " normal: " : " uniform: ") +
                               std::to_string(differing) + " of " + std::to_string(n) + " elements differ";
      MESSAGE(note);
      if (normal && dtype == DType::F64) {
        // Double-precision Box–Muller may differ in the last bits (device vs glibc log/cos); the stored float
        // values (what a model sees) must not.
        CHECK(max_rel(host(back), host(cpu)) < 1e-14);
      } else {
        CHECK(differing == 0);
      }
    }
  }
}

TEST_CASE("copy_ on CUDA: strided, casting, both directions, without host staging") {
  Tensor src = random_device(Shape{37, 129, 5}, DType::F32, 1);
  Tensor src_cpu = src.to(Device::cpu());
  // device -> device: transpose + cast
  for (DType dst_dtype : {DType::F32, DType::BF16, DType::F64, DType::I32}) {
    CAPTURE(dtype_name(dst_dtype));
    Tensor t = src.transpose(0, 2).slice(1, 3, 100);
    Tensor d = Tensor::empty(t.shape(), dst_dtype, Device::cuda());
    d.copy_(t);
    Tensor ref = Tensor::empty(t.shape(), dst_dtype);
    ref.copy_(src_cpu.transpose(0, 2).slice(1, 3, 100));
    CHECK(host(d) == host(ref));
    // contiguous cast, then into a strided destination
    Tensor c = t.contiguous().to(dst_dtype);
    CHECK(host(c) == host(ref));
  }
  // tiled transpose path: 2-D and batched, odd sizes, with and without a cast
  for (DType dst_dtype : {DType::F32, DType::BF16}) {
    Tensor m2 = random_device(Shape{129, 1001}, DType::F32, 2);
    Tensor d2 = Tensor::empty(Shape{1001, 129}, dst_dtype, Device::cuda());
    d2.copy_(m2.transpose(0, 1));
    Tensor r2 = Tensor::empty(Shape{1001, 129}, dst_dtype);
    r2.copy_(m2.to(Device::cpu()).transpose(0, 1));
    CHECK(host(d2) == host(r2));
    Tensor m3 = random_device(Shape{3, 67, 45}, DType::F32, 3);
    Tensor d3 = Tensor::empty(Shape{3, 45, 67}, dst_dtype, Device::cuda());
    d3.copy_(m3.transpose(1, 2));
    Tensor r3 = Tensor::empty(Shape{3, 45, 67}, dst_dtype);
    r3.copy_(m3.to(Device::cpu()).transpose(1, 2));
    CHECK(host(d3) == host(r3));
  }
  // row path (same dtype, innermost dim contiguous on both sides: the attention head split/merge), packable and
  // not (odd inner size, unaligned slice start)
  for (DType dtype : {DType::BF16, DType::F32}) {
    for (int64_t d : {int64_t{64}, int64_t{128}, int64_t{5}}) {
      CAPTURE(dtype_name(dtype));
      CAPTURE(d);
      Tensor x = random_device(Shape{2, 33, 3, d}, dtype, 4);  // [B, N, H, D]
      Tensor y = x.transpose(1, 2).contiguous();                // [B, H, N, D]
      Tensor ry = Tensor::empty(Shape{2, 3, 33, d}, dtype);
      ry.copy_(x.to(Device::cpu()).transpose(1, 2));
      CHECK(host(y) == host(ry));
      Tensor z = y.slice(3, 1, d).contiguous();  // rows not 16-byte aligned
      Tensor rz = ry.slice(3, 1, d).contiguous();
      CHECK(host(z) == host(rz));
    }
  }
  // host (strided) -> device (strided)
  Tensor dst = Tensor::zeros(Shape{5, 129, 37}, DType::BF16, Device::cuda());
  Tensor view = dst.transpose(0, 2);  // [37, 129, 5] non-contiguous
  view.copy_(src_cpu);
  Tensor ref = Tensor::empty(Shape{37, 129, 5}, DType::BF16);
  ref.copy_(src_cpu);
  CHECK(host(view) == host(ref));
  // device (strided) -> host (strided)
  Tensor host_dst = Tensor::zeros(Shape{5, 129, 37}, DType::F32);
  Tensor host_view = host_dst.transpose(0, 2);
  host_view.copy_(view);
  CHECK(host(host_view) == host(ref));
}

TEST_CASE("fill_ on CUDA") {
  for (DType dtype : {DType::F32, DType::BF16, DType::F64, DType::I32}) {
    Tensor t = Tensor::empty(Shape{1001, 3}, dtype, Device::cuda());
    t.fill_(-2.71828);
    Tensor ref = Tensor::full(Shape{1001, 3}, -2.71828, dtype);
    CHECK(host(t) == host(ref));
    Tensor col = t.slice(1, 1, 2);
    col.fill_(7.0);
    ref.slice(1, 1, 2).fill_(7.0);
    CHECK(host(t) == host(ref));
  }
}

TEST_CASE("sum and broadcast_scalar on CUDA") {
  for (DType dtype : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(dtype));
    Tensor x = random_device(Shape{3 * 1000 * 1000 + 7}, dtype, 5, -0.5, 1.0);
    Tensor out = Tensor::empty(Shape{}, dtype, Device::cuda());
    kernels::sum(x, out);
    double ref = 0;
    for (double v : host(x)) ref += v;
    CHECK(std::abs(out.item() - ref) / std::abs(ref) < kF32Tolerance);
    Tensor b = Tensor::empty(Shape{12345}, dtype, Device::cuda());
    kernels::broadcast_scalar(out, b, 0.25);
    for (double v : host(b)) REQUIRE(v == doctest::Approx(0.25 * out.item()).epsilon(1e-7));
  }
}

TEST_CASE("pinned buffer uploads") {
  const size_t n = 1 << 20;
  cuda::PinnedBuffer buf(n * sizeof(int32_t));
  for (size_t i = 0; i < n; ++i) buf.as<int32_t>()[i] = static_cast<int32_t>(i * 7 + 3);
  Tensor d = Tensor::empty(Shape{static_cast<int64_t>(n)}, DType::I32, Device::cuda());
  buf.upload(d.raw_data(), n * sizeof(int32_t));
  buf.record_ready();
  buf.wait_ready();
  auto v = d.to_vector<int32_t>();
  bool all = true;
  for (size_t i = 0; i < n; ++i) all = all && v[i] == static_cast<int32_t>(i * 7 + 3);
  CHECK(all);
  cuda::PinnedBuffer moved = std::move(buf);
  CHECK(moved.bytes() == n * sizeof(int32_t));
  CHECK(buf.data() == nullptr);
}

TEST_CASE("HostUploader: a ring of pinned buffers uploads without host waits and delivers every tensor intact") {
  HostUploader uploader;
  std::vector<Tensor> host_tensors, device_tensors;
  // More uploads than ring slots, of growing sizes (slots get reallocated), one of them a non-contiguous view.
  for (int i = 0; i < 11; ++i) {
    std::vector<int32_t> v(static_cast<size_t>(100 + 37 * i));
    for (size_t j = 0; j < v.size(); ++j) v[j] = static_cast<int32_t>(1000 * i + static_cast<int>(j));
    Tensor h = Tensor::from_vector<int32_t>(v, Shape{static_cast<int64_t>(v.size())});
    if (i == 5) h = h.reshape({static_cast<int64_t>(v.size()) / 5, 5}).transpose(0, 1);
    host_tensors.push_back(h);
    device_tensors.push_back(uploader.upload(h, Device::cuda()));
  }
  for (size_t i = 0; i < host_tensors.size(); ++i) {
    CAPTURE(i);
    CHECK(device_tensors[i].device().is_cuda());
    CHECK(device_tensors[i].shape() == host_tensors[i].shape());
    CHECK(device_tensors[i].to(Device::cpu()).to_vector<int32_t>() == host_tensors[i].contiguous().to_vector<int32_t>());
  }
}
