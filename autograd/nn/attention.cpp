#include "autograd/nn/attention.h"

#include <cmath>
#include <optional>

#include "autograd/attention_ops.h"
#include "autograd/nn/init.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/attention_decay.h"
#include "kernels/feature_maps.h"

namespace lat::autograd::nn {
namespace {

const char* name_of(FeatureMapKind f) {
  switch (f) {
    case FeatureMapKind::Elu1: return "elu1";
    case FeatureMapKind::Cosine: return "cosine";
    case FeatureMapKind::Random: return "random";
    case FeatureMapKind::Identity: return "identity";
    case FeatureMapKind::Silu: return "silu";
  }
  return "?";
}

// The maps the linear-attention core applies itself (fused into its loads on the GPU): the pointwise ones, and
// cosFormer's with the chunk's absolute position (the same M and offset as cosine_feature_map's).
std::optional<kernels::CoreFeatureMap> core_feature_map(const AttentionConfig& c, int64_t position) {
  switch (c.feature_map) {
    case FeatureMapKind::Identity: return kernels::CoreFeatureMap::Identity;
    case FeatureMapKind::Elu1: return kernels::CoreFeatureMap::Elu1;
    case FeatureMapKind::Silu: return kernels::CoreFeatureMap::Silu;
    case FeatureMapKind::Cosine: return kernels::CoreFeatureMap::cosine(c.max_context, position);
    case FeatureMapKind::Random: break;
  }
  return std::nullopt;
}

// [B, H, P, c] ++ [B, H, N, c] along positions (detached: the streaming cache).
Tensor append_positions(const Tensor& cache, const Tensor& chunk) {
  if (!cache.defined()) return chunk.contiguous().clone();
  const Shape& s = chunk.shape();
  const int64_t p = cache.size(2);
  Tensor out = Tensor::empty(Shape{s[0], s[1], p + s[2], s[3]}, chunk.dtype(), chunk.device());
  Tensor head = out.slice(2, 0, p), tail = out.slice(2, p, p + s[2]);
  head.copy_(cache);
  tail.copy_(chunk);
  return out;
}

}  // namespace

void AttentionConfig::validate(int64_t d_model) const {
  if (d_model <= 0) LAT_THROW("attention: d_model must be positive, got ", d_model);
  if (heads <= 0) LAT_THROW("attention.heads must be positive, got ", heads);
  if (head_dim <= 0 || heads * head_dim != d_model)
    LAT_THROW("attention.head_dim (", head_dim, ") times attention.heads (", heads, ") must equal d_model (", d_model,
              ")");
  if (rope && head_dim % 2 != 0) LAT_THROW("attention.head_dim must be even with rope = true, got ", head_dim);
  if (block < 1) LAT_THROW("attention.block must be ≥ 1, got ", block);
  if (num_layers < 1) LAT_THROW("attention.num_layers must be ≥ 1, got ", num_layers);
  if (layer < 0 || layer >= num_layers) LAT_THROW("attention.layer ", layer, " is outside [0, ", num_layers, ")");
  if (!(eps > 0)) LAT_THROW("attention.eps must be positive, got ", eps);
  if (rope && !(rope_base > 1)) LAT_THROW("attention.rope_base must be > 1, got ", rope_base);
  if (kind == AttentionKind::Softmax) {
    if (decay != DecayKind::None)
      LAT_THROW("attention.decay = alibi applies to linear attention only (kind = softmax has no decay)");
    return;
  }
  if (feature_dim <= 0) LAT_THROW("attention.feature_dim must be positive, got ", feature_dim);
  const bool signed_map = feature_map == FeatureMapKind::Identity || feature_map == FeatureMapKind::Silu;
  if (signed_map && normalize == OutputForm::Denominator)
    LAT_THROW("attention.normalize = denominator needs q̃·k̃ ≥ 0, but attention.feature_map = ", name_of(feature_map),
              " can be negative: use normalize = rmsnorm");
  if ((signed_map || feature_map == FeatureMapKind::Elu1) && feature_dim != head_dim)
    LAT_THROW("attention.feature_dim must equal head_dim (", head_dim, ") for feature_map = ", name_of(feature_map),
              ", got ", feature_dim);
  if (feature_map == FeatureMapKind::Cosine) {
    if (feature_dim != 2 * head_dim)
      LAT_THROW("attention.feature_dim must equal 2·head_dim (", 2 * head_dim, ") for feature_map = cosine, got ",
                feature_dim);
    if (max_context <= 0)
      LAT_THROW("attention.max_context must be positive for feature_map = cosine (the cosFormer M), got ", max_context);
  }
}

Attention::Attention(const InitContext& ctx, int64_t d_model, const AttentionConfig& config)
    : config_(config), d_model_(d_model), feature_seed_(config.seed != 0 ? config.seed : ctx.seed) {
  config_.validate(d_model);
  const int64_t hd = config_.heads * config_.head_dim;
  const double std_in = 1.0 / std::sqrt(static_cast<double>(d_model));
  // Output projection scaled down by sqrt(2 L) (GPT-2's residual-branch scaling).
  const double std_out = 1.0 / std::sqrt(static_cast<double>(hd) * 2.0 * static_cast<double>(config_.num_layers));
  auto make = [&](const char* name, int64_t out, int64_t in, double std) {
    return register_parameter(name, init_normal(Shape{out, in}, std, ctx.seed, ctx.full_name(name), ctx.device));
  };
  w_q = make("w_q", hd, d_model, std_in);
  w_k = make("w_k", hd, d_model, std_in);
  w_v = make("w_v", hd, d_model, std_in);
  if (config_.gate) w_g = make("w_g", hd, d_model, std_in);
  w_o = make("w_o", d_model, hd, std_out);
  log_decay_ = config_.kind == AttentionKind::Linear && config_.decay == DecayKind::Alibi
                   ? kernels::alibi_log_decay(config_.heads, config_.layer, config_.num_layers, DType::F64)
                   : Tensor::zeros(Shape{config_.heads}, DType::F64);
  if (config_.kind == AttentionKind::Linear && config_.feature_map == FeatureMapKind::Random)
    redraw_random_features(0);
}

const Tensor& Attention::DeviceCopy::of(const Tensor& host, DType dtype, Device device) {
  if (!value.defined() || value.dtype() != dtype || value.device() != device) value = host.to(dtype).to(device);
  return value;
}

void Attention::set_random_features(const Tensor& w) {
  check_shape("Attention::set_random_features", "w", w, Shape{config_.feature_dim, config_.head_dim});
  random_features_ = w.to(Device::cpu()).to(DType::F64).contiguous();
  random_features_copy_ = {};
}

void Attention::redraw_random_features(int64_t draw) {
  random_features_ = kernels::draw_random_features(feature_seed_, config_.layer, draw, config_.feature_dim,
                                                   config_.head_dim);
  random_features_copy_ = {};
}

Variable Attention::split_heads(const Variable& y) const {
  return reshape(y, {y.size(0), y.size(1), config_.heads, config_.head_dim});
}

Variable Attention::feature_map(const Variable& x, bool is_query, int64_t position, AttentionState* state,
                                const Tensor& w, const Tensor& document_starts) const {
  switch (config_.feature_map) {
    case FeatureMapKind::Elu1: return elu1_feature_map(x);
    case FeatureMapKind::Silu: return silu_feature_map(x);
    case FeatureMapKind::Identity: return x;
    case FeatureMapKind::Cosine: return cosine_feature_map(x, config_.max_context, position, document_starts);
    case FeatureMapKind::Random: {
      const Tensor fixed = !is_query && state ? state->key_stabilizer : Tensor();
      RandomFeatureOutput r = random_feature_map(x, w, is_query, fixed, document_starts);
      if (!is_query && state && !fixed.defined()) state->key_stabilizer = r.stabilizer;
      return r.features;
    }
  }
  LAT_THROW("attention: unknown feature map");
}

Variable Attention::run(const Variable& x, AttentionState* state, const Tensor& document_starts) const {
  if (x.ndim() != 3 || x.size(2) != d_model_)
    LAT_THROW("Attention: x must be [B, N, ", d_model_, "], got ", x.shape().str());
  const int64_t position = state ? state->position : 0;
  const Tensor& starts = document_starts;  // every op below restarts at each document (undefined: none)
  // Token shift: the key at t is projected from the input at t - 1 (the previous chunk's last input when
  // streaming), so the state binds each token's predecessor to it.
  const Variable key_input =
      config_.key_shift ? shift_sequence(x, state ? state->last_input : Tensor(), starts) : x;
  if (state && config_.key_shift) state->last_input = x.data().slice(1, x.size(1) - 1, x.size(1)).contiguous().clone();
  // q, k, v: [B, H, N, d] views of the projections' [B, N, H, d] (no copy: the attention cores take strides).
  auto heads_first = [&](const Variable& y) { return transpose(split_heads(y), 1, 2); };
  Variable q = heads_first(linear(x, w_q)), k = heads_first(linear(key_input, w_k)), v = heads_first(linear(x, w_v));
  if (config_.rope) {
    q = rope(q, position, config_.rope_base, starts);
    k = rope(k, position, config_.rope_base, starts);
  }
  Variable o;
  if (config_.kind == AttentionKind::Softmax) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(config_.head_dim));
    if (state && state->k_cache.defined()) {
      state->k_cache = append_positions(state->k_cache, k.data());
      state->v_cache = append_positions(state->v_cache, v.data());
      o = softmax_attention(q, Variable(state->k_cache), Variable(state->v_cache), scale);
    } else {
      o = softmax_attention(q, k, v, scale, starts);
      if (state) {
        state->k_cache = append_positions(Tensor(), k.data());
        state->v_cache = append_positions(Tensor(), v.data());
      }
    }
  } else {
    const Tensor w =
        random_features_.defined() ? random_features_copy_.of(random_features_, x.dtype(), x.device()) : Tensor();
    // The RMSNorm form hands the pointwise and cosine maps to the core; the rest are applied here.
    const std::optional<kernels::CoreFeatureMap> in_core =
        config_.normalize == OutputForm::RmsNorm ? core_feature_map(config_, position) : std::nullopt;
    const Variable qf = in_core ? q : feature_map(q, true, position, state, w, starts);
    const Variable kf = in_core ? k : feature_map(k, false, position, state, w, starts);
    // The core takes s on x's device, in the accumulation dtype (a bf16 log-decay would be off by up to 0.4 %).
    const Tensor s = log_decay_copy_.of(log_decay_, accumulation_dtype(x.dtype()), x.device());
    const Variable init = state && state->kv.defined() ? Variable(state->kv) : Variable();
    LinearAttentionOutput r;
    const bool keep_state = state != nullptr;  // the final state is computed only for streaming
    if (config_.normalize == OutputForm::Denominator) {
      r = lightning_attention_normalized(qf, kf, v, s, config_.block, init, config_.eps, keep_state, starts);
      o = r.out;
    } else {
      r = lightning_attention(qf, kf, v, s, config_.block, init,
                              in_core.value_or(kernels::CoreFeatureMap::Identity), keep_state, starts);
      o = r.out;
    }
    if (state) state->kv = r.final_state.data();
  }
  // Back to [B, N, H, d]: a view when the core wrote that layout (lightning_attention follows v's), else the
  // first op below copies.
  o = transpose(o, 1, 2);
  if (config_.kind == AttentionKind::Linear && config_.normalize != OutputForm::Denominator)
    o = head_rmsnorm(o, config_.eps);
  if (config_.gate) o = sigmoid_gate(o, split_heads(linear(x, w_g)));
  if (state) state->position += x.size(1);
  return linear(reshape(contiguous(o), {o.size(0), o.size(1), config_.heads * config_.head_dim}), w_o);
}

Variable Attention::forward(const Variable& x, const Tensor& document_starts) const {
  return run(x, nullptr, document_starts);
}

Variable Attention::step(const Variable& x, AttentionState& state) const { return run(x, &state, Tensor()); }

double Attention::projection_parameters() const {
  const double hd = static_cast<double>(config_.heads * config_.head_dim), d = static_cast<double>(d_model_);
  return (config_.gate ? 4.0 : 3.0) * hd * d + hd * d;
}

int64_t Attention::state_floats_per_layer() const {
  if (config_.kind == AttentionKind::Softmax) return 0;
  const int64_t h = config_.heads, m = config_.feature_dim, e = config_.head_dim;
  int64_t floats = h * m * (e + (config_.normalize == OutputForm::Denominator ? 1 : 0));
  if (config_.feature_map == FeatureMapKind::Random) floats += h;
  if (config_.key_shift) floats += d_model_;
  return floats;
}

int64_t Attention::kv_cache_floats_per_token() const {
  return config_.kind == AttentionKind::Softmax ? 2 * config_.heads * config_.head_dim : 0;
}

double Attention::forward_flops_per_token(int64_t seq_len) const {
  const double h = static_cast<double>(config_.heads), d = static_cast<double>(config_.head_dim);
  if (config_.kind == AttentionKind::Softmax) return h * static_cast<double>(seq_len + 1) * 2.0 * d;  // (d + e) per key
  const double m = static_cast<double>(config_.feature_dim);
  const double e = d + (config_.normalize == OutputForm::Denominator ? 1.0 : 0.0);
  const double block = static_cast<double>(std::min<int64_t>(config_.block, std::max<int64_t>(seq_len, 1)));
  // Inter-block product and state update (2·m·e each) + intra-block left product (block/2 keys × 2(m + e)).
  double flops = 4.0 * m * e + block * (m + e);
  if (config_.feature_map == FeatureMapKind::Random) flops += 2.0 * 2.0 * m * d;  // w_r·x for q and k
  return h * flops;
}

}  // namespace lat::autograd::nn
