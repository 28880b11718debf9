// Putting a checkpoint's weights into a model (the Trainer on resume, lat-generate): one place that checks
// the checkpoint's parameters are exactly the model's, name for name and shape for shape, before copying any.
#pragma once

#include <string>
#include <vector>

#include "autograd/nn/module.h"
#include "trainers/checkpoint.h"

namespace lat::trainers {

// Throws lat::Error "checkpoint '<file>' does not match the recipe's model: ..." naming the first parameter
// that is missing, extra or of another shape; otherwise copies every parameter's values into `params`.
void load_model_weights(const std::vector<autograd::nn::NamedParameter>& params, const Checkpoint& ckpt,
                        const std::string& file);

}  // namespace lat::trainers
