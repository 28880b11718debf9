#include <doctest/doctest.h>

#include "autograd/nn/module.h"
#include "core/error.h"

using namespace lat;
using namespace lat::autograd::nn;

namespace {
struct Leafy : Module {
  Leafy() {
    w = register_parameter("w", Tensor::zeros(Shape{2, 3}, DType::F32));
    g = register_parameter("g", Tensor::zeros(Shape{3}, DType::F32), false);
  }
  lat::autograd::Variable w, g;
};
struct Tree : Module {
  Tree() {
    register_module("mlp", mlp);
    for (int i = 0; i < 2; ++i) register_module("layers." + std::to_string(i), layers[i]);
    e = register_parameter("embed", Tensor::zeros(Shape{5, 3}, DType::F32), false);
  }
  Leafy mlp, layers[2];
  lat::autograd::Variable e;
};
}  // namespace

TEST_CASE("parameters have hierarchical names in registration order") {
  Tree t;
  auto ps = t.parameters();
  std::vector<std::string> names;
  for (auto& p : ps) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"embed", "mlp.w", "mlp.g", "layers.0.w", "layers.0.g", "layers.1.w",
                                          "layers.1.g"});
  CHECK(t.parameter_count() == 15 + 3 * 9);
  CHECK(ps[1].weight_decay);
  CHECK(!ps[2].weight_decay);
  // The registry's handle and the module's member share state.
  CHECK(t.parameter("layers.1.w").id() == t.layers[1].w.id());
  CHECK_THROWS_AS(t.parameter("layers.2.w"), Error);
}
