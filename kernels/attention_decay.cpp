#include "kernels/attention_decay.h"

#include <cmath>

#include "core/error.h"

namespace lat::kernels {
namespace {
std::vector<double> power_of_two_slopes(int64_t n) {
  std::vector<double> s(static_cast<size_t>(n));
  for (int64_t h = 0; h < n; ++h)
    s[static_cast<size_t>(h)] = std::exp2(-8.0 * static_cast<double>(h + 1) / static_cast<double>(n));
  return s;
}
}  // namespace

std::vector<double> alibi_slopes(int64_t heads) {
  LAT_CHECK(heads > 0, "alibi_slopes: heads must be positive, got ", heads);
  int64_t p = 1;
  while (p * 2 <= heads) p *= 2;
  std::vector<double> s = power_of_two_slopes(p);
  if (p == heads) return s;
  const std::vector<double> extra = alibi_slopes(2 * p);
  for (int64_t i = 0; static_cast<int64_t>(s.size()) < heads; i += 2) s.push_back(extra[static_cast<size_t>(i)]);
  return s;
}

Tensor alibi_log_decay(int64_t heads, int64_t layer, int64_t num_layers, DType dtype) {
  LAT_CHECK(num_layers > 0, "alibi_log_decay: num_layers must be positive, got ", num_layers);
  LAT_CHECK(layer >= 0 && layer < num_layers, "alibi_log_decay: layer ", layer, " is outside [0, ", num_layers, ")");
  const double factor =
      num_layers == 1 ? 1.0 : 1.0 - static_cast<double>(layer) / static_cast<double>(num_layers - 1) + 1e-5;
  std::vector<double> s = alibi_slopes(heads);
  for (double& x : s) x *= factor;
  return Tensor::from_vector<double>(s, Shape{heads}).to(dtype);
}

}  // namespace lat::kernels
