#include "trainers/model_weights.h"

#include <set>

#include "core/error.h"

namespace lat::trainers {

void load_model_weights(const std::vector<autograd::nn::NamedParameter>& params, const Checkpoint& ckpt,
                        const std::string& file) {
  const std::string prefix = "checkpoint '" + file + "' does not match the recipe's model: ";
  std::set<std::string> names;
  for (const auto& p : params) {
    names.insert(p.name);
    auto it = ckpt.model.find(p.name);
    if (it == ckpt.model.end())
      LAT_THROW(prefix, "it has no parameter '", p.name, "' (", ckpt.model.size(),
                " parameters in the checkpoint, ", params.size(), " in the model)");
    if (it->second.shape() != p.variable.shape())
      LAT_THROW(prefix, "parameter '", p.name, "' has shape ", it->second.shape().str(),
                " in the checkpoint and ", p.variable.shape().str(), " in the model");
  }
  for (const auto& [name, t] : ckpt.model)
    if (!names.count(name))
      LAT_THROW(prefix, "it has parameter '", name, "', which the model lacks (", ckpt.model.size(),
                " parameters in the checkpoint, ", params.size(), " in the model)");
  for (const auto& p : params) {
    Tensor dst = p.variable.data();
    dst.copy_(ckpt.model.at(p.name));
  }
}

}  // namespace lat::trainers
