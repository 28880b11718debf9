#include "data/documents.h"

#include "core/error.h"

namespace lat::data {

void document_starts(const int32_t* inputs, int64_t T, int32_t separator, int32_t* starts) {
  int32_t start = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (inputs[t] == separator) start = static_cast<int32_t>(t);
    starts[t] = start;
  }
}

Tensor document_starts(const Tensor& inputs, int32_t separator) {
  LAT_CHECK(inputs.ndim() == 2 && inputs.dtype() == DType::I32 && inputs.device().is_cpu() &&
                inputs.is_contiguous(),
            "document_starts: inputs must be a contiguous i32 [B, T] tensor on the CPU, got ", inputs.str());
  Tensor starts = Tensor::empty(inputs.shape(), DType::I32);
  const int64_t B = inputs.size(0), T = inputs.size(1);
  for (int64_t b = 0; b < B; ++b)
    document_starts(inputs.data<int32_t>() + b * T, T, separator, starts.data<int32_t>() + b * T);
  return starts;
}

}  // namespace lat::data
