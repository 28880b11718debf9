// How much memory a training run will need, estimated from the recipe before anything is allocated, and the
// check that refuses a run that cannot fit ("this model needs about 3.2 TB of host memory; this machine has
// 23 GiB") instead of allocating until the machine runs out or an allocation size wraps around.
#pragma once

#include <cstdint>

#include "core/device.h"
#include "trainers/recipe.h"

namespace lat::trainers {

struct MemoryEstimate {
  double parameters = 0;        // trainable parameters
  double state_bytes = 0;       // fp32 weights, gradients and AdamW's two moments, plus module bookkeeping
  double activation_bytes = 0;  // what one micro-batch's forward keeps for backward, logits included
  double total() const { return state_bytes + activation_bytes; }
};

// In doubles, so that absurd sizes give absurd figures rather than wrapped-around integers.
MemoryEstimate estimate_training_memory(const Recipe& recipe, int64_t vocab_size, Device device);

// Throws lat::Error through recipe.fail, naming the key that drives the estimate, when it exceeds the memory
// of `device` (host memory for the CPU).
void check_training_memory(const Recipe& recipe, int64_t vocab_size, Device device);

}  // namespace lat::trainers
