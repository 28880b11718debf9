#include "autograd/nn/language_model.h"

#include <cmath>
#include <string>

#include "autograd/ops.h"
#include "autograd/recompute.h"
#include "core/error.h"

#ifdef LAT_HAVE_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace lat::autograd::nn {
namespace {

// An NVTX range (nsys timelines) around one layer's forward; header-only NVTX, a no-op without a profiler.
class NvtxRange {
 public:
  explicit NvtxRange([[maybe_unused]] const std::string& name) {
#ifdef LAT_HAVE_CUDA
    nvtxRangePushA(name.c_str());
#endif
  }
  ~NvtxRange() {
#ifdef LAT_HAVE_CUDA
    nvtxRangePop();
#endif
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace

Block::Block(const InitContext& ctx, const LanguageModelConfig& config, int64_t layer)
    : norm_attention(ctx.child("norm_attention"), config.d_model, config.norm_eps), recompute_(config.recompute) {
  AttentionConfig a = config.attention;
  a.layer = layer;
  a.num_layers = config.layers;
  attention_ = std::make_unique<Attention>(ctx.child("attention"), config.d_model, a);
  register_module("norm_attention", norm_attention);
  register_module("attention", *attention_);
  if (!config.mlp) return;
  LAT_CHECK(config.mlp_hidden > 0, "model.mlp_hidden must be positive with an MLP, got ", config.mlp_hidden);
  norm_mlp.emplace(ctx.child("norm_mlp"), config.d_model, config.norm_eps);
  // GPT-2's residual scaling: output projections ~ N(0, 0.02 / sqrt(2 L)).
  mlp.emplace(ctx.child("mlp"), config.d_model, config.mlp_hidden, 0.02 / std::sqrt(2.0 * static_cast<double>(config.layers)));
  register_module("norm_mlp", *norm_mlp);
  register_module("mlp", *mlp);
}

Variable Block::mlp_residual(const Variable& h) const {
  if (!mlp) return h;
  // Closures over the block's own forward (autograd/recompute.h): whatever else they read is captured by value.
  auto branch = [this](const Variable& v) { return mlp->forward(norm_mlp->forward(v)); };
  return add(h, recompute_ == RecomputeKind::Mlp ? recompute("recompute mlp", branch, h) : branch(h));
}

Variable Block::forward_parts(const Variable& x, const Tensor& document_starts) const {
  // document_starts is captured by value: the recompute closure runs again during backward.
  auto branch = [this, document_starts](const Variable& v) {
    return attention_->forward(norm_attention.forward(v), document_starts);
  };
  return mlp_residual(add(x, recompute_ == RecomputeKind::Attention ? recompute("recompute attention", branch, x)
                                                                     : branch(x)));
}

Variable Block::forward(const Variable& x, const Tensor& document_starts) const {
  if (recompute_ != RecomputeKind::Block) return forward_parts(x, document_starts);
  return recompute(
      "recompute block", [this, document_starts](const Variable& v) { return forward_parts(v, document_starts); },
      x);
}

Variable Block::step(const Variable& x, AttentionState& state) const {
  return mlp_residual(add(x, attention_->step(norm_attention.forward(x), state)));
}

LanguageModel::LanguageModel(const LanguageModelConfig& config, Device device)
    : config_(config),
      embed_(InitContext{"embed", config.seed, device}, config.vocab_size, config.d_model),
      norm_final_(InitContext{"norm_final", config.seed, device}, config.d_model, config.norm_eps) {
  LAT_CHECK(config.vocab_size > 0, "model.vocab_size must be positive, got ", config.vocab_size);
  LAT_CHECK(config.d_model > 0, "model.d_model must be positive, got ", config.d_model);
  LAT_CHECK(config.layers > 0, "model.layers must be positive, got ", config.layers);
  register_module("embed", embed_);
  for (int64_t l = 0; l < config.layers; ++l) {
    const std::string name = "layers." + std::to_string(l);
    blocks_.push_back(std::make_unique<Block>(InitContext{name, config.seed, device}, config, l));
    register_module(name, *blocks_.back());
  }
  register_module("norm_final", norm_final_);
  if (!config.tie_embeddings) {
    head_ = std::make_unique<Linear>(InitContext{"head", config.seed, device}, config.d_model, config.vocab_size, 0.02);
    register_module("head", *head_);
  }
}

std::vector<Block*> LanguageModel::blocks() const {
  std::vector<Block*> out;
  for (const auto& b : blocks_) out.push_back(b.get());
  return out;
}

Variable LanguageModel::logits(const Tensor& ids, const Tensor& document_starts) const {
  LAT_CHECK(ids.ndim() == 2 && ids.dtype() == DType::I32, "LanguageModel: ids must be i32 [B, T], got ", ids.str());
  // The embedding is looked up in the table's dtype; the residual stream then runs in the compute dtype.
  Variable x = cast(embed_.forward(ids), config_.compute_dtype);  // [B, T, D]
  for (size_t l = 0; l < blocks_.size(); ++l) {
    NvtxRange range("layers." + std::to_string(l) + " forward");
    x = blocks_[l]->forward(x, document_starts);
  }
  NvtxRange range("head forward");
  x = reshape(norm_final_.forward(x), {-1, config_.d_model});
  return linear(x, head_ ? head_->weight : embed_.weight);  // [B·T, V]
}

Variable LanguageModel::loss(const Tensor& ids, const Tensor& targets, const Tensor& document_starts,
                             Tensor* invalid_targets) const {
  check_shape("LanguageModel::loss", "targets", targets, ids.shape());
  return softmax_cross_entropy(logits(ids, document_starts), targets.reshape({-1}), -1, invalid_targets);
}

GenerationState LanguageModel::start_generation() const {
  GenerationState state;
  state.layers.resize(blocks_.size());
  return state;
}

std::vector<float> LanguageModel::step(int32_t token, GenerationState& state) const {
  LAT_CHECK(token >= 0 && token < config_.vocab_size, "generation: token ", token, " outside the vocabulary [0, ",
            config_.vocab_size, ")");
  LAT_CHECK(state.layers.size() == blocks_.size(), "generation: state has ", state.layers.size(),
            " layers, the model ", blocks_.size());
  NoGradGuard no_grad;
  const Device device = embed_.weight.device();
  Variable x = cast(embed_.forward(Tensor::from_vector<int32_t>({token}, Shape{1, 1}, device)), config_.compute_dtype);
  for (size_t l = 0; l < blocks_.size(); ++l) x = blocks_[l]->step(x, state.layers[l]);
  x = reshape(norm_final_.forward(x), {-1, config_.d_model});
  return linear(x, head_ ? head_->weight : embed_.weight).data().to(DType::F32).to_vector<float>();
}

double LanguageModel::flops_per_token(int64_t seq_len) const {
  const double d = static_cast<double>(config_.d_model);
  const double matmul_params = static_cast<double>(config_.layers) *
                                   (blocks_.front()->attention().projection_parameters() +
                                    (config_.mlp ? 3.0 * d * static_cast<double>(config_.mlp_hidden) : 0.0)) +
                               d * static_cast<double>(config_.vocab_size);
  double attention = 0;
  for (const auto& b : blocks_) attention += b->attention().forward_flops_per_token(seq_len);
  return 6.0 * matmul_params + 3.0 * attention;
}

}  // namespace lat::autograd::nn
