#include "kernels/cpu/rope.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lat::kernels::cpu {

template <class T>
void rope_forward(const T* x, T* y, int64_t bh, int64_t n, int64_t d, int64_t offset, double base,
                  bool inverse, const int32_t* starts, int64_t heads) {
  const int64_t half = d / 2;
  if (bh * n * d == 0) return;
  // Rows sharing a position share their rotation: all B·H rows at token i without document starts; with them,
  // the H heads of one batch row (position offset + i − starts[b, i]). A table holds the cosines and sines of
  // every position that occurs, so the trigonometry costs what it cost without starts.
  const int64_t groups = starts ? bh / heads : 1, rows = starts ? heads : bh;
  auto position = [&](int64_t g, int64_t i) { return offset + i - (starts ? starts[g * n + i] : 0); };
  int64_t lo = offset, hi = offset + n - 1;
  if (starts)
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t i = 0; i < n; ++i) lo = std::min(lo, position(g, i)), hi = std::max(hi, position(g, i));
  std::vector<double> theta(static_cast<size_t>(half));
  for (int64_t c = 0; c < half; ++c)
    theta[static_cast<size_t>(c)] = std::pow(base, -2.0 * static_cast<double>(c) / static_cast<double>(d));
  const double sign = inverse ? -1.0 : 1.0;
  const int64_t positions = hi - lo + 1;
  std::vector<T> cosines(static_cast<size_t>(positions * half)), sines(cosines.size());
#pragma omp parallel for schedule(static) if (positions * half > 4096)
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t c = 0; c < half; ++c) {
      const double angle = static_cast<double>(lo + p) * theta[static_cast<size_t>(c)];
      cosines[static_cast<size_t>(p * half + c)] = static_cast<T>(std::cos(angle));
      sines[static_cast<size_t>(p * half + c)] = static_cast<T>(sign * std::sin(angle));
    }
#pragma omp parallel for collapse(2) schedule(static) if (bh * n * d > 32768)
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t i = 0; i < n; ++i) {
      const T* cs = cosines.data() + (position(g, i) - lo) * half;
      const T* sn = sines.data() + (position(g, i) - lo) * half;
      for (int64_t p = g * rows; p < (g + 1) * rows; ++p) {
        const T* xr = x + (p * n + i) * d;
        T* yr = y + (p * n + i) * d;
        for (int64_t c = 0; c < half; ++c) {
          const T a = xr[2 * c], b = xr[2 * c + 1];
          yr[2 * c] = a * cs[c] - b * sn[c];
          yr[2 * c + 1] = a * sn[c] + b * cs[c];
        }
      }
    }
}

template void rope_forward<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, double, bool,
                                  const int32_t*, int64_t);
template void rope_forward<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, double, bool,
                                   const int32_t*, int64_t);

}  // namespace lat::kernels::cpu
