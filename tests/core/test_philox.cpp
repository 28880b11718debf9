// Philox-4x32-10 against the published Random123 known-answer vectors (kat_vectors), and the device-
// independence of the public streams.
#include <doctest/doctest.h>

#include <set>

#include "core/philox.h"
#include "core/random.h"

using namespace lat;

TEST_CASE("philox4x32-10 matches the Random123 known-answer vectors") {
  struct Kat {
    Philox4x32 ctr;
    uint32_t key0, key1;
    Philox4x32 expected;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff, 0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    Philox4x32 out = philox4x32_10(k.ctr, k.key0, k.key1);
    for (int i = 0; i < 4; ++i) CHECK(out.v[i] == k.expected.v[i]);
  }
}

TEST_CASE("random streams depend only on (seed, offset)") {
  Tensor whole = Tensor::empty(Shape{1000}, DType::F32);
  fill_uniform(whole, 42, 0);
  // The same positions drawn in two pieces at their offsets give the same numbers.
  Tensor a = Tensor::empty(Shape{300}, DType::F32), b = Tensor::empty(Shape{700}, DType::F32);
  fill_uniform(a, 42, 0);
  fill_uniform(b, 42, 300);
  auto w = whole.to_vector<float>(), va = a.to_vector<float>(), vb = b.to_vector<float>();
  for (int i = 0; i < 300; ++i) CHECK(w[i] == va[i]);
  for (int i = 0; i < 700; ++i) CHECK(w[300 + i] == vb[i]);
  // A non-contiguous destination receives the stream in logical row-major order.
  Tensor base = Tensor::empty(Shape{20, 50}, DType::F32);
  Tensor t = base.transpose(0, 1);
  fill_uniform(t, 42, 0);
  auto tv = t.contiguous().to_vector<float>();
  for (int i = 0; i < 1000; ++i) CHECK(tv[i] == w[i]);
  // A different seed gives different numbers.
  Tensor other = Tensor::empty(Shape{1000}, DType::F32);
  fill_uniform(other, 43, 0);
  CHECK(other.to_vector<float>() != w);
}

TEST_CASE("uniform and normal streams have the right moments") {
  const int64_t n = 200000;
  Tensor u = Tensor::empty(Shape{n}, DType::F64), z = Tensor::empty(Shape{n}, DType::F64);
  fill_uniform(u, 7, 0);
  fill_normal(z, 7, 0);
  double su = 0, sz = 0, szz = 0, lo = 1, hi = 0;
  for (double x : u.to_vector<double>()) {
    su += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  for (double x : z.to_vector<double>()) {
    sz += x;
    szz += x * x;
  }
  CHECK(lo > 0.0);
  CHECK(hi < 1.0);
  CHECK(su / n == doctest::Approx(0.5).epsilon(0.01));
  CHECK(std::abs(sz / n) < 0.01);
  CHECK(szz / n == doctest::Approx(1.0).epsilon(0.01));
}
