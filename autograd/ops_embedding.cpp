// embedding: a row gather; backward scatter-adds the output gradient into the rows it came from.
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/embedding.h"

namespace lat::autograd {

Variable embedding(const Variable& weight, const Tensor& ids) {
  LAT_CHECK(weight.ndim() == 2, "embedding: weight must be [V, D], got ", weight.shape().str());
  LAT_CHECK(ids.defined() && ids.dtype() == DType::I32, "embedding: ids must be an i32 tensor, got ",
            ids.str());
  LAT_CHECK(ids.ndim() < kMaxDims, "embedding: ids ", ids.shape().str(), " have too many dims");
  std::vector<int64_t> out_dims = ids.shape().vec();
  out_dims.push_back(weight.size(1));
  Tensor idc = ids.contiguous(), wc = weight.data().contiguous();
  Tensor out = Tensor::empty(Shape(out_dims), weight.dtype(), weight.device());
  kernels::embedding_forward(wc, idc, out);
  const Shape w_shape = weight.shape();
  return record("embedding", {weight}, out, [idc, w_shape](const std::vector<Tensor>& g) {
    Tensor dw = Tensor::zeros(w_shape, g[0].dtype(), g[0].device());
    kernels::embedding_backward(g[0].contiguous(), idc, dw);
    return std::vector<Tensor>{dw};
  });
}

}  // namespace lat::autograd
