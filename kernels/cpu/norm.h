// Reference CPU loops for kernels/norm.h. x, out, dout, dx: [rows, dim]; gain, dgain: [dim]; rstd: [rows].
#pragma once

#include <cstdint>

namespace lat::kernels::cpu {

template <class T>
void rmsnorm_forward(const T* x, const T* gain, T eps, T* out, T* rstd, int64_t rows, int64_t dim);
// dx and dgain may be null (not needed).
template <class T>
void rmsnorm_backward(const T* dout, const T* x, const T* gain, const T* rstd, T* dx, T* dgain, int64_t rows,
                      int64_t dim);

}  // namespace lat::kernels::cpu
