// Reference CPU loops for kernels/reduce.h, and the ordered sum the CPU reductions share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace lat::kernels::cpu {

template <class T> T sum(const T* x, int64_t n);
template <class T> void fill(T* out, T value, int64_t n);

// Σ term(i) over [0, n) in double: fixed chunks of 8,192 terms, summed in parallel, whose partial sums are then
// added in chunk order. The result does not depend on the number of threads (docs/conventions.md), which is
// what lets the CPU thread count follow the machine's load (core/threads.h).
template <class Term>
double ordered_sum(int64_t n, Term term) {
  constexpr int64_t kChunk = 8192;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = std::min(n, (c + 1) * kChunk);
    double total = 0.0;
    for (int64_t i = c * kChunk; i < end; ++i) total += term(i);
    partial[static_cast<size_t>(c)] = total;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace lat::kernels::cpu
