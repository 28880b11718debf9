// Tiled causal linear attention on the CPU, SPEC §4: per (batch, head) the sequence is cut into blocks of
// `block` rows; inside a block the output is the masked left product [(Q̃ K̃ᵀ) ⊙ M] V, across blocks the
// right product Q̃ S with the carried m×e state. Cost O(N·m·e + N·block·(m+e)) per head. Every decay power is
// exp(−s·x) with x ≥ 0 (a table of x = 0..block), never λ^(−r).
// Document boundaries (kernels/documents.h): row r of the tile at t0 attends within the tile to columns
// c ≥ starts[t0 + r] − t0 only, and reads the carried state only when its document began before the tile
// (starts[t0 + r] < t0); the state leaving the tile is that of the tile's last document (its rows from that
// document's start, and the carried state only if that document began before the tile).
#include "kernels/cpu/lightning_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "kernels/cpu/vector_math.h"

namespace lat::kernels::cpu {
namespace {

template <class T>
void axpy(T alpha, const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// decay[x] = exp(−s·x), x = 0..block.
template <class T>
std::vector<T> decay_table(T s, int64_t block) {
  std::vector<T> d(static_cast<size_t>(block + 1));
  for (int64_t x = 0; x <= block; ++x) d[static_cast<size_t>(x)] = std::exp(-s * static_cast<T>(x));
  return d;
}

// One tile's view of the document boundaries: `starts` points at the tile's first row (nullptr: one document).
struct TileDocuments {
  const int32_t* starts;
  int64_t t0;
  // The first column row r attends to inside the tile.
  int64_t first_column(int64_t r) const { return starts ? std::max<int64_t>(starts[r] - t0, 0) : 0; }
  // Whether row r's document began before the tile (so the carried state reaches it).
  bool reads_state(int64_t r) const { return !starts || starts[r] < t0; }
};

// S ← λ^nb S + Σ_r λ^{nb−r} k̃_r v_rᵀ over the nb rows of one block (SPEC §4, true positions in a partial block),
// restricted to the tile's last document: rows from its first column, and S itself only if it began earlier.
template <class T>
void advance_state(const T* k, const T* v, const T* decay, T* state, int64_t nb, const TileDocuments& docs,
                   int64_t m, int64_t e) {
  const T carry = docs.reads_state(nb - 1) ? decay[nb] : T(0);
  const int64_t first = docs.first_column(nb - 1);
  for (int64_t i = 0; i < m; ++i) {
    T* row = state + i * e;
    for (int64_t j = 0; j < e; ++j) row[j] *= carry;
    for (int64_t r = first; r < nb; ++r) axpy(decay[nb - r] * k[r * m + i], v + r * e, row, e);
  }
}

}  // namespace

template <class T>
void lightning_attention_forward(const T* q, const T* k, const T* v, const T* log_decay, const T* initial_state,
                                 T* out, T* final_state, int64_t batch, int64_t heads, int64_t n, int64_t m,
                                 int64_t e, int64_t block, const int32_t* starts) {
  const int64_t bh = batch * heads;
  block = std::min(block, std::max<int64_t>(n, 1));  // a tile longer than the sequence is the whole sequence
  ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 1) if (bh > 1)
  for (int64_t p = 0; p < bh; ++p) errors.run([&] {
    const std::vector<T> decay = decay_table(log_decay[p % heads], block);
    const T* qh = q + p * n * m;
    const T* kh = k + p * n * m;
    const T* vh = v + p * n * e;
    T* oh = out + p * n * e;
    const int32_t* sh = starts ? starts + (p / heads) * n : nullptr;
    T* state = final_state + p * m * e;
    if (initial_state)
      std::copy(initial_state + p * m * e, initial_state + (p + 1) * m * e, state);
    else
      std::fill(state, state + m * e, T(0));
    std::vector<T> inter(static_cast<size_t>(e));
    for (int64_t t0 = 0; t0 < n; t0 += block) {
      const int64_t nb = std::min(block, n - t0);
      const TileDocuments docs{sh ? sh + t0 : nullptr, t0};
      for (int64_t r = 0; r < nb; ++r) {
        const T* qr = qh + (t0 + r) * m;
        T* orow = oh + (t0 + r) * e;
        std::fill(orow, orow + e, T(0));
        // Intra-block left product: Σ_{c≤r} λ^{r−c} (q̃_r·k̃_c) v_c over row r's document.
        for (int64_t c = docs.first_column(r); c <= r; ++c)
          axpy(decay[r - c] * dot(qr, kh + (t0 + c) * m, m), vh + (t0 + c) * e, orow, e);
        if (!docs.reads_state(r)) continue;
        // Inter-block right product: λ^r S_bᵀ q̃_r.
        std::fill(inter.begin(), inter.end(), T(0));
        for (int64_t i = 0; i < m; ++i) axpy(qr[i], state + i * e, inter.data(), e);
        axpy(decay[r], inter.data(), orow, e);
      }
      advance_state(kh + t0 * m, vh + t0 * e, decay.data(), state, nb, docs, m, e);
    }
  });
  errors.rethrow();
}

template <class T>
void lightning_attention_backward(const T* q, const T* k, const T* v, const T* log_decay, const T* initial_state,
                                  const T* grad_out, const T* grad_final_state, T* grad_q, T* grad_k, T* grad_v,
                                  T* grad_initial_state, int64_t batch, int64_t heads, int64_t n, int64_t m,
                                  int64_t e, int64_t block, const int32_t* starts) {
  const int64_t bh = batch * heads;
  block = std::min(block, std::max<int64_t>(n, 1));
  const int64_t blocks = (n + block - 1) / block;
  ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 1) if (bh > 1)
  for (int64_t p = 0; p < bh; ++p) errors.run([&] {
    const std::vector<T> decay = decay_table(log_decay[p % heads], block);
    const T* qh = q + p * n * m;
    const T* kh = k + p * n * m;
    const T* vh = v + p * n * e;
    const T* gh = grad_out + p * n * e;
    T* dq = grad_q + p * n * m;
    T* dk = grad_k + p * n * m;
    T* dv = grad_v + p * n * e;
    const int32_t* sh = starts ? starts + (p / heads) * n : nullptr;
    auto tile = [&](int64_t t0) { return TileDocuments{sh ? sh + t0 : nullptr, t0}; };
    std::fill(dq, dq + n * m, T(0));
    std::fill(dk, dk + n * m, T(0));
    std::fill(dv, dv + n * e, T(0));

    // Recompute the state entering every block (the forward sweep without outputs); one slot even for n = 0, where
    // the initial state is copied into it and nothing reads it.
    const size_t me = static_cast<size_t>(m * e);
    std::vector<T> states(static_cast<size_t>(std::max<int64_t>(blocks, 1)) * me, T(0));
    if (initial_state) std::copy(initial_state + p * m * e, initial_state + (p + 1) * m * e, states.begin());
    for (int64_t b = 0; b + 1 < blocks; ++b) {
      std::copy(states.begin() + b * me, states.begin() + (b + 1) * me, states.begin() + (b + 1) * me);
      advance_state(kh + b * block * m, vh + b * block * e, decay.data(), states.data() + (b + 1) * me, block,
                    tile(b * block), m, e);
    }

    // D = ∂L/∂(state leaving block b), swept in reverse from the final state's gradient.
    std::vector<T> D(me, T(0));
    if (grad_final_state) std::copy(grad_final_state + p * m * e, grad_final_state + (p + 1) * m * e, D.begin());
    for (int64_t b = blocks - 1; b >= 0; --b) {
      const int64_t t0 = b * block, nb = std::min(block, n - t0);
      const TileDocuments docs = tile(t0);
      const int64_t last_first = docs.first_column(nb - 1);  // the rows that reach the state leaving the tile
      const T* Sb = states.data() + b * me;
      for (int64_t r = 0; r < nb; ++r) {
        const T* qr = qh + (t0 + r) * m;
        const T* gr = gh + (t0 + r) * e;
        T* dqr = dq + (t0 + r) * m;
        // Intra-block: P = (dO Vᵀ) ⊙ M feeds dQ̃ (P K̃) and dK̃ (Pᵀ Q̃); A = (Q̃ K̃ᵀ) ⊙ M feeds dV (Aᵀ dO).
        for (int64_t c = docs.first_column(r); c <= r; ++c) {
          const T* kc = kh + (t0 + c) * m;
          const T pc = decay[r - c] * dot(gr, vh + (t0 + c) * e, e);
          const T ac = decay[r - c] * dot(qr, kc, m);
          axpy(pc, kc, dqr, m);
          axpy(pc, qr, dk + (t0 + c) * m, m);
          axpy(ac, gr, dv + (t0 + c) * e, e);
        }
        // Inter-block: dq̃_r += λ^r S_b dO_r (rows that read S_b); dk̃_r += λ^{nb−r} D v_r and
        // dv_r += λ^{nb−r} Dᵀ k̃_r (rows that reach the state leaving the tile).
        const T wq = docs.reads_state(r) ? decay[r] : T(0), wk = r >= last_first ? decay[nb - r] : T(0);
        const T* vr = vh + (t0 + r) * e;
        const T* kr = kh + (t0 + r) * m;
        T* dkr = dk + (t0 + r) * m;
        T* dvr = dv + (t0 + r) * e;
        for (int64_t i = 0; i < m; ++i) {
          dqr[i] += wq * dot(Sb + i * e, gr, e);
          dkr[i] += wk * dot(D.data() + i * e, vr, e);
          axpy(wk * kr[i], D.data() + i * e, dvr, e);
        }
      }
      // D_{b−1} = λ^nb D_b + (diag(λ^r) Q̃_b)ᵀ dO_b, over what read S_b: the carry when the tile's last document
      // began before it, and the rows whose documents did.
      const T carry = docs.reads_state(nb - 1) ? decay[nb] : T(0);
      for (int64_t i = 0; i < m; ++i) {
        T* row = D.data() + i * e;
        for (int64_t j = 0; j < e; ++j) row[j] *= carry;
        for (int64_t r = 0; r < nb; ++r)
          if (docs.reads_state(r)) axpy(decay[r] * qh[(t0 + r) * m + i], gh + (t0 + r) * e, row, e);
      }
    }
    if (grad_initial_state) std::copy(D.begin(), D.end(), grad_initial_state + p * m * e);
  });
  errors.rethrow();
}

template <class T>
void augment_values(const T* v, T* v_aug, int64_t rows, int64_t e) {
  for (int64_t i = 0; i < rows; ++i) {
    std::copy(v + i * e, v + (i + 1) * e, v_aug + i * (e + 1));
    v_aug[i * (e + 1) + e] = T(1);
  }
}

template <class T>
void normalize_by_denominator(const T* num, int64_t num_stride, const T* den_column, int64_t den_stride, T eps,
                              T* out, T* denominator, int64_t rows, int64_t e) {
  for (int64_t i = 0; i < rows; ++i) {
    const T den = den_column[i * den_stride] + eps;
    denominator[i] = den;
    for (int64_t j = 0; j < e; ++j) out[i * e + j] = num[i * num_stride + j] / den;
  }
}

template <class T>
void denominator_backward(const T* grad_out, const T* out, const T* denominator, T* grad_num, int64_t num_stride,
                          T* grad_den_column, int64_t den_stride, int64_t rows, int64_t e) {
  for (int64_t i = 0; i < rows; ++i) {
    const T den = denominator[i];
    for (int64_t j = 0; j < e; ++j) grad_num[i * num_stride + j] = grad_out[i * e + j] / den;
    grad_den_column[i * den_stride] = -dot(grad_out + i * e, out + i * e, e) / den;
  }
}

#define LAT_INSTANTIATE(T)                                                                                   \
  template void lightning_attention_forward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*,     \
                                               int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,         \
                                               const int32_t*);                                              \
  template void lightning_attention_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*,  \
                                                const T*, T*, T*, T*, T*, int64_t, int64_t, int64_t,          \
                                                int64_t, int64_t, int64_t, const int32_t*);                   \
  template void augment_values<T>(const T*, T*, int64_t, int64_t);                                           \
  template void normalize_by_denominator<T>(const T*, int64_t, const T*, int64_t, T, T*, T*, int64_t, int64_t); \
  template void denominator_backward<T>(const T*, const T*, const T*, T*, int64_t, T*, int64_t, int64_t,      \
                                        int64_t);
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
#undef LAT_INSTANTIATE

}  // namespace lat::kernels::cpu
