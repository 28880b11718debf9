#include "trainers/memory_estimate.h"

#include <fmt/format.h>

#include "core/host.h"
#include "trainers/setup.h"

#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#endif

namespace lat::trainers {
namespace {

// Per-layer bookkeeping beside the tensors (modules, names, parameter maps): keeps a model of 10^8 tiny
// layers from looking free.
constexpr double kLayerOverheadBytes = 4096;

double device_memory_bytes(Device device) {
  if (device.is_cpu()) return host_memory_bytes();
#ifdef LAT_HAVE_CUDA
  return static_cast<double>(cuda::total_memory(device.index));
#else
  return 0;
#endif
}

// The key a refusal names: of those that drive the estimate, the one furthest above its default, among the
// keys the recipe sets if it sets any (a derived head_dim is not what to change).
const char* blamed_key(const Recipe& r) {
  const Recipe d;
  const std::pair<const char*, double> ratios[] = {
      {"model.d_model", static_cast<double>(r.model.d_model) / static_cast<double>(d.model.d_model)},
      {"model.layers", static_cast<double>(r.model.layers) / static_cast<double>(d.model.layers)},
      {"model.mlp_hidden",
       static_cast<double>(r.resolved_mlp_hidden()) / static_cast<double>(d.resolved_mlp_hidden())},
      {"attention.heads", static_cast<double>(r.attention.heads) / static_cast<double>(d.attention.heads)},
      {"attention.head_dim",
       static_cast<double>(r.resolved_head_dim()) / static_cast<double>(d.resolved_head_dim())},
      {"attention.feature_dim",
       static_cast<double>(r.resolved_feature_dim()) / static_cast<double>(d.resolved_feature_dim())},
      {"model.vocab_size", static_cast<double>(r.model.vocab_size) / 50304.0},
      {"training.batch_size",
       static_cast<double>(r.training.batch_size) / static_cast<double>(d.training.batch_size)},
      {"training.seq_len", static_cast<double>(r.training.seq_len) / static_cast<double>(d.training.seq_len)},
  };
  const char* best = "model.d_model";
  double most = 0;
  for (const bool only_set : {true, false}) {
    for (const auto& [key, ratio] : ratios)
      if (ratio > most && (!only_set || r.origin(key) != "default")) most = ratio, best = key;
    if (most > 1) break;
  }
  return best;
}

}  // namespace

MemoryEstimate estimate_training_memory(const Recipe& recipe, int64_t vocab_size, Device device, int world_size) {
  const double d = static_cast<double>(recipe.model.d_model),
               layers = static_cast<double>(recipe.model.layers);
  const double heads = static_cast<double>(recipe.attention.heads);
  const double hd = heads * static_cast<double>(recipe.resolved_head_dim());
  const double m = heads * static_cast<double>(recipe.resolved_feature_dim());
  const double hidden = static_cast<double>(recipe.resolved_mlp_hidden());
  const double vocab = static_cast<double>(vocab_size);
  MemoryEstimate e;
  // Per block: w_q, w_k, w_v, w_o (and w_g), two RMSNorm gains, the SwiGLU's three matrices.
  const double per_layer = (recipe.attention.gate ? 5 : 4) * d * hd + 2 * d + 3 * d * hidden;
  e.parameters = vocab * d * (recipe.model.tie_embeddings ? 1 : 2) + layers * per_layer + d;
  // fp32 weights and gradients (4 + 4 bytes) everywhere, and with several ranks the gradient reducer's flat
  // buckets (4); AdamW's m and v (4 + 4), split over the ranks by ZeRO-1.
  e.optimizer_bytes = 8 * e.parameters / (zero_sharding(recipe, world_size) ? world_size : 1);
  const double buckets = world_size > 1 ? 4 * e.parameters : 0;
  e.state_bytes = 8 * e.parameters + buckets + e.optimizer_bytes + kLayerOverheadBytes * layers;
  // Saved per token and layer (as measured on the quickstart model): the residual stream and norms, the
  // projections, the feature maps, the MLP's hidden activations; then the logits with their softmax and
  // gradient.
  const double element = compute_dtype(recipe, device) == DType::F32 ? 4 : 2;
  const double tokens =
      static_cast<double>(recipe.training.batch_size) * static_cast<double>(recipe.training.seq_len);
  const double per_token_layer = 8 * d + 6 * hd + 2 * m + 4 * hidden;
  // With training.recompute a recomputed part keeps only its input (d per token) and holds its activations
  // for one layer at a time, during its backward. The attention part: its norm, projections and feature maps;
  // the MLP part: its norm and hidden activations.
  const double attention_part = 5 * d + 6 * hd + 2 * m, mlp_part = 2 * d + 4 * hidden;
  double part = 0;  // activations per token of the recomputed part of one layer
  switch (recipe.training.recompute) {
    case Recompute::None: break;
    case Recompute::Block: part = per_token_layer; break;
    case Recompute::Attention: part = attention_part; break;
    case Recompute::Mlp: part = recipe.model.mlp ? mlp_part : 0; break;
  }
  const double saved = part > 0 ? layers * (per_token_layer - part + d) + part : layers * per_token_layer;
  e.activation_bytes = element * tokens * (saved + 3 * vocab);
  return e;
}

void check_training_memory(const Recipe& recipe, int64_t vocab_size, Device device, int world_size) {
  const MemoryEstimate e = estimate_training_memory(recipe, vocab_size, device, world_size);
  const double available = device_memory_bytes(device);
  if (available <= 0 || e.total() <= available) return;
  const char* key = blamed_key(recipe);
  recipe.fail(
      key,
      fmt::format("this run needs about {} of {} memory ({:.3g} parameters with gradients and AdamW "
                  "state: {}; activations of one micro-batch: {}); this machine has {}",
                  format_bytes(e.total()), device.is_cpu() ? "host" : device.str(), e.parameters,
                  format_bytes(e.state_bytes), format_bytes(e.activation_bytes), format_bytes(available)));
}

}  // namespace lat::trainers
