// Elementwise arithmetic on contiguous tensors of equal shape, dtype and device.
#pragma once

#include "core/tensor.h"

namespace lat::kernels {

// out = a + b
void add(const Tensor& a, const Tensor& b, Tensor& out);
// y += alpha * x
void axpy(double alpha, const Tensor& x, Tensor& y);
// out = a * b (elementwise)
void mul(const Tensor& a, const Tensor& b, Tensor& out);
// y *= alpha
void scale_(Tensor& y, double alpha);

}  // namespace lat::kernels
