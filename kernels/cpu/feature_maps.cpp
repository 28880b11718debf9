// Feature maps on the CPU (SPEC §2). Angles and exponent arguments are formed in double for f32 inputs too.
#include "kernels/cpu/feature_maps.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

namespace lat::kernels::cpu {

template <class T>
void elu1_forward(const T* x, T* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] + T(1) : std::exp(x[i]);
}

template <class T>
void elu1_backward(const T* x, const T* gy, T* gx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) gx[i] = x[i] > T(0) ? gy[i] : gy[i] * std::exp(x[i]);
}

template <class T>
void silu_forward(const T* x, T* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (T(1) + std::exp(-x[i]));
}

template <class T>
void silu_backward(const T* x, const T* gy, T* gx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const T s = T(1) / (T(1) + std::exp(-x[i]));
    gx[i] = gy[i] * s * (T(1) + x[i] * (T(1) - s));
  }
}

namespace {
double cosformer_angle(int64_t position, int64_t max_context) {
  return std::numbers::pi * static_cast<double>(position) / (2.0 * static_cast<double>(max_context));
}
// The position of flat row `row` of [B, H, N]: offset + t, less its document's start when starts are given.
int64_t row_position(int64_t row, int64_t n, int64_t heads, int64_t offset, const int32_t* starts) {
  const int64_t t = row % n;
  return offset + t - (starts ? starts[(row / n / heads) * n + t] : 0);
}
}  // namespace

template <class T>
void cosine_feature_forward(const T* x, T* y, int64_t bh, int64_t n, int64_t d, int64_t max_context, int64_t offset,
                            const int32_t* starts, int64_t heads) {
#pragma omp parallel for schedule(static) if (bh * n * d > 32768)
  for (int64_t row = 0; row < bh * n; ++row) {
    const double a = cosformer_angle(row_position(row, n, heads, offset, starts), max_context);
    const T sa = static_cast<T>(std::sin(a)), ca = static_cast<T>(std::cos(a));
    const T* xr = x + row * d;
    T* yr = y + row * 2 * d;
    for (int64_t c = 0; c < d; ++c) {
      const T relu = xr[c] > T(0) ? xr[c] : T(0);
      yr[c] = relu * sa;
      yr[d + c] = relu * ca;
    }
  }
}

template <class T>
void cosine_feature_backward(const T* x, const T* gy, T* gx, int64_t bh, int64_t n, int64_t d, int64_t max_context,
                             int64_t offset, const int32_t* starts, int64_t heads) {
#pragma omp parallel for schedule(static) if (bh * n * d > 32768)
  for (int64_t row = 0; row < bh * n; ++row) {
    const double a = cosformer_angle(row_position(row, n, heads, offset, starts), max_context);
    const T sa = static_cast<T>(std::sin(a)), ca = static_cast<T>(std::cos(a));
    const T* xr = x + row * d;
    const T* gr = gy + row * 2 * d;
    T* dr = gx + row * d;
    for (int64_t c = 0; c < d; ++c) dr[c] = xr[c] > T(0) ? gr[c] * sa + gr[d + c] * ca : T(0);
  }
}

template <class T>
void random_feature_forward(const T* x, const T* w, bool is_query, const T* key_stabilizer, T* y, T* stabilizer,
                            int64_t bh, int64_t n, int64_t d, int64_t m, const int32_t* starts, int64_t heads) {
  const T x_scale = static_cast<T>(std::pow(static_cast<double>(d), -0.25));
  const T y_scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(m)));
#pragma omp parallel for schedule(static) if (bh > 1)
  for (int64_t p = 0; p < bh; ++p) {
    // Exponent u_r = w_r·x̂ − ‖x̂‖²/2 for every row, stored in y first; row maxima kept in `stabilizer` for queries
    // and for packed keys (whose rows then take their document's maximum below).
    const bool per_row = is_query || starts != nullptr;
    T seq_max = -std::numeric_limits<T>::infinity();
    for (int64_t i = 0; i < n; ++i) {
      const T* xr = x + (p * n + i) * d;
      T* yr = y + (p * n + i) * m;
      T half_norm = 0;
      for (int64_t c = 0; c < d; ++c) half_norm += xr[c] * xr[c];
      half_norm *= T(0.5) * x_scale * x_scale;
      T row_max = -std::numeric_limits<T>::infinity();
      for (int64_t r = 0; r < m; ++r) {
        T dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += w[r * d + c] * xr[c];
        yr[r] = x_scale * dot - half_norm;
        row_max = std::max(row_max, yr[r]);
      }
      if (per_row) stabilizer[p * n + i] = row_max;
      seq_max = std::max(seq_max, row_max);
    }
    if (!per_row) stabilizer[p] = key_stabilizer ? key_stabilizer[p] : seq_max;
    if (!is_query && starts) {
      // Each document's keys share the maximum over that document's rows (documents are runs of equal starts).
      const int32_t* st = starts + (p / heads) * n;
      T* c = stabilizer + p * n;
      for (int64_t i0 = 0; i0 < n;) {
        int64_t i1 = i0 + 1;
        while (i1 < n && st[i1] == st[i0]) ++i1;
        const T doc_max = *std::max_element(c + i0, c + i1);
        std::fill(c + i0, c + i1, doc_max);
        i0 = i1;
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      const T c = per_row ? stabilizer[p * n + i] : stabilizer[p];
      T* yr = y + (p * n + i) * m;
      for (int64_t r = 0; r < m; ++r) yr[r] = y_scale * std::exp(yr[r] - c);
    }
  }
}

template <class T>
void random_feature_backward(const T* x, const T* w, const T* y, const T* gy, T* gx, int64_t rows, int64_t d,
                             int64_t m) {
  const T x_scale = static_cast<T>(std::pow(static_cast<double>(d), -0.25));
#pragma omp parallel for schedule(static) if (rows * m * d > 32768)
  for (int64_t i = 0; i < rows; ++i) {
    const T* xr = x + i * d;
    const T* yr = y + i * m;
    const T* gr = gy + i * m;
    T* dr = gx + i * d;
    T gy_dot = 0;
    for (int64_t r = 0; r < m; ++r) gy_dot += gr[r] * yr[r];
    // dx = d^(−1/4) [Wᵀ(g ⊙ y) − x̂ (g·y)], x̂ = d^(−1/4) x.
    for (int64_t c = 0; c < d; ++c) dr[c] = -x_scale * xr[c] * gy_dot;
    for (int64_t r = 0; r < m; ++r) {
      const T a = gr[r] * yr[r];
      for (int64_t c = 0; c < d; ++c) dr[c] += a * w[r * d + c];
    }
    for (int64_t c = 0; c < d; ++c) dr[c] *= x_scale;
  }
}

#define LAT_INSTANTIATE(T)                                                                                  \
  template void elu1_forward<T>(const T*, T*, int64_t);                                                     \
  template void elu1_backward<T>(const T*, const T*, T*, int64_t);                                          \
  template void silu_forward<T>(const T*, T*, int64_t);                                                     \
  template void silu_backward<T>(const T*, const T*, T*, int64_t);                                          \
  template void cosine_feature_forward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,      \
                                          const int32_t*, int64_t);                                         \
  template void cosine_feature_backward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t,      \
                                           int64_t, const int32_t*, int64_t);                               \
  template void random_feature_forward<T>(const T*, const T*, bool, const T*, T*, T*, int64_t, int64_t,     \
                                          int64_t, int64_t, const int32_t*, int64_t);                       \
  template void random_feature_backward<T>(const T*, const T*, const T*, const T*, T*, int64_t, int64_t,    \
                                           int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
