#include "trainers/checkpoint_checks.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace lat::checkpoint_checks {

std::string tree_path(const std::string& file, const std::string& name) {
  if (name.empty() || name.front() == '.' || name.back() == '.' || name.find("..") != std::string::npos ||
      name.find('/') != std::string::npos)
    LAT_THROW("checkpoint '", file, "': tensor name '", name,
              "' is not a dotted path (no empty parts, no '/')");
  std::string out = name;
  std::replace(out.begin(), out.end(), '.', '/');
  return out;
}

void check_moments(const std::string& file, const Checkpoint& c, const std::map<std::string, Tensor>& moments,
                   const char* which) {
  if (moments.empty()) return;
  for (const auto& [name, t] : c.model) {
    auto it = moments.find(name);
    if (it == moments.end())
      LAT_THROW("checkpoint '", file, "': optimizer state ", which, " has no entry for parameter ", name);
    if (it->second.shape() != t.shape())
      LAT_THROW("checkpoint '", file, "': optimizer state ", which, " of ", name, " has shape ",
                it->second.shape().str(), ", the parameter has ", t.shape().str());
  }
  if (moments.size() != c.model.size())
    for (const auto& [name, t] : moments)
      if (!c.model.count(name))
        LAT_THROW("checkpoint '", file, "': optimizer state ", which, " has an entry for ", name,
                  ", which is not a parameter");
}

void check_finite(const std::string& file, const std::map<std::string, Tensor>& tensors, const char* what,
                  bool non_negative) {
  for (const auto& [name, t] : tensors) {
    const Tensor host = t.to(Device::cpu()).to(DType::F32).contiguous();
    const float* x = host.data<float>();
    for (int64_t i = 0; i < host.numel(); ++i)
      if (!std::isfinite(x[i]) || (non_negative && x[i] < 0))
        LAT_THROW("checkpoint '", file, "': ", what, " ", name, " holds ", x[i], " at flat index ", i,
                  non_negative ? " (must be finite and >= 0)" : " (must be finite)",
                  "; the run diverged before this checkpoint, so resume from an earlier one");
  }
}

std::vector<unsigned long long> loader_dims(const std::string& file,
                                            const std::vector<std::vector<int64_t>>& rows,
                                            std::vector<int64_t>& flat) {
  const size_t k = rows.empty() ? 0 : rows[0].size();
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != k)
      LAT_THROW("checkpoint '", file, "': loader position of rank ", r, " has ", rows[r].size(),
                " values, rank 0 has ", k);
    flat.insert(flat.end(), rows[r].begin(), rows[r].end());
  }
  return {rows.size(), k};
}

}  // namespace lat::checkpoint_checks

namespace lat {

bool MetricsHistory::operator==(const MetricsHistory& o) const {
  auto same = [](const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
    return true;
  };
  return step == o.step && same(loss, o.loss) && same(val_loss, o.val_loss);
}

}  // namespace lat
