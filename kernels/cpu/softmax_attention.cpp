#include "kernels/cpu/softmax_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/parallel.h"
#include "kernels/cpu/vector_math.h"

namespace lat::kernels::cpu {
namespace {
// The first key query i may see: 0, or its document's start (the block-diagonal causal mask).
int64_t first_key(const int32_t* starts, int64_t heads, int64_t p, int64_t n, int64_t i) {
  return starts ? std::max<int64_t>(starts[(p / heads) * n + i], 0) : 0;
}
}  // namespace

template <class T>
void softmax_attention_forward(const T* q, const T* k, const T* v, T* out, T* lse, int64_t bh, int64_t nq,
                               int64_t nk, int64_t d, int64_t e, double scale, const int32_t* starts,
                               int64_t heads) {
  const T sc = static_cast<T>(scale);
  ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 1) if (bh > 1)
  for (int64_t p = 0; p < bh; ++p) errors.run([&] {
    std::vector<T> scores(static_cast<size_t>(nk));
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t last = nk - nq + i, first = first_key(starts, heads, p, nq, i);
      const T* qi = q + (p * nq + i) * d;
      T mx = -std::numeric_limits<T>::infinity();
      for (int64_t j = first; j <= last; ++j) {
        scores[static_cast<size_t>(j)] = sc * dot(qi, k + (p * nk + j) * d, d);
        mx = std::max(mx, scores[static_cast<size_t>(j)]);
      }
      T total = 0;
      for (int64_t j = first; j <= last; ++j) total += (scores[static_cast<size_t>(j)] = std::exp(scores[static_cast<size_t>(j)] - mx));
      T* oi = out + (p * nq + i) * e;
      std::fill(oi, oi + e, T(0));
      for (int64_t j = first; j <= last; ++j) {
        const T w = scores[static_cast<size_t>(j)] / total;
        const T* vj = v + (p * nk + j) * e;
        for (int64_t c = 0; c < e; ++c) oi[c] += w * vj[c];
      }
      lse[p * nq + i] = mx + std::log(total);
    }
  });
  errors.rethrow();
}

template <class T>
void softmax_attention_backward(const T* q, const T* k, const T* v, const T* out, const T* lse, const T* grad_out,
                                T* grad_q, T* grad_k, T* grad_v, int64_t bh, int64_t nq, int64_t nk, int64_t d,
                                int64_t e, double scale, const int32_t* starts, int64_t heads) {
  const T sc = static_cast<T>(scale);
#pragma omp parallel for schedule(dynamic, 1) if (bh > 1)
  for (int64_t p = 0; p < bh; ++p) {
    std::fill(grad_q + p * nq * d, grad_q + (p + 1) * nq * d, T(0));
    std::fill(grad_k + p * nk * d, grad_k + (p + 1) * nk * d, T(0));
    std::fill(grad_v + p * nk * e, grad_v + (p + 1) * nk * e, T(0));
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t last = nk - nq + i, first = first_key(starts, heads, p, nq, i);
      const T* qi = q + (p * nq + i) * d;
      const T* gi = grad_out + (p * nq + i) * e;
      const T delta = dot(gi, out + (p * nq + i) * e, e);
      const T l = lse[p * nq + i];
      T* dqi = grad_q + (p * nq + i) * d;
      for (int64_t j = first; j <= last; ++j) {
        const T* kj = k + (p * nk + j) * d;
        const T* vj = v + (p * nk + j) * e;
        const T prob = std::exp(sc * dot(qi, kj, d) - l);
        T* dvj = grad_v + (p * nk + j) * e;
        for (int64_t c = 0; c < e; ++c) dvj[c] += prob * gi[c];
        const T ds = sc * prob * (dot(gi, vj, e) - delta);
        T* dkj = grad_k + (p * nk + j) * d;
        for (int64_t c = 0; c < d; ++c) {
          dqi[c] += ds * kj[c];
          dkj[c] += ds * qi[c];
        }
      }
    }
  }
}

#define LAT_INSTANTIATE(T)                                                                                 \
  template void softmax_attention_forward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,       \
                                             int64_t, int64_t, int64_t, double, const int32_t*, int64_t);  \
  template void softmax_attention_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*,  \
                                              T*, T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, double, \
                                              const int32_t*, int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
