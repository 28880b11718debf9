// Helpers for the gpu-labelled CUDA-vs-CPU suites: random device tensors from Philox, host copies in double,
// and the two error measures of the op contract (fp32 path: max relative error ≤ 1e-5 of the largest reference
// magnitude; bf16 path: relative RMS ≤ 5e-3).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/cuda_context.h"
#include "core/random.h"
#include "core/tensor.h"

namespace lat::gpu_test {

constexpr double kF32Tolerance = 1e-5;
constexpr double kBF16Tolerance = 5e-3;

inline Tensor random_device(const Shape& shape, DType dtype, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::empty(shape, dtype, Device::cuda());
  fill_uniform(t, seed, 0, lo, hi);
  return t;
}

// Values as stored (bf16 rounding included), in double on the host.
inline std::vector<double> host(const Tensor& t) { return t.to(Device::cpu()).to(DType::F64).contiguous().to_vector<double>(); }

inline Tensor device_from(const std::vector<double>& v, const Shape& shape, DType dtype) {
  return Tensor::from_vector<double>(v, shape).to(dtype).to(Device::cuda());
}

// max |a − ref| / max |ref|
inline double max_rel(const std::vector<double>& a, const std::vector<double>& ref) {
  REQUIRE(a.size() == ref.size());
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(ref[i])) return INFINITY;
    diff = std::max(diff, std::abs(a[i] - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  return diff / scale;
}

// ‖a − ref‖₂ / ‖ref‖₂
inline double rel_rms(const std::vector<double>& a, const std::vector<double>& ref) {
  REQUIRE(a.size() == ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) return INFINITY;
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// The contract's measure for the dtype the CUDA path ran in.
inline double error_for(DType dtype, const std::vector<double>& a, const std::vector<double>& ref) {
  return dtype == DType::BF16 ? rel_rms(a, ref) : max_rel(a, ref);
}
// "1.23e-07": short scientific text for test messages.
inline std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

inline double tolerance_for(DType dtype) { return dtype == DType::BF16 ? kBF16Tolerance : kF32Tolerance; }

// A contiguous host copy in the given dtype (the CPU reference's input).
inline Tensor host_copy(const Tensor& t, DType dtype) { return t.to(Device::cpu()).to(dtype).contiguous(); }

// CHECKs the op contract's error measure for `dtype` between a CUDA result and its CPU reference, and prints it.
inline void expect_close(DType dtype, const Tensor& gpu, const Tensor& cpu, const std::string& what) {
  const double err = error_for(dtype, host(gpu), host(cpu));
  const std::string note = what + " " + dtype_name(dtype) + ": error " + sci(err);
  MESSAGE(note);
  CHECK(err < tolerance_for(dtype));
}

}  // namespace lat::gpu_test
