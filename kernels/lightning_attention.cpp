// Shape checks and device dispatch for kernels/lightning_attention.h.
#include "kernels/lightning_attention.h"

#include <initializer_list>

#include "kernels/cpu/lightning_attention.h"
#include "kernels/dispatch.h"
#include "kernels/documents.h"
#include "kernels/feature_maps.h"

#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#include "kernels/cuda/attention_normalize.cuh"
#include "kernels/cuda/lightning_attention.cuh"
#endif

namespace lat::kernels {
namespace {

// m: the size of q and k; rows: the state's rows (feature_map.features(m)).
struct Dims {
  int64_t batch, heads, n, m, e, rows;
};

// state_extra_cols: 1 for the normalised form, whose states carry z as one more column.
Dims check_core(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                const Tensor& initial_state, int64_t block, const CoreFeatureMap& feature_map,
                const Tensor& document_starts, int64_t state_extra_cols = 0) {
  LAT_CHECK(q.ndim() == 4, op, ": q must be [B, H, N, m], got ", q.shape().str());
  const Dims d{q.size(0), q.size(1), q.size(2), q.size(3), v.ndim() == 4 ? v.size(3) : -1,
               feature_map.features(q.size(3))};
  check_shape(op, "k", k, q.shape());
  check_shape(op, "v", v, Shape{d.batch, d.heads, d.n, d.e});
  check_shape(op, "log_decay", log_decay, Shape{d.heads});
  // On CUDA, boundaries take the generic per-token path (the tile kernels do not honour them yet).
  if (document_starts.defined()) check_document_starts(op, document_starts, d.batch, d.n, q);
  if (feature_map.kind == CoreFeatureMap::Kind::Cosine)
    check_cosine_positions(feature_map.max_context, feature_map.offset, d.n, document_starts);
  if (initial_state.defined()) {
    check_shape(op, "initial_state", initial_state, Shape{d.batch, d.heads, d.rows, d.e + state_extra_cols});
    check_same_placement(op, q, initial_state);
  }
  LAT_CHECK(block >= 1, op, ": block must be ≥ 1, got ", block);
  check_same_placement(op, q, k);
  check_same_placement(op, q, v);
  check_same_device(op, q, log_decay);
  LAT_CHECK(log_decay.dtype() == q.dtype() || log_decay.dtype() == accumulation_dtype(q.dtype()), op,
            ": log_decay must be ", dtype_name(q.dtype()), " or ", dtype_name(accumulation_dtype(q.dtype())), " for ",
            dtype_name(q.dtype()), " operands, got ", dtype_name(log_decay.dtype()));
  return d;
}

// Operands and results may have any strides (e.g. [B, N, H, D] buffers seen as [B, H, N, D]): the CUDA fast path
// reads and writes them in place; the other paths work on contiguous copies and copy results back.
Tensor contiguous_or_empty(const Tensor& t) { return t.defined() ? t.contiguous() : Tensor(); }
// `out` itself when it can be written directly, else a contiguous stand-in of its shape and `dtype`.
Tensor target_for(const Tensor& out, DType dtype, bool strided_ok) {
  if (!out.defined() || (out.dtype() == dtype && (strided_ok || out.is_contiguous()))) return out;
  return Tensor::empty(out.shape(), dtype, out.device());
}
void copy_back(Tensor& out, const Tensor& result) {
  if (out.defined() && result.raw_data() != out.raw_data()) out.copy_(result);
}

// φ(x) into a new contiguous tensor, and x's gradient from φ(x)'s (the paths that do not fuse the map).
Tensor mapped(const CoreFeatureMap& f, const Tensor& x, const Tensor& starts) {
  const Tensor xc = x.contiguous();
  const Shape& s = xc.shape();
  Tensor y = Tensor::empty(Shape{s[0], s[1], s[2], f.features(s[3])}, xc.dtype(), xc.device());
  if (f == CoreFeatureMap::Elu1) elu1_forward(xc, y);
  else if (f == CoreFeatureMap::Silu) silu_forward(xc, y);
  else cosine_feature_forward(xc, f.max_context, f.offset, y, starts);
  return y;
}
void mapped_backward(const CoreFeatureMap& f, const Tensor& x, const Tensor& starts, const Tensor& grad_mapped,
                     Tensor& grad_x) {
  const Tensor xc = x.contiguous();
  Tensor gx = target_for(grad_x, grad_x.dtype(), false);
  if (f == CoreFeatureMap::Elu1) elu1_backward(xc, grad_mapped, gx);
  else if (f == CoreFeatureMap::Silu) silu_backward(xc, grad_mapped, gx);
  else cosine_feature_backward(xc, f.max_context, f.offset, grad_mapped, gx, starts);
  copy_back(grad_x, gx);
}

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mut_ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}


#ifdef LAT_HAVE_CUDA
// CUDA branch (kernels/cuda/lightning_attention.cuh). q/k/v/o may be bf16 or f32. Fast path (m == e ∈ {64, 128}):
// the tensor-core kernels run in bf16 with fp32 accumulation and fp32 state, reading and writing tensors in place
// through their strides; f32 operands are rounded to bf16 on the way in, f32 results are written as f32. Other
// shapes (d ≠ e, e.g. the normalised form's e + 1) run the generic fp32 recurrence on contiguous operands of
// their own dtype. Log-decay and the states are handled in f32 (cast when the tensors hold another dtype).
Tensor f32_or_empty(const Tensor& t) { return t.defined() ? t.to(DType::F32).contiguous() : Tensor(); }
const float* f32_ptr(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
float* f32_mut(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
cuda::La2View la2_view(const Tensor& t) { return {t.raw_data(), t.strides()[0], t.strides()[1], t.strides()[2]}; }
bool la2_in_place(const Tensor& t, DType dtype) {
  return t.dtype() == dtype && (t.strides()[3] == 1 || t.size(3) == 1) && cuda::la2_view_supported(la2_view(t));
}
// A bf16 operand the fast path reads in place.
Tensor bf16_operand(const Tensor& t) { return la2_in_place(t, DType::BF16) ? t : t.to(DType::BF16).contiguous(); }
// Results are written in bf16, or in f32 for f32 results (no rounding through bf16 on the way): `out` itself
// when it can be written in place, else a contiguous stand-in (copy_back).
DType la2_result_dtype(const Tensor& out) { return out.dtype() == DType::F32 ? DType::F32 : DType::BF16; }
Tensor la2_result(const Tensor& out, DType dtype) {
  return la2_in_place(out, dtype) ? out : target_for(out, dtype, false);
}
Tensor f32_workspace(int64_t floats, const Tensor& like) {
  return floats > 0 ? Tensor::empty(Shape{floats}, DType::F32, like.device()) : Tensor();
}
Tensor generic_workspace(const Dims& d, const Tensor& like) {
  return f32_workspace(cuda::la2_generic_workspace_floats(d.batch * d.heads, d.m, d.e), like);
}
// The fast path's cores for a feature map: one d × d core, or cosFormer's two (the sin half's state rows first,
// then the cos half's), the second adding its results into the first's.
int la2_cores(const CoreFeatureMap& f) { return f.kind == CoreFeatureMap::Kind::Cosine ? 2 : 1; }
cuda::La2Feature la2_feature(const CoreFeatureMap& f, int core) {
  switch (f.kind) {
    case CoreFeatureMap::Kind::Elu1: return cuda::La2Feature::Elu1;
    case CoreFeatureMap::Kind::Silu: return cuda::La2Feature::Silu;
    case CoreFeatureMap::Kind::Cosine: return core == 0 ? cuda::La2Feature::CosSin : cuda::La2Feature::CosCos;
    case CoreFeatureMap::Kind::Identity: break;
  }
  return cuda::La2Feature::Identity;
}
// Core c's rows of a contiguous f32 [B, H, cores·m, e] state (itself for one core; undefined stays undefined),
// and a contiguous f32 stand-in for the rows it writes.
Tensor core_rows(const Tensor& state, int c, int cores, int64_t m) {
  return state.defined() && cores > 1 ? state.slice(2, c * m, (c + 1) * m).contiguous() : state;
}
Tensor core_rows_out(const Tensor& state, int cores, int64_t m) {
  if (!state.defined() || cores == 1) return state;
  const Shape& s = state.shape();
  return Tensor::empty(Shape{s[0], s[1], m, s[3]}, DType::F32, state.device());
}
void copy_core_rows(Tensor& state, const Tensor& rows, int c, int cores, int64_t m) {
  if (!state.defined() || cores == 1) return;
  Tensor dst = state.slice(2, c * m, (c + 1) * m);
  dst.copy_(rows);
}
void check_cuda_dtype(const char* op, const Tensor& q) {
  LAT_CHECK(q.dtype() == DType::BF16 || q.dtype() == DType::F32, op, ": CUDA kernel supports bf16 and f32, got ",
            dtype_name(q.dtype()));
}

void cuda_forward(const Dims& d, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                  const Tensor& initial_state, Tensor& out, Tensor& final_state, Tensor* segment_states,
                  const CoreFeatureMap& feature_map, const Tensor& document_starts) {
  check_cuda_dtype("lightning_attention", q);
  const Tensor decay = log_decay.to(DType::F32).contiguous();
  const Tensor init = f32_or_empty(initial_state);
  Tensor fin = target_for(final_state, DType::F32, false);
  if (cuda::la2_fast_supported(d.m, d.e) && !document_starts.defined()) {
    const Tensor qb = bf16_operand(q), kb = bf16_operand(k), vb = bf16_operand(v);
    const DType rd = la2_result_dtype(out);
    Tensor ob = la2_result(out, rd);
    const int cores = la2_cores(feature_map);
    const int64_t ws_floats = cuda::la2_workspace_floats(d.batch * d.heads, d.n, d.m);
    Tensor ws = f32_workspace(cores * ws_floats, q);  // one workspace per core, kept for the backward
    for (int c = 0; c < cores; ++c) {
      const Tensor init_c = core_rows(init, c, cores, d.m);
      Tensor fin_c = core_rows_out(fin, cores, d.m);
      cuda::La2Forward f{la2_view(qb), la2_view(kb), la2_view(vb), la2_view(ob), rd == DType::F32,
                         la2_feature(feature_map, c), f32_ptr(decay), f32_ptr(init_c), f32_mut(fin_c), d.batch,
                         d.heads, d.n, d.m, ws.defined() ? ws.data<float>() + c * ws_floats : nullptr};
      f.max_context = feature_map.max_context;
      f.position_offset = feature_map.offset;
      f.accumulate = c > 0;
      cuda::la2_forward_bf16(f);
      copy_core_rows(fin, fin_c, c, cores, d.m);
    }
    copy_back(out, ob);
    if (segment_states != nullptr) *segment_states = ws;
  } else {
    const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    Tensor oc = target_for(out, q.dtype(), false), state_ws = generic_workspace(d, q);  // results in q's dtype
    cuda::la2_forward_generic(q.dtype(), qc.raw_data(), kc.raw_data(), vc.raw_data(), f32_ptr(decay), f32_ptr(init),
                              oc.raw_data(), f32_mut(fin), d.batch, d.heads, d.n, d.m, d.e, f32_mut(state_ws),
                              document_starts_or_null(document_starts));
    copy_back(out, oc);
  }
  copy_back(final_state, fin);
}

void cuda_backward(const Dims& d, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                   const Tensor& initial_state, const Tensor& grad_out, const Tensor& grad_final_state,
                   Tensor& grad_q, Tensor& grad_k, Tensor& grad_v, Tensor& grad_initial_state,
                   const Tensor& segment_states, const CoreFeatureMap& feature_map, const Tensor& document_starts) {
  check_cuda_dtype("lightning_attention_backward", q);
  const Tensor decay = log_decay.to(DType::F32).contiguous();
  const Tensor init = f32_or_empty(initial_state);
  const Tensor gfin = f32_or_empty(grad_final_state);
  Tensor ginit = target_for(grad_initial_state, DType::F32, false);
  if (cuda::la2_fast_supported(d.m, d.e) && !document_starts.defined()) {
    const Tensor qb = bf16_operand(q), kb = bf16_operand(k), vb = bf16_operand(v), gb = bf16_operand(grad_out);
    const DType rd = la2_result_dtype(grad_q);
    Tensor dqb = la2_result(grad_q, rd), dkb = la2_result(grad_k, rd), dvb = la2_result(grad_v, rd);
    const int cores = la2_cores(feature_map);
    const int64_t ws_floats = cuda::la2_workspace_floats(d.batch * d.heads, d.n, d.m);
    Tensor ws = f32_workspace(ws_floats, q);  // the cores run one after the other
    LAT_CHECK(!segment_states.defined() ||
                  (ws_floats > 0 && segment_states.shape() == Shape{cores * ws_floats} &&
                   segment_states.dtype() == DType::F32 && segment_states.is_contiguous()),
              "lightning_attention_backward: segment_states ", segment_states.str(),
              " were not made by the forward of these operands");
    for (int c = 0; c < cores; ++c) {
      const Tensor init_c = core_rows(init, c, cores, d.m), gfin_c = core_rows(gfin, c, cores, d.m);
      Tensor ginit_c = core_rows_out(ginit, cores, d.m);
      cuda::La2Backward b{la2_view(qb), la2_view(kb), la2_view(vb), la2_view(gb), la2_view(dqb), la2_view(dkb),
                          la2_view(dvb), rd == DType::F32, la2_feature(feature_map, c), f32_ptr(decay),
                          f32_ptr(init_c), f32_ptr(gfin_c), f32_mut(ginit_c), d.batch, d.heads, d.n, d.m,
                          segment_states.defined() ? segment_states.data<float>() + c * ws_floats : nullptr,
                          f32_mut(ws)};
      b.max_context = feature_map.max_context;
      b.position_offset = feature_map.offset;
      b.accumulate = c > 0;
      cuda::la2_backward_bf16(b);
      copy_core_rows(ginit, ginit_c, c, cores, d.m);
    }
    copy_back(grad_q, dqb);
    copy_back(grad_k, dkb);
    copy_back(grad_v, dvb);
  } else {
    const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous(), gc = grad_out.contiguous();
    Tensor dq = target_for(grad_q, q.dtype(), false), dk = target_for(grad_k, q.dtype(), false),
           dv = target_for(grad_v, q.dtype(), false);  // the generic kernel writes q's dtype
    Tensor state_ws = generic_workspace(d, q);
    cuda::la2_backward_generic(q.dtype(), qc.raw_data(), kc.raw_data(), vc.raw_data(), f32_ptr(decay), f32_ptr(init),
                               gc.raw_data(), f32_ptr(gfin), dq.raw_data(), dk.raw_data(), dv.raw_data(),
                               f32_mut(ginit), d.batch, d.heads, d.n, d.m, d.e, f32_mut(state_ws),
                               document_starts_or_null(document_starts));
    copy_back(grad_q, dq);
    copy_back(grad_k, dk);
    copy_back(grad_v, dv);
  }
  copy_back(grad_initial_state, ginit);
}

// The normalised form on the fast path: one tile kernel computes num, den and the division (La2Forward::denominator;
// o in f32); the backward's sweeps read G, o and den as they are (La2Backward::denominator) and write the gradients
// in their own dtype (bf16, or f32).
bool normalized_on_fast_path(const Tensor& q, int64_t e, const Tensor& document_starts) {
  return q.device().is_cuda() && cuda::la2_fast_supported(q.size(3), e) && !document_starts.defined();
}

void cuda_normalized_forward(const Dims& d, const Tensor& q, const Tensor& k, const Tensor& v,
                             const Tensor& log_decay, const Tensor& initial_state, double eps, Tensor& out,
                             Tensor& final_state, Tensor& denominator) {
  check_cuda_dtype("lightning_attention_normalized", q);
  const Tensor decay = log_decay.to(DType::F32).contiguous();
  const Tensor init = f32_or_empty(initial_state);
  const Tensor qb = bf16_operand(q), kb = bf16_operand(k), vb = bf16_operand(v);
  Tensor ob = la2_result(out, DType::F32), fin = target_for(final_state, DType::F32, false);
  Tensor den = target_for(denominator, DType::F32, false);
  Tensor ws = f32_workspace(cuda::la2_normalized_workspace_floats(d.batch * d.heads, d.n, d.m), q);
  cuda::La2Forward f{la2_view(qb), la2_view(kb), la2_view(vb), la2_view(ob), true, cuda::La2Feature::Identity,
                     f32_ptr(decay), f32_ptr(init), f32_mut(fin), d.batch, d.heads, d.n, d.m, f32_mut(ws)};
  f.denominator = f32_mut(den);
  f.eps = static_cast<float>(eps);
  cuda::la2_forward_bf16(f);
  copy_back(out, ob);
  copy_back(final_state, fin);
  copy_back(denominator, den);
}

void cuda_normalized_backward(const Dims& d, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& log_decay, const Tensor& initial_state, double eps, const Tensor& out,
                              const Tensor& denominator, const Tensor& grad_out, const Tensor& grad_final_state,
                              Tensor& grad_q, Tensor& grad_k, Tensor& grad_v, Tensor& grad_initial_state) {
  check_cuda_dtype("lightning_attention_normalized_backward", q);
  const Tensor decay = log_decay.to(DType::F32).contiguous();
  const Tensor init = f32_or_empty(initial_state), gfin = f32_or_empty(grad_final_state);
  const Tensor o = out.to(DType::F32).contiguous(), den = denominator.to(DType::F32).contiguous();
  const Tensor qb = bf16_operand(q), kb = bf16_operand(k), vb = bf16_operand(v), gb = bf16_operand(grad_out);
  const DType rd = la2_result_dtype(grad_q);
  Tensor dq = la2_result(grad_q, rd), dk = la2_result(grad_k, rd), dv = la2_result(grad_v, rd);
  Tensor ginit = target_for(grad_initial_state, DType::F32, false);
  Tensor ws = f32_workspace(cuda::la2_normalized_workspace_floats(d.batch * d.heads, d.n, d.m), q);
  cuda::La2Backward b{la2_view(qb), la2_view(kb), la2_view(vb), la2_view(gb), la2_view(dq), la2_view(dk),
                      la2_view(dv), rd == DType::F32, cuda::La2Feature::Identity, f32_ptr(decay), f32_ptr(init),
                      f32_ptr(gfin), f32_mut(ginit), d.batch, d.heads, d.n, d.m, nullptr, f32_mut(ws)};
  b.denominator = den.data<float>();
  b.out = o.data<float>();
  b.eps = static_cast<float>(eps);
  cuda::la2_backward_bf16(b);
  copy_back(grad_q, dq);
  copy_back(grad_k, dk);
  copy_back(grad_v, dv);
  copy_back(grad_initial_state, ginit);
}
#endif

// Whether this call's path applies the feature map itself (the CUDA fast path, which boundaries do not take); the
// others get φ(q), φ(k) first.
bool fuses_feature_map(const Tensor& q, const Dims& d, const Tensor& document_starts) {
#ifdef LAT_HAVE_CUDA
  return q.device().is_cuda() && cuda::la2_fast_supported(d.m, d.e) && !document_starts.defined();
#else
  (void)q;
  (void)d;
  (void)document_starts;
  return false;
#endif
}

}  // namespace

void lightning_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                 const Tensor& initial_state, int64_t block, Tensor& out, Tensor& final_state,
                                 Tensor* segment_states, const CoreFeatureMap& feature_map,
                                 const Tensor& document_starts) {
  const char* op = "lightning_attention";
  const Dims d = check_core(op, q, k, v, log_decay, initial_state, block, feature_map, document_starts);
  check_shape(op, "out", out, v.shape());
  if (final_state.defined()) check_shape(op, "final_state", final_state, Shape{d.batch, d.heads, d.rows, d.e});
  if (segment_states != nullptr) *segment_states = Tensor();
  if (feature_map.kind != CoreFeatureMap::Kind::Identity && !fuses_feature_map(q, d, document_starts)) {
    lightning_attention_forward(mapped(feature_map, q, document_starts), mapped(feature_map, k, document_starts), v,
                                log_decay, initial_state, block, out, final_state, segment_states,
                                CoreFeatureMap::Identity, document_starts);
    return;
  }
  if (q.device().is_cuda()) {
    LAT_IF_CUDA(op, q,
                cuda_forward(d, q, k, v, log_decay, initial_state, out, final_state, segment_states, feature_map,
                             document_starts));
    return;
  }
  const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous(), decay = log_decay.contiguous();
  const Tensor init = contiguous_or_empty(initial_state);
  Tensor oc = target_for(out, out.dtype(), false);
  Tensor fin = final_state.defined() ? target_for(final_state, final_state.dtype(), false)
                                     : Tensor::empty(Shape{d.batch, d.heads, d.rows, d.e}, q.dtype(), q.device());
  dispatch_cpu_floating(op, q.dtype(), [&]<class T>() {
    cpu::lightning_attention_forward<T>(qc.data<T>(), kc.data<T>(), vc.data<T>(), decay.data<T>(),
                                        ptr_or_null<T>(init), oc.data<T>(), fin.data<T>(), d.batch, d.heads, d.n,
                                        d.m, d.e, block, document_starts_or_null(document_starts));
  });
  copy_back(out, oc);
  copy_back(final_state, fin);
}

void lightning_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& log_decay,
                                  const Tensor& initial_state, int64_t block, const Tensor& grad_out,
                                  const Tensor& grad_final_state, Tensor& grad_q, Tensor& grad_k, Tensor& grad_v,
                                  Tensor& grad_initial_state, const Tensor& segment_states,
                                  const CoreFeatureMap& feature_map, const Tensor& document_starts) {
  const char* op = "lightning_attention_backward";
  const Dims d = check_core(op, q, k, v, log_decay, initial_state, block, feature_map, document_starts);
  const Shape state_shape{d.batch, d.heads, d.rows, d.e};
  check_shape(op, "grad_out", grad_out, v.shape());
  if (grad_final_state.defined()) check_shape(op, "grad_final_state", grad_final_state, state_shape);
  check_shape(op, "grad_q", grad_q, q.shape());
  check_shape(op, "grad_k", grad_k, k.shape());
  check_shape(op, "grad_v", grad_v, v.shape());
  if (grad_initial_state.defined()) check_shape(op, "grad_initial_state", grad_initial_state, state_shape);
  if (feature_map.kind != CoreFeatureMap::Kind::Identity && !fuses_feature_map(q, d, document_starts)) {
    const Tensor qf = mapped(feature_map, q, document_starts), kf = mapped(feature_map, k, document_starts);
    Tensor dqf = Tensor::empty_like(qf), dkf = Tensor::empty_like(kf);
    lightning_attention_backward(qf, kf, v, log_decay, initial_state, block, grad_out, grad_final_state, dqf, dkf,
                                 grad_v, grad_initial_state, segment_states, CoreFeatureMap::Identity,
                                 document_starts);
    mapped_backward(feature_map, q, document_starts, dqf, grad_q);
    mapped_backward(feature_map, k, document_starts, dkf, grad_k);
    return;
  }
  if (q.device().is_cuda()) {
    LAT_IF_CUDA(op, q,
                cuda_backward(d, q, k, v, log_decay, initial_state, grad_out, grad_final_state, grad_q, grad_k,
                              grad_v, grad_initial_state, segment_states, feature_map, document_starts));
    return;
  }
  const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous(), decay = log_decay.contiguous();
  const Tensor init = contiguous_or_empty(initial_state), gc = grad_out.contiguous();
  const Tensor gfin = contiguous_or_empty(grad_final_state);
  Tensor dq = target_for(grad_q, grad_q.dtype(), false), dk = target_for(grad_k, grad_k.dtype(), false),
         dv = target_for(grad_v, grad_v.dtype(), false);
  Tensor dinit = target_for(grad_initial_state, grad_initial_state.defined() ? grad_initial_state.dtype() : q.dtype(),
                            false);
  dispatch_cpu_floating(op, q.dtype(), [&]<class T>() {
    cpu::lightning_attention_backward<T>(qc.data<T>(), kc.data<T>(), vc.data<T>(), decay.data<T>(),
                                         ptr_or_null<T>(init), gc.data<T>(), ptr_or_null<T>(gfin), dq.data<T>(),
                                         dk.data<T>(), dv.data<T>(), mut_ptr_or_null<T>(dinit), d.batch, d.heads,
                                         d.n, d.m, d.e, block, document_starts_or_null(document_starts));
  });
  copy_back(grad_q, dq);
  copy_back(grad_k, dk);
  copy_back(grad_v, dv);
  copy_back(grad_initial_state, dinit);
}

void augment_values(const Tensor& v, Tensor& v_aug) {
  const char* op = "augment_values";
  LAT_CHECK(v.ndim() == 4 && v.is_contiguous(), op, ": v must be a contiguous [B, H, N, e], got ", v.str());
  check_shape(op, "v_aug", v_aug, Shape{v.size(0), v.size(1), v.size(2), v.size(3) + 1});
  check_same_placement(op, v, v_aug);
  if (v.device().is_cuda()) {
    LAT_IF_CUDA(op, v, cuda::augment_values(v.raw_data(), v_aug.raw_data(), v.dtype(), v.numel() / v.size(3), v.size(3)));
    return;
  }
  dispatch_cpu_floating(op, v.dtype(), [&]<class T>() {
    cpu::augment_values<T>(v.data<T>(), v_aug.data<T>(), v.numel() / v.size(3), v.size(3));
  });
}

namespace {

// The row stride of a [B, H, N, c] tensor whose rows (last dimension contiguous) sit at one stride apart in
// (b, h, n) order, as in any last-dimension slice of a contiguous tensor; throws otherwise.
int64_t row_stride(const char* op, const char* name, const Tensor& t) {
  const Shape& s = t.shape();
  const Shape& st = t.strides();
  const int64_t rs = s[2] > 1 ? st[2] : s[1] > 1 ? st[1] : s[0] > 1 ? st[0] : s[3];
  const bool ok = (s[3] == 1 || st[3] == 1) && (s[2] == 1 || st[2] == rs) && (s[1] == 1 || st[1] == s[2] * rs) &&
                  (s[0] == 1 || st[0] == s[1] * s[2] * rs);
  LAT_CHECK(ok, op, ": ", name, " must hold its rows at one stride (a last-dimension slice of a contiguous tensor)");
  return rs;
}

}  // namespace

void normalize_by_denominator(const Tensor& num, const Tensor& den_column, double eps, Tensor& out,
                              Tensor& denominator) {
  const char* op = "normalize_by_denominator";
  LAT_CHECK(num.ndim() == 4, op, ": num must be [B, H, N, e], got ", num.str());
  const Shape& s = num.shape();
  check_shape(op, "den_column", den_column, Shape{s[0], s[1], s[2], 1});
  check_shape(op, "out", out, s);
  check_shape(op, "denominator", denominator, Shape{s[0], s[1], s[2]});
  for (const Tensor* t : std::initializer_list<const Tensor*>{&den_column, &out, &denominator})
    check_same_placement(op, num, *t);
  LAT_CHECK(out.is_contiguous() && denominator.is_contiguous(), op, ": out and denominator must be contiguous");
  const int64_t ns = row_stride(op, "num", num), ds = row_stride(op, "den_column", den_column);
  const int64_t rows = s[0] * s[1] * s[2];
  if (num.device().is_cuda()) {
    LAT_IF_CUDA(op, num,
                cuda::normalize_by_denominator(num.raw_data(), ns, den_column.raw_data(), ds, eps, out.raw_data(),
                                               denominator.raw_data(), num.dtype(), rows, s[3]));
    return;
  }
  dispatch_cpu_floating(op, num.dtype(), [&]<class T>() {
    cpu::normalize_by_denominator<T>(num.data<T>(), ns, den_column.data<T>(), ds, static_cast<T>(eps), out.data<T>(),
                                     denominator.data<T>(), rows, s[3]);
  });
}

void denominator_backward(const Tensor& grad_out, const Tensor& out, const Tensor& denominator, Tensor& grad_num,
                          Tensor& grad_den_column) {
  const char* op = "denominator_backward";
  LAT_CHECK(out.ndim() == 4, op, ": out must be [B, H, N, e], got ", out.shape().str());
  const Shape& s = out.shape();
  check_shape(op, "grad_out", grad_out, s);
  check_shape(op, "denominator", denominator, Shape{s[0], s[1], s[2]});
  check_shape(op, "grad_num", grad_num, s);
  check_shape(op, "grad_den_column", grad_den_column, Shape{s[0], s[1], s[2], 1});
  for (const Tensor* t : std::initializer_list<const Tensor*>{&grad_out, &denominator, &grad_num, &grad_den_column})
    check_same_placement(op, out, *t);
  LAT_CHECK(grad_out.is_contiguous() && out.is_contiguous() && denominator.is_contiguous(), op,
            ": grad_out, out and denominator must be contiguous");
  const int64_t ns = row_stride(op, "grad_num", grad_num), ds = row_stride(op, "grad_den_column", grad_den_column);
  const int64_t rows = s[0] * s[1] * s[2];
  if (out.device().is_cuda()) {
    LAT_IF_CUDA(op, out,
                cuda::denominator_backward(grad_out.raw_data(), out.raw_data(), denominator.raw_data(),
                                           grad_num.raw_data(), ns, grad_den_column.raw_data(), ds, out.dtype(), rows,
                                           s[3]));
    return;
  }
  dispatch_cpu_floating(op, out.dtype(), [&]<class T>() {
    cpu::denominator_backward<T>(grad_out.data<T>(), out.data<T>(), denominator.data<T>(), grad_num.data<T>(), ns,
                                 grad_den_column.data<T>(), ds, rows, s[3]);
  });
}

void lightning_attention_normalized_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                            const Tensor& log_decay, const Tensor& initial_state, int64_t block,
                                            double eps, Tensor& out, Tensor& final_state, Tensor& denominator,
                                            const Tensor& document_starts) {
  const char* op = "lightning_attention_normalized";
  const Dims d = check_core(op, q, k, v, log_decay, initial_state, block, CoreFeatureMap::Identity, document_starts, 1);
  const int64_t e = d.e;
  if (final_state.defined()) check_shape(op, "final_state", final_state, Shape{d.batch, d.heads, d.m, e + 1});
  check_shape(op, "out", out, v.shape());
  check_shape(op, "denominator", denominator, Shape{d.batch, d.heads, d.n});
#ifdef LAT_HAVE_CUDA
  if (normalized_on_fast_path(q, e, document_starts)) {
    cuda_normalized_forward(d, q, k, v, log_decay, initial_state, eps, out, final_state, denominator);
    return;
  }
#endif
  const DType acc = accumulation_dtype(q.dtype());
  auto in_acc = [acc](const Tensor& t) { return t.defined() ? t.to(acc).contiguous() : Tensor(); };
  Tensor v_aug = Tensor::empty(Shape{v.size(0), v.size(1), v.size(2), e + 1}, acc, v.device());
  augment_values(in_acc(v), v_aug);
  Tensor num = Tensor::empty_like(v_aug), fin = target_for(final_state, acc, false);
  lightning_attention_forward(in_acc(q), in_acc(k), v_aug, in_acc(log_decay), in_acc(initial_state), block, num, fin,
                              nullptr, CoreFeatureMap::Identity, document_starts);
  Tensor o = target_for(out, acc, false), den = target_for(denominator, acc, false);
  normalize_by_denominator(num.slice(3, 0, e), num.slice(3, e, e + 1), eps, o, den);
  copy_back(out, o);
  copy_back(denominator, den);
  copy_back(final_state, fin);
}

void lightning_attention_normalized_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& log_decay, const Tensor& initial_state, int64_t block,
                                             double eps, const Tensor& out, const Tensor& denominator, const Tensor& grad_out,
                                             const Tensor& grad_final_state, Tensor& grad_q, Tensor& grad_k,
                                             Tensor& grad_v, Tensor& grad_initial_state,
                                             const Tensor& document_starts) {
  const char* op = "lightning_attention_normalized_backward";
  const Dims d = check_core(op, q, k, v, log_decay, initial_state, block, CoreFeatureMap::Identity, document_starts, 1);
  const int64_t e = d.e;
  check_shape(op, "out", out, v.shape());
  check_shape(op, "grad_out", grad_out, v.shape());
  check_shape(op, "denominator", denominator, Shape{d.batch, d.heads, d.n});
#ifdef LAT_HAVE_CUDA
  if (normalized_on_fast_path(q, e, document_starts)) {
    check_shape(op, "grad_q", grad_q, q.shape());
    check_shape(op, "grad_k", grad_k, k.shape());
    check_shape(op, "grad_v", grad_v, v.shape());
    check_same_device(op, q, grad_out);
    cuda_normalized_backward(d, q, k, v, log_decay, initial_state, eps, out, denominator, grad_out, grad_final_state,
                             grad_q, grad_k, grad_v, grad_initial_state);
    return;
  }
#endif
  const DType acc = accumulation_dtype(q.dtype());
  auto in_acc = [acc](const Tensor& t) { return t.defined() ? t.to(acc).contiguous() : Tensor(); };
  const Tensor qa = in_acc(q), ka = in_acc(k), va = in_acc(v);
  Tensor v_aug = Tensor::empty(Shape{v.size(0), v.size(1), v.size(2), e + 1}, acc, v.device());
  augment_values(va, v_aug);
  Tensor g_aug = Tensor::empty_like(v_aug);
  Tensor g_aug_num = g_aug.slice(3, 0, e), g_aug_den = g_aug.slice(3, e, e + 1);
  denominator_backward(in_acc(grad_out), in_acc(out), in_acc(denominator), g_aug_num, g_aug_den);
  Tensor dq = Tensor::empty(q.shape(), acc, q.device()), dk = Tensor::empty(k.shape(), acc, k.device());
  Tensor dv_aug = Tensor::empty_like(v_aug);
  Tensor dinit = grad_initial_state.defined() ? Tensor::empty(grad_initial_state.shape(), acc, q.device()) : Tensor();
  lightning_attention_backward(qa, ka, v_aug, in_acc(log_decay), in_acc(initial_state), block, g_aug,
                               in_acc(grad_final_state), dq, dk, dv_aug, dinit, Tensor(), CoreFeatureMap::Identity,
                               document_starts);
  grad_q.copy_(dq);
  grad_k.copy_(dk);
  grad_v.copy_(dv_aug.slice(3, 0, e));
  copy_back(grad_initial_state, dinit);
}

}  // namespace lat::kernels
