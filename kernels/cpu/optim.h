// Reference CPU loops for kernels/optim.h.
#pragma once

#include <cstdint>

#include "kernels/optim.h"

namespace lat::kernels::cpu {

// p, g, m, v: [n]. The step's scalars are rounded to T once; the math per element is in T.
template <class T> void adamw_step(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep& step);
// Σ x[i]², accumulated in double.
template <class T> double sum_of_squares(const T* x, int64_t n);

}  // namespace lat::kernels::cpu
