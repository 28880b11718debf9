// Module: the parameter registry. A module owns named parameters and named child modules; the full name
// of a parameter is the dot-joined path ("layers.3.mlp.w_up"). The optimizer, checkpoints and data-parallel
// reduction all walk parameters() and rely on its order being the registration order.
#pragma once

#include <string>
#include <vector>

#include "autograd/variable.h"

namespace lat::autograd::nn {

struct NamedParameter {
  std::string name;  // full dotted path
  Variable variable;  // shares state with the module's own handle
  bool weight_decay = true;  // false for norms, biases and embeddings by default
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter of this module and its children, depth-first in registration order.
  std::vector<NamedParameter> parameters() const;
  int64_t parameter_count() const;
  void zero_grad();
  // The parameter with this full name; throws lat::Error naming it if absent.
  Variable parameter(const std::string& full_name) const;

 protected:
  // Registers a leaf that requires grad and returns its handle.
  Variable register_parameter(const std::string& name, Tensor value, bool weight_decay = true);
  // Registers a child; the derived class owns it (as a member or unique_ptr) and it must outlive this.
  void register_module(const std::string& name, Module& child);

 private:
  void collect(const std::string& prefix, std::vector<NamedParameter>& out) const;

  std::vector<NamedParameter> own_;
  std::vector<std::pair<std::string, Module*>> children_;
};

}  // namespace lat::autograd::nn
