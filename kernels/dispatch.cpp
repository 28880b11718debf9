#include "kernels/dispatch.h"

namespace lat::kernels {

void no_cuda_kernel(const char* op, const Tensor& t) {
  LAT_THROW(op, ": tensor ", t.str(), " is on a CUDA device but this build of lat has no CUDA backend");
}

void check_same_placement(const char* op, const Tensor& a, const Tensor& b) {
  check_same_device(op, a, b);
  if (a.dtype() != b.dtype())
    LAT_THROW(op, ": dtypes differ (", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()), ")");
}

}  // namespace lat::kernels
