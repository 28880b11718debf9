// Shape checks and dispatch for kernels/feature_maps.h, and the FAVOR+ sampler.
#include "kernels/feature_maps.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/random.h"
#include "kernels/cpu/feature_maps.h"
#include "kernels/dispatch.h"
#include "kernels/documents.h"

#ifdef LAT_HAVE_CUDA
#include "kernels/cuda/activations.cuh"
#include "kernels/cuda/attention_family.cuh"
#endif

namespace lat::kernels {
namespace {

void check_rows(const char* op, const Tensor& x) {
  LAT_CHECK(x.ndim() == 4, op, ": x must be [B, H, N, d], got ", x.shape().str());
  LAT_CHECK(x.is_contiguous(), op, ": x must be contiguous, got ", x.str());
}

template <class Fn, class CudaFn>
void pointwise(const char* op, const Tensor& x, const Tensor& y, Fn&& fn, [[maybe_unused]] CudaFn&& cuda_fn) {
  check_rows(op, x);
  check_same_shape(op, x, y);
  check_same_placement(op, x, y);
  LAT_CHECK(y.is_contiguous(), op, ": output must be contiguous, got ", y.str());
  if (x.device().is_cuda()) {
    LAT_IF_CUDA(op, x, cuda_fn());
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), fn);
}

// The largest position of n rows: offset + n − 1, or with document starts (kernels/documents.h, read on the CPU)
// the largest offset + t − starts[b, t].
int64_t last_position(int64_t offset, int64_t n, const Tensor& starts) {
  if (!starts.defined() || !starts.device().is_cpu() || n == 0) return offset + n - 1;
  const int32_t* st = starts.data<int32_t>();
  int64_t last = offset;
  for (int64_t i = 0; i < starts.numel(); ++i) last = std::max(last, offset + i % n - st[i]);
  return last;
}

void check_positions(const char* op, int64_t max_context, int64_t offset, int64_t n, const Tensor& starts) {
  LAT_CHECK(max_context > 0, op, ": max_context must be positive, got ", max_context);
  LAT_CHECK(offset >= 0, op, ": position offset must be ≥ 0, got ", offset);
  const int64_t last = last_position(offset, n, starts);
  if (last >= max_context)
    LAT_THROW(op, ": position ", last, " is beyond max_context ", max_context,
              " (cosFormer angles are defined only for positions < max_context)");
}

// Document starts of x: [B, H, N, ·] checked; refused on CUDA by ops whose kernels do not take them.
void check_starts(const char* op, const Tensor& x, const Tensor& starts, bool cuda_takes_them) {
  if (!starts.defined()) return;
  check_document_starts(op, starts, x.size(0), x.size(2), x);
  if (x.device().is_cuda() && !cuda_takes_them) no_cuda_document_boundaries(op);
}

// splitmix64 finaliser: mixes (seed, layer, draw) into one Philox key.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

void elu1_forward(const Tensor& x, Tensor& y) {
  pointwise(
      "elu1_feature_map", x, y, [&]<class T>() { cpu::elu1_forward<T>(x.data<T>(), y.data<T>(), x.numel()); },
      [&] { LAT_IF_CUDA("elu1_feature_map", x, cuda::elu1_forward(x.raw_data(), y.raw_data(), x.dtype(), x.numel())); });
}
void elu1_backward(const Tensor& x, const Tensor& grad_y, Tensor& grad_x) {
  check_same_shape("elu1_feature_map backward", x, grad_y);
  check_same_placement("elu1_feature_map backward", x, grad_y);
  pointwise(
      "elu1_feature_map backward", x, grad_x,
      [&]<class T>() { cpu::elu1_backward<T>(x.data<T>(), grad_y.data<T>(), grad_x.data<T>(), x.numel()); },
      [&] {
        LAT_IF_CUDA("elu1_feature_map backward", x,
                    cuda::elu1_backward(x.raw_data(), grad_y.raw_data(), grad_x.raw_data(), x.dtype(), x.numel()));
      });
}
void silu_forward(const Tensor& x, Tensor& y) {
  pointwise(
      "silu_feature_map", x, y, [&]<class T>() { cpu::silu_forward<T>(x.data<T>(), y.data<T>(), x.numel()); },
      [&] { LAT_IF_CUDA("silu_feature_map", x, cuda::silu_forward(x.raw_data(), y.raw_data(), x.dtype(), x.numel())); });
}
void silu_backward(const Tensor& x, const Tensor& grad_y, Tensor& grad_x) {
  check_same_shape("silu_feature_map backward", x, grad_y);
  check_same_placement("silu_feature_map backward", x, grad_y);
  pointwise(
      "silu_feature_map backward", x, grad_x,
      [&]<class T>() { cpu::silu_backward<T>(x.data<T>(), grad_y.data<T>(), grad_x.data<T>(), x.numel()); },
      [&] {
        LAT_IF_CUDA("silu_feature_map backward", x,
                    cuda::silu_backward(x.raw_data(), grad_y.raw_data(), grad_x.raw_data(), x.dtype(), x.numel()));
      });
}

void check_cosine_positions(int64_t max_context, int64_t offset, int64_t n, const Tensor& document_starts) {
  check_positions("cosine_feature_map", max_context, offset, n, document_starts);
}

void cosine_feature_forward(const Tensor& x, int64_t max_context, int64_t offset, Tensor& y,
                            const Tensor& document_starts) {
  const char* op = "cosine_feature_map";
  check_rows(op, x);
  const Shape& s = x.shape();
  check_starts(op, x, document_starts, true);
  check_positions(op, max_context, offset, s[2], document_starts);
  check_shape(op, "y", y, Shape{s[0], s[1], s[2], 2 * s[3]});
  check_same_placement(op, x, y);
  if (x.device().is_cuda()) {
    LAT_IF_CUDA(op, x,
                cuda::cosine_feature_forward(x.raw_data(), y.raw_data(), x.dtype(), s[0] * s[1], s[2], s[3],
                                             max_context, offset, document_starts_or_null(document_starts), s[1]));
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::cosine_feature_forward<T>(x.data<T>(), y.data<T>(), s[0] * s[1], s[2], s[3], max_context, offset,
                                   document_starts_or_null(document_starts), s[1]);
  });
}

void cosine_feature_backward(const Tensor& x, int64_t max_context, int64_t offset, const Tensor& grad_y,
                             Tensor& grad_x, const Tensor& document_starts) {
  const char* op = "cosine_feature_map backward";
  check_rows(op, x);
  const Shape& s = x.shape();
  check_starts(op, x, document_starts, true);
  check_positions(op, max_context, offset, s[2], document_starts);
  check_shape(op, "grad_y", grad_y, Shape{s[0], s[1], s[2], 2 * s[3]});
  check_shape(op, "grad_x", grad_x, s);
  check_same_placement(op, x, grad_y);
  check_same_placement(op, x, grad_x);
  if (x.device().is_cuda()) {
    LAT_IF_CUDA(op, x,
                cuda::cosine_feature_backward(x.raw_data(), grad_y.contiguous().raw_data(), grad_x.raw_data(),
                                              x.dtype(), s[0] * s[1], s[2], s[3], max_context, offset,
                                              document_starts_or_null(document_starts), s[1]));
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::cosine_feature_backward<T>(x.data<T>(), grad_y.data<T>(), grad_x.data<T>(), s[0] * s[1], s[2], s[3],
                                    max_context, offset, document_starts_or_null(document_starts), s[1]);
  });
}

void random_feature_forward(const Tensor& x, const Tensor& w, bool is_query, const Tensor& key_stabilizer,
                            Tensor& y, Tensor& stabilizer, const Tensor& document_starts) {
  const char* op = "random_feature_map";
  check_rows(op, x);
  check_starts(op, x, document_starts, false);
  // Keys of packed documents: one constant per document, each row holding its document's ([B, H, N]).
  const bool per_row = is_query || document_starts.defined();
  const Shape& s = x.shape();
  LAT_CHECK(w.ndim() == 2 && w.size(1) == s[3] && w.is_contiguous(), op, ": w must be a contiguous [m, ",
            s[3], "], got ", w.str());
  check_same_placement(op, x, w);
  const int64_t m = w.size(0);
  check_shape(op, "y", y, Shape{s[0], s[1], s[2], m});
  check_shape(op, "stabilizer", stabilizer, per_row ? Shape{s[0], s[1], s[2]} : Shape{s[0], s[1]});
  if (key_stabilizer.defined()) {
    LAT_CHECK(!is_query, op, ": a fixed stabiliser applies to keys only");
    LAT_CHECK(!document_starts.defined(), op, ": a fixed key stabiliser (streaming) does not take document starts");
    check_shape(op, "key_stabilizer", key_stabilizer, Shape{s[0], s[1]});
    check_same_placement(op, x, key_stabilizer);
  }
  if (x.device().is_cuda()) {
    check_same_placement(op, x, y);
    check_same_placement(op, x, stabilizer);
    LAT_IF_CUDA(op, x,
                cuda::random_feature_forward(x.raw_data(), w.raw_data(), is_query,
                                             key_stabilizer.defined() ? key_stabilizer.contiguous().raw_data() : nullptr,
                                             y.raw_data(), stabilizer.raw_data(), x.dtype(), s[0] * s[1], s[2], s[3], m));
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::random_feature_forward<T>(x.data<T>(), w.data<T>(), is_query,
                                   key_stabilizer.defined() ? key_stabilizer.contiguous().data<T>() : nullptr,
                                   y.data<T>(), stabilizer.data<T>(), s[0] * s[1], s[2], s[3], m,
                                   document_starts_or_null(document_starts), s[1]);
  });
}

void random_feature_backward(const Tensor& x, const Tensor& w, const Tensor& y, const Tensor& grad_y,
                             Tensor& grad_x) {
  const char* op = "random_feature_map backward";
  check_rows(op, x);
  const Shape& s = x.shape();
  LAT_CHECK(w.ndim() == 2 && w.size(1) == s[3], op, ": w must be [m, ", s[3], "], got ", w.str());
  const Shape ys{s[0], s[1], s[2], w.size(0)};
  check_shape(op, "y", y, ys);
  check_shape(op, "grad_y", grad_y, ys);
  check_shape(op, "grad_x", grad_x, s);
  if (x.device().is_cuda()) {
    for (const Tensor* t : std::initializer_list<const Tensor*>{&w, &y, &grad_y, &grad_x}) check_same_placement(op, x, *t);
    LAT_IF_CUDA(op, x,
                cuda::random_feature_backward(x.raw_data(), w.contiguous().raw_data(), y.contiguous().raw_data(),
                                              grad_y.contiguous().raw_data(), grad_x.raw_data(), x.dtype(),
                                              s[0] * s[1] * s[2], s[3], w.size(0)));
    return;
  }
  dispatch_cpu_floating(op, x.dtype(), [&]<class T>() {
    cpu::random_feature_backward<T>(x.data<T>(), w.data<T>(), y.data<T>(), grad_y.data<T>(), grad_x.data<T>(),
                                    s[0] * s[1] * s[2], s[3], w.size(0));
  });
}

Tensor draw_random_features(uint64_t seed, int64_t layer, int64_t draw, int64_t m, int64_t d, bool orthogonal) {
  LAT_CHECK(m > 0, "draw_random_features: feature_dim must be positive, got ", m);
  LAT_CHECK(d > 0, "draw_random_features: head_dim must be positive, got ", d);
  LAT_CHECK(layer >= 0 && draw >= 0, "draw_random_features: layer and draw must be ≥ 0, got ", layer, " and ", draw);
  const uint64_t key = mix(mix(mix(seed) ^ static_cast<uint64_t>(layer)) ^ static_cast<uint64_t>(draw));
  Tensor w = Tensor::empty(Shape{m, d}, DType::F64);
  double* out = w.data<double>();
  // Stream layout: block b uses positions [b·(d² + d²), ...): d² for the Gaussian matrix, then d norm
  // vectors of length d (one per row).
  const uint64_t ud = static_cast<uint64_t>(d);
  for (int64_t b = 0; b * d < m; ++b) {
    const uint64_t base = static_cast<uint64_t>(b) * 2 * ud * ud;
    const int64_t rows = std::min(d, m - b * d);
    if (!orthogonal) {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < d; ++c)
          out[(b * d + r) * d + c] = philox_normal(key, base + static_cast<uint64_t>(r * d + c));
      continue;
    }
    // G: d×d Gaussian, column j = g[j·d .. j·d + d). Modified Gram–Schmidt, twice for stability, turns the
    // columns into Q with R_jj = ‖·‖ > 0: Q is Haar-distributed (the QR sign fix).
    std::vector<double> g(static_cast<size_t>(d * d));
    for (size_t i = 0; i < g.size(); ++i) g[i] = philox_normal(key, base + i);
    for (int64_t j = 0; j < d; ++j) {
      double* gj = g.data() + j * d;
      for (int pass = 0; pass < 2; ++pass)
        for (int64_t i = 0; i < j; ++i) {
          const double* qi = g.data() + i * d;
          double proj = 0;
          for (int64_t c = 0; c < d; ++c) proj += qi[c] * gj[c];
          for (int64_t c = 0; c < d; ++c) gj[c] -= proj * qi[c];
        }
      double norm = 0;
      for (int64_t c = 0; c < d; ++c) norm += gj[c] * gj[c];
      norm = std::sqrt(norm);
      for (int64_t c = 0; c < d; ++c) gj[c] /= norm;
    }
    for (int64_t r = 0; r < rows; ++r) {
      // Row length: the norm of a fresh Gaussian d-vector, so each row has the marginal law of an iid row.
      double len = 0;
      for (int64_t c = 0; c < d; ++c) {
        const double z = philox_normal(key, base + ud * ud + static_cast<uint64_t>(r * d + c));
        len += z * z;
      }
      len = std::sqrt(len);
      for (int64_t c = 0; c < d; ++c) out[(b * d + r) * d + c] = len * g[static_cast<size_t>(r * d + c)];
    }
  }
  return w;
}

}  // namespace lat::kernels
