#include "autograd/nn/module.h"

#include "core/error.h"

namespace lat::autograd::nn {

Variable Module::register_parameter(const std::string& name, Tensor value, bool weight_decay) {
  LAT_CHECK(name.find('.') == std::string::npos && !name.empty(), "parameter name '", name,
            "' must be non-empty and contain no '.'");
  for (const auto& p : own_) LAT_CHECK(p.name != name, "parameter '", name, "' registered twice");
  Variable v(std::move(value), true);
  own_.push_back({name, v, weight_decay});
  return v;
}

void Module::register_module(const std::string& name, Module& child) {
  LAT_CHECK(!name.empty(), "module name must be non-empty");
  for (const auto& c : children_) LAT_CHECK(c.first != name, "module '", name, "' registered twice");
  children_.emplace_back(name, &child);
}

void Module::collect(const std::string& prefix, std::vector<NamedParameter>& out) const {
  for (const auto& p : own_) out.push_back({prefix + p.name, p.variable, p.weight_decay});
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<NamedParameter> Module::parameters() const {
  std::vector<NamedParameter> out;
  collect("", out);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.variable.data().numel();
  return n;
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.variable.zero_grad();
}

Variable Module::parameter(const std::string& full_name) const {
  for (const auto& p : parameters())
    if (p.name == full_name) return p.variable;
  LAT_THROW("no parameter named '", full_name, "'");
}

}  // namespace lat::autograd::nn
