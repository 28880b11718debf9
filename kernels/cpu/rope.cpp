#include "kernels/cpu/rope.h"

#include <cmath>
#include <vector>

namespace lat::kernels::cpu {

template <class T>
void rope_forward(const T* x, T* y, int64_t bh, int64_t n, int64_t d, int64_t offset, double base, bool inverse,
                  const int32_t* starts, int64_t heads) {
  const int64_t half = d / 2;
  std::vector<double> theta(static_cast<size_t>(half));
  for (int64_t c = 0; c < half; ++c)
    theta[static_cast<size_t>(c)] = std::pow(base, -2.0 * static_cast<double>(c) / static_cast<double>(d));
  const double sign = inverse ? -1.0 : 1.0;
  // Rows sharing a position share their rotation: all B·H rows at token i without document starts; with them,
  // the H heads of one batch row (position offset + i − starts[b, i]).
  const int64_t groups = starts ? bh / heads : 1, rows = starts ? heads : bh;
#pragma omp parallel for collapse(2) schedule(static) if (bh * n * d > 32768)
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t i = 0; i < n; ++i) {
      const double pos = static_cast<double>(offset + i - (starts ? starts[g * n + i] : 0));
      for (int64_t c = 0; c < half; ++c) {
        const double angle = pos * theta[static_cast<size_t>(c)];
        const T cs = static_cast<T>(std::cos(angle)), sn = static_cast<T>(sign * std::sin(angle));
        for (int64_t p = g * rows; p < (g + 1) * rows; ++p) {
          const T* xr = x + (p * n + i) * d;
          T* yr = y + (p * n + i) * d;
          const T a = xr[2 * c], b = xr[2 * c + 1];
          yr[2 * c] = a * cs - b * sn;
          yr[2 * c + 1] = a * sn + b * cs;
        }
      }
    }
}

template void rope_forward<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, double, bool,
                                  const int32_t*, int64_t);
template void rope_forward<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, double, bool,
                                   const int32_t*, int64_t);

}  // namespace lat::kernels::cpu
