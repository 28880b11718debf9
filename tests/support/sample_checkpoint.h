// A checkpoint with every part filled (random parameters and moments, a scalar, an empty tensor, loader rows
// for two ranks, RNG offsets, random features, metrics with NaN gaps) for the checkpoint tests.
#pragma once

#include <cmath>
#include <limits>

#include "core/random.h"
#include "trainers/checkpoint.h"
#include "trainers/recipe.h"

namespace lat::testing {

inline Tensor random_tensor(const Shape& shape, uint64_t offset) {
  Tensor t = Tensor::empty(shape, DType::F32);
  fill_normal(t, 1234, offset);
  return t;
}

inline Checkpoint sample_checkpoint(int64_t step) {
  Checkpoint c;
  c.model["embed.weight"] = random_tensor({258, 16}, 0);
  c.model["layers.0.attention.w_q"] = random_tensor({16, 16}, 10000);
  c.model["layers.0.norm1.weight"] = random_tensor({16}, 20000);
  c.model["layers.10.mlp.w_up"] = random_tensor({2, 3, 4}, 30000);
  c.model["scale"] = random_tensor({}, 40000);  // a scalar
  c.model["empty"] = Tensor::empty({0, 4}, DType::F32);
  uint64_t offset = 50000;
  for (const auto& [name, t] : c.model) {
    c.optim_m[name] = random_tensor(t.shape(), offset += 10000);
    c.optim_v[name] = random_tensor(t.shape(), offset += 10000);
    float* v = c.optim_v[name].data<float>();  // a second moment is >= 0 (the reader refuses negative values)
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = std::fabs(v[i]);
  }
  c.optim_step = step;
  c.step = step;
  c.tokens_seen = step * 2048;
  c.world_size = 2;
  c.rng_offsets = {{"data", 123}, {"features", std::numeric_limits<uint64_t>::max()}};
  c.loader_positions = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {11, 12, 13, 14, 15, 16, 17, 18, 19, 20}};
  c.random_features["layers.0.attention.omega"] = random_tensor({4, 8, 8}, 900000);
  c.recipe = Recipe::embedded_default().to_toml() + "# ünïcödé\n";
  c.metrics.step = {10, 20, 30};
  c.metrics.loss = {5.5, 4.25, 3.0 + 1e-12};
  c.metrics.val_loss = {std::nan(""), 4.5, std::nan("")};
  return c;
}

}  // namespace lat::testing
