// embedding: gradcheck (repeated ids exercise the scatter-add), forward values and id errors.
#include "autograd/ops.h"
#include "core/error.h"
#include "support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using lat::testing::Vars;

LAT_GRADCHECK("embedding", LAT_SHAPES({5, 3}), [](const Vars& in) {
  return embedding(in[0], Tensor::from_vector<int32_t>({4, 0, 4, 2, 4, 1}, Shape{2, 3}));
})
LAT_GRADCHECK("embedding size 1", LAT_SHAPES({1, 1}),
              [](const Vars& in) { return embedding(in[0], Tensor::from_vector<int32_t>({0}, Shape{1})); })
LAT_GRADCHECK("embedding odd dim, unused rows", LAT_SHAPES({9, 7}), [](const Vars& in) {
  return embedding(in[0], Tensor::from_vector<int32_t>({8, 3, 3}, Shape{3}));
})

TEST_CASE("embedding gathers rows") {
  Tensor w = Tensor::from_vector<float>({0, 1, 10, 11, 20, 21}, Shape{3, 2});
  Variable out = embedding(Variable(w), Tensor::from_vector<int32_t>({2, 0, 2}, Shape{1, 3}));
  CHECK(out.shape() == Shape{1, 3, 2});
  CHECK(out.data().to_vector<float>() == std::vector<float>{20, 21, 0, 1, 20, 21});
}

TEST_CASE("embedding ids outside the vocabulary throw naming the id") {
  Variable w(Tensor::zeros(Shape{4, 2}, DType::F32), true);
  for (int32_t bad : {4, -1, 1000}) {
    CAPTURE(bad);
    try {
      embedding(w, Tensor::from_vector<int32_t>({0, bad}, Shape{2}));
      FAIL("no exception");
    } catch (const Error& e) {
      const std::string message = e.what();
      CHECK(message.find("id " + std::to_string(bad)) != std::string::npos);
      CHECK(message.find("position 1") != std::string::npos);
    }
  }
  CHECK_THROWS_AS(embedding(w, Tensor::zeros(Shape{2}, DType::F32)), Error);  // ids must be i32
}
