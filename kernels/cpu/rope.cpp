#include "kernels/cpu/rope.h"

#include <cmath>
#include <vector>

namespace lat::kernels::cpu {

template <class T>
void rope_forward(const T* x, T* y, int64_t bh, int64_t n, int64_t d, int64_t offset, double base, bool inverse) {
  const int64_t half = d / 2;
  std::vector<double> theta(static_cast<size_t>(half));
  for (int64_t c = 0; c < half; ++c)
    theta[static_cast<size_t>(c)] = std::pow(base, -2.0 * static_cast<double>(c) / static_cast<double>(d));
  const double sign = inverse ? -1.0 : 1.0;
#pragma omp parallel for schedule(static) if (bh * n * d > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const double pos = static_cast<double>(offset + i);
    for (int64_t c = 0; c < half; ++c) {
      const double angle = pos * theta[static_cast<size_t>(c)];
      const T cs = static_cast<T>(std::cos(angle)), sn = static_cast<T>(sign * std::sin(angle));
      for (int64_t p = 0; p < bh; ++p) {
        const T* xr = x + (p * n + i) * d;
        T* yr = y + (p * n + i) * d;
        const T a = xr[2 * c], b = xr[2 * c + 1];
        yr[2 * c] = a * cs - b * sn;
        yr[2 * c + 1] = a * sn + b * cs;
      }
    }
  }
}

template void rope_forward<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, double, bool);
template void rope_forward<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, double, bool);

}  // namespace lat::kernels::cpu
