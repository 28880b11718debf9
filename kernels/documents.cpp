// Checks of the document-boundary form (kernels/documents.h).
#include "kernels/documents.h"

#include "core/error.h"

namespace lat::kernels {

void check_document_starts(const char* op, const Tensor& starts, int64_t batch, int64_t n,
                           const Tensor& like) {
  check_shape(op, "document_starts", starts, Shape{batch, n});
  LAT_CHECK(starts.dtype() == DType::I32 && starts.is_contiguous(), op,
            ": document_starts must be a contiguous i32 [B, N] tensor, got ", starts.str());
  check_same_device(op, like, starts);
  if (!starts.device().is_cpu()) return;
  const int32_t* s = starts.data<int32_t>();
  for (int64_t b = 0; b < batch; ++b) {
    const int32_t* row = s + b * n;
    if (n > 0 && row[0] > 0) LAT_THROW(op, ": document_starts[", b, ", 0] = ", row[0], " must be ≤ 0");
    for (int64_t t = 1; t < n; ++t)
      if (row[t] != row[t - 1] && row[t] != t)
        LAT_THROW(op, ": document_starts[", b, ", ", t, "] = ", row[t], " must be ", row[t - 1],
                  " (the same document) or ", t, " (a new one)");
  }
}

void no_cuda_document_boundaries(const char* op) {
  LAT_THROW(op,
            ": the CUDA kernel does not honour document boundaries yet; set data.document_boundaries = false "
            "or train on the CPU (docs/known_issues.md)");
}

}  // namespace lat::kernels
