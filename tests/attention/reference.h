// Test-only references for the attention family, written independently of kernels/: the quadratic form of
// SPEC §1 (A_ij = λ^{i−j} q̃_i·k̃_j [j ≤ i]) and the per-token recurrence, in double on flat host vectors
// laid out [B, H, N, ·]. Both honour an initial state S_0 (o_i gains λ^i q̃_iᵀ S_0) and report the state
// entering position N.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace lat::testing {

struct LinearReference {
  std::vector<double> out;    // [B, H, N, e]
  std::vector<double> state;  // [B, H, m, e'] with e' = e (+1 when normalised: z as the last column)
};

// Quadratic reference. init: [B, H, m, e'] or empty. normalized: o = (A V + λ^i q S0) / (A 1 + λ^i q z0 + eps).
inline LinearReference quadratic_linear_attention(const std::vector<double>& q, const std::vector<double>& k,
                                                  const std::vector<double>& v, const std::vector<double>& s,
                                                  const std::vector<double>& init, int64_t B, int64_t H, int64_t N,
                                                  int64_t m, int64_t e, bool normalized, double eps = 1e-6) {
  const int64_t ea = normalized ? e + 1 : e;
  LinearReference ref{std::vector<double>(static_cast<size_t>(B * H * N * e)),
                      std::vector<double>(static_cast<size_t>(B * H * m * ea))};
  for (int64_t p = 0; p < B * H; ++p) {
    const double sh = s[static_cast<size_t>(p % H)];
    const double* qh = q.data() + p * N * m;
    const double* kh = k.data() + p * N * m;
    const double* vh = v.data() + p * N * e;
    const double* s0 = init.empty() ? nullptr : init.data() + p * m * ea;
    for (int64_t i = 0; i < N; ++i) {
      std::vector<double> num(static_cast<size_t>(ea), 0.0);
      for (int64_t j = 0; j <= i; ++j) {
        double a = 0;
        for (int64_t c = 0; c < m; ++c) a += qh[i * m + c] * kh[j * m + c];
        a *= std::exp(-sh * static_cast<double>(i - j));
        for (int64_t c = 0; c < e; ++c) num[static_cast<size_t>(c)] += a * vh[j * e + c];
        if (normalized) num[static_cast<size_t>(e)] += a;
      }
      if (s0)
        for (int64_t c = 0; c < ea; ++c) {
          double t = 0;
          for (int64_t r = 0; r < m; ++r) t += qh[i * m + r] * s0[r * ea + c];
          num[static_cast<size_t>(c)] += std::exp(-sh * static_cast<double>(i)) * t;
        }
      for (int64_t c = 0; c < e; ++c)
        ref.out[static_cast<size_t>((p * N + i) * e + c)] =
            normalized ? num[static_cast<size_t>(c)] / (num[static_cast<size_t>(e)] + eps) : num[static_cast<size_t>(c)];
    }
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < ea; ++c) {
        double t = s0 ? std::exp(-sh * static_cast<double>(N)) * s0[r * ea + c] : 0.0;
        for (int64_t j = 0; j < N; ++j)
          t += std::exp(-sh * static_cast<double>(N - j)) * kh[j * m + r] * (c < e ? vh[j * e + c] : 1.0);
        ref.state[static_cast<size_t>((p * m + r) * ea + c)] = t;
      }
  }
  return ref;
}

// Per-token recurrence: S ← S + k̃_i v_iᵀ, o_i = Sᵀ q̃_i (normalised: divided by the z column + eps),
// then S ← λ S (the state entering position i + 1).
inline LinearReference recurrent_linear_attention(const std::vector<double>& q, const std::vector<double>& k,
                                                  const std::vector<double>& v, const std::vector<double>& s,
                                                  const std::vector<double>& init, int64_t B, int64_t H, int64_t N,
                                                  int64_t m, int64_t e, bool normalized, double eps = 1e-6) {
  const int64_t ea = normalized ? e + 1 : e;
  LinearReference ref{std::vector<double>(static_cast<size_t>(B * H * N * e)),
                      std::vector<double>(static_cast<size_t>(B * H * m * ea))};
  for (int64_t p = 0; p < B * H; ++p) {
    const double lambda = std::exp(-s[static_cast<size_t>(p % H)]);
    std::vector<double> S(static_cast<size_t>(m * ea), 0.0);
    if (!init.empty()) std::copy(init.begin() + p * m * ea, init.begin() + (p + 1) * m * ea, S.begin());
    for (int64_t i = 0; i < N; ++i) {
      const double* qi = q.data() + (p * N + i) * m;
      const double* ki = k.data() + (p * N + i) * m;
      const double* vi = v.data() + (p * N + i) * e;
      for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < ea; ++c) S[static_cast<size_t>(r * ea + c)] += ki[r] * (c < e ? vi[c] : 1.0);
      std::vector<double> o(static_cast<size_t>(ea), 0.0);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < ea; ++c) o[static_cast<size_t>(c)] += qi[r] * S[static_cast<size_t>(r * ea + c)];
      for (int64_t c = 0; c < e; ++c)
        ref.out[static_cast<size_t>((p * N + i) * e + c)] =
            normalized ? o[static_cast<size_t>(c)] / (o[static_cast<size_t>(e)] + eps) : o[static_cast<size_t>(c)];
      for (double& x : S) x *= lambda;
    }
    std::copy(S.begin(), S.end(), ref.state.begin() + p * m * ea);
  }
  return ref;
}

// max |a − b| / max |b| (b the reference).
inline double max_rel(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, scale = 1e-300;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return diff / scale;
}

}  // namespace lat::testing
