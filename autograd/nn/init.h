// Parameter initialisation from Philox. Each parameter's values depend only on (model seed, full parameter
// name), so a model built on the GPU equals one built on the CPU, and adding a layer does not change the
// initial values of the others.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace lat::autograd::nn {

// A 64-bit seed for one parameter: a hash of the model seed and the parameter's full dotted name.
uint64_t parameter_seed(uint64_t model_seed, const std::string& full_name);
// Normal(0, std) with the parameter's own stream, as f32 on `device`.
Tensor init_normal(const Shape& shape, double std, uint64_t model_seed, const std::string& full_name,
                   Device device = Device::cpu());

}  // namespace lat::autograd::nn
