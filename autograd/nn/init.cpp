#include "autograd/nn/init.h"

#include "core/random.h"

namespace lat::autograd::nn {

uint64_t parameter_seed(uint64_t model_seed, const std::string& full_name) {
  uint64_t h = 1469598103934665603ull ^ model_seed;  // FNV-1a over the name, keyed by the seed
  for (unsigned char c : full_name) h = (h ^ c) * 1099511628211ull;
  // splitmix64 finaliser: nearby names give unrelated seeds.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

Tensor init_normal(const Shape& shape, double std, uint64_t model_seed, const std::string& full_name, Device device) {
  Tensor t = Tensor::empty(shape, DType::F32, device);
  fill_normal(t, parameter_seed(model_seed, full_name), 0, 0.0, std);
  return t;
}

}  // namespace lat::autograd::nn
