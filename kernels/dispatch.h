// Shared dispatch for kernel entry points: pick the CPU template instantiation for a dtype, or the CUDA
// implementation, from one place. CUDA-clean.
#pragma once

#include "core/error.h"
#include "core/tensor.h"

namespace lat::kernels {

// Calls fn.template operator()<T>() with T = float or double for a CPU tensor's dtype.
template <class Fn>
void dispatch_cpu_floating(const char* op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::F32: fn.template operator()<float>(); return;
    case DType::F64: fn.template operator()<double>(); return;
    default: LAT_THROW(op, ": CPU kernel supports f32 and f64, got ", dtype_name(dtype));
  }
}

// Throws the standard message for an op that has no CUDA kernel in this build.
[[noreturn]] void no_cuda_kernel(const char* op, const Tensor& t);

// Inputs of one op must share a device and dtype; names the op and both tensors otherwise.
void check_same_placement(const char* op, const Tensor& a, const Tensor& b);

}  // namespace lat::kernels

// Use in an entry point: `if (t.device().is_cuda()) { LAT_IF_CUDA(cuda::op(...)); }` compiles the call only
// when CUDA is built, and throws a clear error otherwise.
#ifdef LAT_HAVE_CUDA
#define LAT_IF_CUDA(op_name, tensor, ...) __VA_ARGS__
#else
#define LAT_IF_CUDA(op_name, tensor, ...) ::lat::kernels::no_cuda_kernel(op_name, tensor)
#endif
