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
  double state_bytes = 0;       // fp32 weights, gradients, AdamW's two moments (under ZeRO-1 this rank's
                                // 1/world of them), with several ranks the gradient buckets, module bookkeeping
  double optimizer_bytes = 0;   // of which AdamW's moments
  double activation_bytes = 0;  // what one micro-batch's forward keeps for backward, logits included
  double total() const { return state_bytes + activation_bytes; }
};

// One rank's memory, in doubles, so that absurd sizes give absurd figures rather than wrapped-around integers.
// world_size matters only under ZeRO-1 (distributed.zero = 1), which shards the moments over the ranks.
MemoryEstimate estimate_training_memory(const Recipe& recipe, int64_t vocab_size, Device device, int world_size = 1);

// Throws lat::Error through recipe.fail, naming the key that drives the estimate, when it exceeds the memory
// of `device` (host memory for the CPU).
void check_training_memory(const Recipe& recipe, int64_t vocab_size, Device device, int world_size = 1);

}  // namespace lat::trainers
