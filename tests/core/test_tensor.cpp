#include <doctest/doctest.h>

#include "core/error.h"
#include "core/tensor.h"

using namespace lat;

TEST_CASE("tensor views share storage and contiguous() copies only when needed") {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[i] = static_cast<float>(i);
  Tensor t = Tensor::from_vector(v, Shape{2, 3, 4});
  CHECK(t.is_contiguous());
  CHECK(t.contiguous().storage() == t.storage());

  Tensor r = t.reshape({6, -1});
  CHECK(r.shape() == Shape{6, 4});
  CHECK(r.storage() == t.storage());

  Tensor tr = t.transpose(1, 2);  // [2, 4, 3]
  CHECK(!tr.is_contiguous());
  CHECK(tr.storage() == t.storage());
  Tensor c = tr.contiguous();
  CHECK(c.storage() != t.storage());
  auto cv = c.to_vector<float>();
  // c[b, j, i] == t[b, i, j]
  for (int b = 0; b < 2; ++b)
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 3; ++i) CHECK(cv[(b * 4 + j) * 3 + i] == v[(b * 3 + i) * 4 + j]);

  Tensor s = t.slice(2, 1, 3);  // [2, 3, 2]
  CHECK(s.shape() == Shape{2, 3, 2});
  auto sv = s.to_vector<float>();
  CHECK(sv[0] == 1.0f);
  CHECK(sv[1] == 2.0f);
  CHECK(sv[2] == 5.0f);

  Tensor sel = t.select(0, 1);
  CHECK(sel.shape() == Shape{3, 4});
  CHECK(sel.to_vector<float>()[0] == 12.0f);

  // Writes through a view are visible in the base.
  Tensor col = t.slice(2, 0, 1);
  col.fill_(-1.0);
  CHECK(t.to_vector<float>()[4] == -1.0f);
  CHECK(t.to_vector<float>()[5] == 5.0f);
}

TEST_CASE("dtype conversions round bf16 to nearest even") {
  Tensor f = Tensor::from_vector<float>({1.0f, 1.00390625f, 1.01171875f, -3.5f}, Shape{4});
  Tensor b = f.to(DType::BF16).to(DType::F32);
  auto v = b.to_vector<float>();
  CHECK(v[0] == 1.0f);
  CHECK(v[1] == 1.0f);         // exactly half-way between 1 and 1+2^-7: ties to even (1.0)
  CHECK(v[2] == 1.015625f);    // 1 + 1.5 * 2^-7: ties to even (1 + 2^-6)
  CHECK(v[3] == -3.5f);
  Tensor d = f.to(DType::F64);
  CHECK(d.to_vector<double>()[1] == 1.00390625);
}

TEST_CASE("bad tensor operations throw lat::Error naming the shapes") {
  Tensor t = Tensor::zeros(Shape{2, 3}, DType::F32);
  // Each refusal is a lat::Error whose message names the offending shape or index (a CHECK inside a catch would
  // pass silently if nothing were thrown).
  CHECK_THROWS_WITH_AS(t.view(Shape{4, 2}), doctest::Contains("[4, 2]"), Error);
  CHECK_THROWS_WITH_AS(t.view(Shape{4, 2}), doctest::Contains("[2, 3]"), Error);
  CHECK_THROWS_WITH_AS(t.transpose(0, 1).view(Shape{6}), doctest::Contains("not contiguous"), Error);
  CHECK_THROWS_WITH_AS(t.slice(1, 2, 5), doctest::Contains("5"), Error);
  CHECK_THROWS_AS(t.data<double>(), Error);
  CHECK_THROWS_AS(Shape({1, 2, 3, 4, 5, 6}), Error);
}

TEST_CASE("edge shapes: zero-dim and empty tensors") {
  Tensor s = Tensor::scalar(3.5);
  CHECK(s.ndim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 3.5);
  Tensor e = Tensor::zeros(Shape{0, 4}, DType::F32);
  CHECK(e.numel() == 0);
  CHECK(e.contiguous().numel() == 0);
}
