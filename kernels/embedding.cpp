#include "kernels/embedding.h"

#include "kernels/cpu/embedding.h"
#include "kernels/dispatch.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/embedding.cuh"
#endif

namespace lat::kernels {
namespace {

// Shape and placement checks shared by forward and backward: rows: [..., D] matching ids: [...].
void check_rows(const char* op, const Tensor& rows, const Tensor& ids, const Tensor& table) {
  LAT_CHECK(ids.dtype() == DType::I32, op, ": ids must be i32, got ", ids.str());
  LAT_CHECK(table.ndim() == 2, op, ": weight must be [V, D], got ", table.shape().str());
  check_same_device(op, rows, ids);
  check_same_placement(op, rows, table);
  std::vector<int64_t> expected = ids.shape().vec();
  expected.push_back(table.size(1));
  LAT_CHECK(ids.ndim() < kMaxDims, op,
            ": ids have too many dims for an output row per id: ", ids.shape().str());
  check_shape(op, "rows", rows, Shape(expected));
  LAT_CHECK(rows.is_contiguous() && ids.is_contiguous() && table.is_contiguous(), op,
            ": operands must be contiguous");
}

}  // namespace

void check_ids(const char* op, const Tensor& ids, int64_t vocab) {
  LAT_CHECK(ids.dtype() == DType::I32, op, ": ids must be i32, got ", ids.str());
  Tensor host = ids.to(Device::cpu()).contiguous();
  const int32_t* p = host.data<int32_t>();
  const int64_t bad = cpu::first_invalid_id(p, host.numel(), vocab);
  if (bad >= 0)
    LAT_THROW(op, ": id ", p[bad], " at position ", bad, " is outside the vocabulary [0, ", vocab, ")");
}

void embedding_forward(const Tensor& weight, const Tensor& ids, Tensor& out) {
  const char* op = "embedding";
  check_rows(op, out, ids, weight);
  check_ids(op, ids, weight.size(0));
  if (weight.device().is_cuda()) {
    LAT_IF_CUDA(
        op, weight,
        cuda::embedding_forward(ids.data<int32_t>(), weight.raw_data(), weight.dtype(), out.raw_data(),
                                out.dtype(), ids.numel(), weight.size(0), weight.size(1)));
    return;
  }
  dispatch_cpu_floating(op, weight.dtype(), [&]<class T>() {
    cpu::embedding_forward<T>(weight.data<T>(), ids.data<int32_t>(), out.data<T>(), ids.numel(),
                              weight.size(1));
  });
}

void embedding_backward(const Tensor& dout, const Tensor& ids, Tensor& dweight) {
  const char* op = "embedding_backward";
  check_rows(op, dout, ids, dweight);
  if (dout.device().is_cuda()) {
    // fp32 atomics: the CUDA scatter-add accumulates into an f32 dweight (the master-weight gradient).
    LAT_CHECK(dweight.dtype() == DType::F32, op, ": CUDA kernel accumulates into f32, got ", dweight.str());
    LAT_IF_CUDA(
        op, dout,
        cuda::embedding_backward(ids.data<int32_t>(), dout.raw_data(), dout.dtype(), dweight.data<float>(),
                                 ids.numel(), dweight.size(0), dweight.size(1)));
    return;
  }
  dispatch_cpu_floating(op, dout.dtype(), [&]<class T>() {
    cpu::embedding_backward<T>(dout.data<T>(), ids.data<int32_t>(), dweight.data<T>(), ids.numel(),
                               dout.size(-1));
  });
}

}  // namespace lat::kernels
