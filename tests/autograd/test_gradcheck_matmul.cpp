// Gradchecks of matmul (every transpose combination, batched, a shared 2-D b, edge sizes around the GEMM's
// register and cache blocks: MR = 6, NR = 8 doubles, KC = 256) and linear.
#include "autograd/ops.h"
#include "core/error.h"
#include "support/gradcheck.h"

using namespace lat::autograd;
using lat::testing::Vars;

LAT_GRADCHECK("matmul", LAT_SHAPES({3, 4}, {4, 5}), [](const Vars& in) { return matmul(in[0], in[1]); })
LAT_GRADCHECK("matmul aᵀ", LAT_SHAPES({4, 3}, {4, 5}),
              [](const Vars& in) { return matmul(in[0], in[1], true); })
LAT_GRADCHECK("matmul bᵀ", LAT_SHAPES({3, 4}, {5, 4}),
              [](const Vars& in) { return matmul(in[0], in[1], false, true); })
LAT_GRADCHECK("matmul aᵀ bᵀ", LAT_SHAPES({4, 3}, {5, 4}),
              [](const Vars& in) { return matmul(in[0], in[1], true, true); })
LAT_GRADCHECK("matmul size 1", LAT_SHAPES({1, 1}, {1, 1}),
              [](const Vars& in) { return matmul(in[0], in[1]); })
LAT_GRADCHECK("matmul vector-like", LAT_SHAPES({1, 7}, {7, 1}),
              [](const Vars& in) { return matmul(in[0], in[1]); })
LAT_GRADCHECK("matmul odd sizes across register tiles", LAT_SHAPES({13, 11}, {11, 17}),
              [](const Vars& in) { return matmul(in[0], in[1]); })
LAT_GRADCHECK("matmul K across a KC block", LAT_SHAPES({7, 259}, {9, 259}),
              [](const Vars& in) { return matmul(in[0], in[1], false, true); })
LAT_GRADCHECK("matmul M across an MC block", LAT_SHAPES({5, 101}, {5, 3}),
              [](const Vars& in) { return matmul(in[0], in[1], true, false); })
LAT_GRADCHECK("matmul batched", LAT_SHAPES({2, 3, 4, 5}, {2, 3, 5, 2}),
              [](const Vars& in) { return matmul(in[0], in[1]); })
LAT_GRADCHECK("matmul batched aᵀ bᵀ", LAT_SHAPES({3, 5, 4}, {3, 2, 5}),
              [](const Vars& in) { return matmul(in[0], in[1], true, true); })
LAT_GRADCHECK("matmul shared 2-D b", LAT_SHAPES({2, 3, 4, 5}, {5, 6}),
              [](const Vars& in) { return matmul(in[0], in[1]); })
LAT_GRADCHECK("matmul shared 2-D b, aᵀ", LAT_SHAPES({3, 5, 4}, {5, 2}),
              [](const Vars& in) { return matmul(in[0], in[1], true, false); })
LAT_GRADCHECK("matmul shared 2-D b, aᵀ bᵀ", LAT_SHAPES({3, 5, 4}, {2, 5}),
              [](const Vars& in) { return matmul(in[0], in[1], true, true); })
LAT_GRADCHECK("matmul shared 2-D b, bᵀ", LAT_SHAPES({2, 3, 5}, {4, 5}),
              [](const Vars& in) { return matmul(in[0], in[1], false, true); })
LAT_GRADCHECK("matmul of a transposed view", LAT_SHAPES({4, 3}, {4, 5}),
              [](const Vars& in) { return matmul(transpose(in[0], 0, 1), in[1]); })
LAT_GRADCHECK("matmul same input twice", LAT_SHAPES({4, 4}),
              [](const Vars& in) { return matmul(in[0], in[0], true); })

LAT_GRADCHECK("linear", LAT_SHAPES({3, 4}, {5, 4}), [](const Vars& in) { return linear(in[0], in[1]); })
LAT_GRADCHECK("linear 3-D input", LAT_SHAPES({2, 3, 4}, {7, 4}),
              [](const Vars& in) { return linear(in[0], in[1]); })
LAT_GRADCHECK("linear 1-D input", LAT_SHAPES({4}, {3, 4}),
              [](const Vars& in) { return linear(in[0], in[1]); })
LAT_GRADCHECK("linear size 1", LAT_SHAPES({1, 1, 1}, {1, 1}),
              [](const Vars& in) { return linear(in[0], in[1]); })

TEST_CASE("linear forward is x · weightᵀ (triple loop in double), and shape errors name the shapes") {
  const int64_t b = 2, t = 3, in = 5, out = 4;
  lat::Tensor x = lat::testing::random_double(lat::Shape{b, t, in}, "linear-fwd-x");
  lat::Tensor w = lat::testing::random_double(lat::Shape{out, in}, "linear-fwd-w");
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(), expected;
  for (int64_t r = 0; r < b * t; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i)
        s += xv[static_cast<size_t>(r * in + i)] * wv[static_cast<size_t>(o * in + i)];
      expected.push_back(s);
    }
  lat::Tensor y = linear(Variable(x), Variable(w)).data();
  CHECK(y.shape() == lat::Shape{b, t, out});
  CHECK(lat::testing::max_relative_difference(y, lat::Tensor::from_vector(expected, y.shape())) < 1e-14);
  CHECK_THROWS_WITH_AS(linear(Variable(x), Variable(lat::Tensor::zeros(lat::Shape{4, 6}, lat::DType::F64))),
                       doctest::Contains("[4, 6]"), lat::Error);
  CHECK_THROWS_WITH_AS(
      matmul(Variable(x), Variable(lat::Tensor::zeros(lat::Shape{3, 5, 2}, lat::DType::F64))),
      doctest::Contains("[3, 5, 2]"), lat::Error);
}
