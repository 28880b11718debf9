// matmul and linear. With C = op(A)·op(B) the backward is two more products on the same kernel:
//   dop(A) = dC·op(B)ᵀ,  dop(B) = op(A)ᵀ·dC,
// written in terms of the stored A and B so that no transpose is ever materialised:
//   dA = ta ? op(B)·dCᵀ : dC·op(B)ᵀ        dB = tb ? dCᵀ·op(A) : op(A)ᵀ·dC
// A 2-D B shared across A's batch gets the sum over the batch (kernels::matmul with a 2-D out).
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/matmul.h"

namespace lat::autograd {

Variable matmul(const Variable& a, const Variable& b, bool transpose_a, bool transpose_b) {
  const Tensor& ad = a.data();
  const Tensor& bd = b.data();
  LAT_CHECK(ad.ndim() >= 2 && bd.ndim() >= 2, "matmul: operands must be at least 2-D, got a ",
            ad.shape().str(), " and b ", bd.shape().str());
  std::vector<int64_t> out_dims = ad.shape().vec();
  if (bd.ndim() > 2) {
    const std::vector<int64_t> ab(out_dims.begin(), out_dims.end() - 2);
    const std::vector<int64_t> bb(bd.shape().begin(), bd.shape().end() - 2);
    if (ab != bb)
      LAT_THROW("matmul: batch dims of a ", ad.shape().str(), " and b ", bd.shape().str(),
                " differ (b must have a's batch dims or be 2-D)");
  }
  const int64_t M = ad.size(transpose_a ? -1 : -2), K = ad.size(transpose_a ? -2 : -1);
  const int64_t Kb = bd.size(transpose_b ? -1 : -2), N = bd.size(transpose_b ? -2 : -1);
  if (K != Kb)
    LAT_THROW("matmul: a ", ad.shape().str(), (transpose_a ? " (transposed)" : ""), " and b ",
              bd.shape().str(), (transpose_b ? " (transposed)" : ""), " do not multiply: inner sizes ", K,
              " and ", Kb);
  out_dims[out_dims.size() - 2] = M;
  out_dims[out_dims.size() - 1] = N;

  Tensor ac = ad.contiguous(), bc = bd.contiguous();
  Tensor out = Tensor::empty(Shape(out_dims), ad.dtype(), ad.device());
  kernels::matmul(ac, bc, out, transpose_a, transpose_b);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  // Save only what the other operand's gradient needs.
  Tensor saved_a = need_b ? ac : Tensor(), saved_b = need_a ? bc : Tensor();
  const Shape a_shape = ad.shape(), b_shape = bd.shape();
  return record("matmul", {a, b}, out,
                [saved_a, saved_b, a_shape, b_shape, transpose_a, transpose_b](const std::vector<Tensor>& g) {
                  Tensor dc = g[0].contiguous(), da, db;
                  if (saved_b.defined()) {
                    da = Tensor::empty(a_shape, dc.dtype(), dc.device());
                    if (transpose_a)
                      kernels::matmul(saved_b, dc, da, transpose_b, true);
                    else
                      kernels::matmul(dc, saved_b, da, false, !transpose_b);
                  }
                  if (saved_a.defined()) {
                    db = Tensor::empty(b_shape, dc.dtype(), dc.device());
                    if (transpose_b)
                      kernels::matmul(dc, saved_a, db, true, transpose_a);
                    else
                      kernels::matmul(saved_a, dc, db, !transpose_a, false);
                  }
                  return std::vector<Tensor>{da, db};
                });
}

Variable linear(const Variable& x, const Variable& weight_param) {
  const Variable weight = cast(weight_param, x.dtype());
  LAT_CHECK(x.ndim() >= 1 && weight.ndim() == 2, "linear: x ", x.shape().str(), " and weight ",
            weight.shape().str(), " must be [..., in] and [out, in]");
  if (x.size(-1) != weight.size(1))
    LAT_THROW("linear: x ", x.shape().str(), " has ", x.size(-1), " input features but weight ",
              weight.shape().str(), " expects ", weight.size(1));
  if (x.ndim() == 2) return matmul(x, weight, false, true);
  // Flatten the leading dims: one tall GEMM instead of a batch of small ones.
  std::vector<int64_t> out_dims = x.shape().vec();
  out_dims.back() = weight.size(0);
  Variable y = matmul(reshape(x, {-1, weight.size(1)}), weight, false, true);
  return reshape(y, out_dims);
}

}  // namespace lat::autograd
