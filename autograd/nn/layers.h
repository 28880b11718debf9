// The transformer's building blocks other than attention (autograd/nn/attention.h).
#pragma once

#include <cstdint>
#include <string>

#include "autograd/nn/module.h"

namespace lat::autograd::nn {

// Everything a module needs to create its parameters: its own dotted path, the model seed and the device.
struct InitContext {
  std::string path;
  uint64_t seed = 0;
  Device device = Device::cpu();

  InitContext child(const std::string& name) const { return {path.empty() ? name : path + "." + name, seed, device}; }
  std::string full_name(const std::string& local) const { return path.empty() ? local : path + "." + local; }
};

// y = x · Wᵀ, W: [out, in], initialised N(0, std) (std defaults to 1/sqrt(in)).
class Linear : public Module {
 public:
  Linear(const InitContext& ctx, int64_t in, int64_t out, double std = -1.0);
  Variable forward(const Variable& x) const;
  Variable weight;
};

// ids [...] -> [..., dim]; weight [vocab, dim] ~ N(0, 0.02); excluded from weight decay.
class Embedding : public Module {
 public:
  Embedding(const InitContext& ctx, int64_t vocab, int64_t dim);
  Variable forward(const Tensor& ids) const;
  Variable weight;
};

// RMSNorm over the last dim with a learned gain (initialised to 1, excluded from weight decay).
class RMSNorm : public Module {
 public:
  RMSNorm(const InitContext& ctx, int64_t dim, double eps);
  Variable forward(const Variable& x) const;
  Variable gain;
  double eps;
};

// SwiGLU MLP: w_down(silu(w_gate x) * w_up x).
class SwiGLUMLP : public Module {
 public:
  SwiGLUMLP(const InitContext& ctx, int64_t dim, int64_t hidden, double out_std);
  Variable forward(const Variable& x) const;
  Linear w_gate, w_up, w_down;
};

}  // namespace lat::autograd::nn
