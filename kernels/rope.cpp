#include "kernels/rope.h"

#include "kernels/cpu/rope.h"
#include "kernels/dispatch.h"
#include "kernels/documents.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/attention_family.cuh"
#endif

namespace lat::kernels {

void rope_forward(const Tensor& x, int64_t offset, double base, bool inverse, Tensor& y,
                  const Tensor& document_starts) {
  const char* op = "rope";
  LAT_CHECK(x.ndim() == 4 && x.is_contiguous(), op, ": x must be a contiguous [B, H, N, d], got ", x.str());
  LAT_CHECK(x.size(3) % 2 == 0, op, ": head_dim must be even, got ", x.size(3));
  LAT_CHECK(offset >= 0, op, ": position offset must be ≥ 0, got ", offset);
  LAT_CHECK(base > 1.0, op, ": base must be > 1, got ", base);
  check_same_shape(op, x, y);
  check_same_placement(op, x, y);
  LAT_CHECK(y.is_contiguous(), op, ": y must be contiguous, got ", y.str());
  const Shape& s = x.shape();
  if (document_starts.defined()) check_document_starts(op, document_starts, s[0], s[2], x);
  if (x.device().is_cuda()) {
    LAT_IF_CUDA(op, x,
                cuda::rope_forward(x.raw_data(), y.raw_data(), x.dtype(), s[0] * s[1], s[2], s[3], offset, base, inverse,
                                   document_starts_or_null(document_starts), s[1]));
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::rope_forward<T>(x.data<T>(), y.data<T>(), s[0] * s[1], s[2], s[3], offset, base, inverse,
                         document_starts_or_null(document_starts), s[1]);
  });
}

}  // namespace lat::kernels
