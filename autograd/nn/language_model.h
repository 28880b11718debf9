// The decoder-only language model (DESIGN.md, "A training step"): token embedding, L blocks of
// [RMSNorm → Attention → +residual → RMSNorm → SwiGLU MLP → +residual], final RMSNorm, LM head (tied to the
// embedding or its own), fused softmax cross-entropy. With mlp = false a block is [RMSNorm → Attention →
// +residual] only (attention-only blocks, as Zoology's MQAR models) and has no norm_mlp or mlp parameters.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "autograd/nn/attention.h"
#include "autograd/nn/layers.h"

namespace lat::autograd::nn {

// Activation recomputation (autograd/recompute.h): which part of each block keeps only its input and reruns
// its forward during backward. Block: the whole block; Attention: RMSNorm + attention; Mlp: RMSNorm + MLP.
enum class RecomputeKind { None, Block, Attention, Mlp };

struct LanguageModelConfig {
  int64_t vocab_size = 258;
  int64_t d_model = 128;
  int64_t layers = 4;
  bool mlp = true;  // false: attention-only blocks
  int64_t mlp_hidden = 512;
  bool tie_embeddings = true;
  double norm_eps = 1e-5;
  AttentionConfig attention;  // layer index and count are filled per block
  uint64_t seed = 0;
  // Mixed precision: activations (and so GEMM operands) in this dtype, parameters kept in their own (fp32
  // master weights, cast at each use by linear/rmsnorm) and the loss in fp32. bf16 needs CUDA kernels.
  DType compute_dtype = DType::F32;
  RecomputeKind recompute = RecomputeKind::None;
};

// Streaming state for generation: one attention state per layer.
struct GenerationState {
  std::vector<AttentionState> layers;
};

class Block : public Module {
 public:
  Block(const InitContext& ctx, const LanguageModelConfig& config, int64_t layer);
  // [B, T, D] -> [B, T, D]; document_starts: i32 [B, T] or undefined (Attention::forward).
  Variable forward(const Variable& x, const Tensor& document_starts = Tensor()) const;
  // The same on a chunk, advancing the attention's streaming state.
  Variable step(const Variable& x, AttentionState& state) const;
  Attention& attention() { return *attention_; }
  RMSNorm norm_attention;
  std::optional<RMSNorm> norm_mlp;  // both empty when config.mlp = false
  std::optional<SwiGLUMLP> mlp;

 private:
  Variable mlp_residual(const Variable& h) const;  // h + mlp(norm_mlp(h)), or h without an MLP
  // forward without block-level recomputation
  Variable forward_parts(const Variable& x, const Tensor& document_starts) const;
  std::unique_ptr<Attention> attention_;
  RecomputeKind recompute_ = RecomputeKind::None;
};

class LanguageModel : public Module {
 public:
  LanguageModel(const LanguageModelConfig& config, Device device = Device::cpu());

  // ids: i32 [B, T] -> logits [B·T, V] of config().compute_dtype. document_starts (optional): i32 [B, T], where
  // the document holding each token begins (kernels/documents.h; data::Batch carries it): attention then treats
  // every packed document as a sequence of its own.
  Variable logits(const Tensor& ids, const Tensor& document_starts = Tensor()) const;
  // Mean next-token cross-entropy over targets != -1; targets: i32 [B, T]. With `invalid_targets`, targets
  // outside the vocabulary are counted into it on the device (autograd::softmax_cross_entropy) instead of
  // throwing.
  Variable loss(const Tensor& ids, const Tensor& targets, const Tensor& document_starts = Tensor(),
                Tensor* invalid_targets = nullptr) const;

  // Generation: an empty streaming state, and one token in -> next-token logits [V] (host fp32) out.
  // Linear attention costs O(1) per token (a fixed-size state); softmax attention grows a KV cache.
  GenerationState start_generation() const;
  std::vector<float> step(int32_t token, GenerationState& state) const;

  const LanguageModelConfig& config() const { return config_; }
  std::vector<Block*> blocks() const;
  // Training FLOPs per token at sequence length T (forward + backward = 3 × forward): 6 × (matmul
  // parameters, LM head included; no MLP term without MLPs) + 3 × attention's own forward FLOPs per token.
  double flops_per_token(int64_t seq_len) const;

 private:
  LanguageModelConfig config_;
  Embedding embed_;
  std::vector<std::unique_ptr<Block>> blocks_;
  RMSNorm norm_final_;
  std::unique_ptr<Linear> head_;  // null when tied to the embedding
};

}  // namespace lat::autograd::nn
