// Small inner loops shared by the CPU reference kernels.
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

// Σ a[i] b[i] in T's own precision, in index order (the references rely on that order).
template <class T>
inline T dot(const T* a, const T* b, int64_t n) {
  T s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace lat::kernels::cpu
