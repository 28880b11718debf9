// The attention block of the transformer (DESIGN.md "Attention family"; math in SPEC.md; choices in
// docs/attention.md): projections q, k, v from d_model, head split, RoPE, feature map, the linear-attention
// core (or the softmax baseline), the output form, an optional sigmoid output gate, the output projection.
// forward() runs a whole sequence; step() advances a streaming state (prefill chunks or one token) for
// generation and equals forward() on the concatenated input.
#pragma once

#include <cstdint>

#include "autograd/nn/layers.h"
#include "autograd/nn/module.h"
#include "core/tensor.h"

namespace lat::autograd::nn {

enum class AttentionKind { Softmax, Linear };
enum class FeatureMapKind { Elu1, Cosine, Random, Identity, Silu };
enum class OutputForm { Denominator, RmsNorm };  // Katharopoulos normalisation or NormAttention
enum class DecayKind { None, Alibi };

struct AttentionConfig {
  AttentionKind kind = AttentionKind::Linear;
  FeatureMapKind feature_map = FeatureMapKind::Elu1;
  OutputForm normalize = OutputForm::Denominator;
  DecayKind decay = DecayKind::None;
  bool rope = false;
  bool gate = false;        // output gate: o ⊙ σ(x W_g), per head, before the output projection
  bool key_shift = false;   // keys from the previous token's input (token shift): one layer can bind key→value
  int64_t heads = 4;
  int64_t head_dim = 32;     // heads · head_dim must equal d_model
  int64_t feature_dim = 32;  // m = size of q̃, k̃: head_dim (elu1, identity, silu), 2·head_dim (cosine), any > 0 (random)
  int64_t block = 64;        // lightning-attention tile
  int64_t max_context = 0;   // cosine: M, the largest position + 1 (required > 0 for cosine)
  int64_t layer = 0;         // this layer's index (ALiBi layer factor, random-feature stream)
  int64_t num_layers = 1;
  uint64_t seed = 0;         // random features: W from (seed, layer, draw); 0: the model seed
  double rope_base = 10000.0;
  double eps = 1e-6;         // denominator ε and head-RMSNorm ε

  // Throws lat::Error naming the offending field.
  void validate(int64_t d_model) const;
};

// Streaming state of one Attention layer for a batch (docs/attention.md, "State"). Default-constructed = empty
// (position 0); step() fills it.
struct AttentionState {
  int64_t position = 0;   // tokens consumed so far (RoPE and cosFormer use absolute positions)
  Tensor kv;              // linear: [B, H, m, e] (rmsnorm) or [B, H, m, e + 1] (denominator; last column = z),
                          // the state entering `position`
  Tensor key_stabilizer;  // random features: [B, H], fixed by the first chunk
  Tensor k_cache, v_cache;  // softmax: [B, H, position, d] and [B, H, position, e] (post-RoPE keys)
  Tensor last_input;        // key_shift: the layer input at position - 1, [B, 1, d_model]
};

class Attention : public Module {
 public:
  Attention(const InitContext& ctx, int64_t d_model, const AttentionConfig& config);

  // x: [B, N, d_model] -> [B, N, d_model]. document_starts (optional): i32 [B, N] boundaries of the documents
  // packed into x (kernels/documents.h): each document is attended as if it were a sequence of its own (state,
  // positions, key shift and softmax mask restart at its start). CPU only for now (autograd/attention_ops.h).
  Variable forward(const Variable& x, const Tensor& document_starts = Tensor()) const;
  // Advances `state` by the chunk x: [B, T, d_model] (T ≥ 1; T = 1 is one generation step, O(m·e) per head
  // for linear attention) and returns its output. The state is carried detached: gradients do not flow into
  // earlier chunks.
  Variable step(const Variable& x, AttentionState& state) const;

  const AttentionConfig& config() const { return config_; }
  // FAVOR+ features W: [m, head_dim] (f64), not a parameter; checkpointed by the trainer.
  const Tensor& random_features() const { return random_features_; }
  void set_random_features(const Tensor& w);
  // Redraw W as draw number `draw` of this layer's stream (the trainer's redraw policy calls this).
  void redraw_random_features(int64_t draw);
  // The per-head log-decay s: [H] (f64; zeros without decay).
  const Tensor& log_decay() const { return log_decay_; }

  // Parameters of the projections (all are matmul weights), and the core's forward FLOPs per token at
  // sequence length T (for MFU bookkeeping).
  double projection_parameters() const;
  double forward_flops_per_token(int64_t seq_len) const;

  // Size of the recurrent state step() carries per sequence, in floats: for linear attention the kv state
  // (H·m·e, plus H·m for the denominator's z), FAVOR+'s key stabiliser (H) and key shift's previous input
  // (d_model); it does not grow with the context. Softmax attention has no fixed-size state: 0, and its KV cache
  // grows by kv_cache_floats_per_token() per token.
  int64_t state_floats_per_layer() const;
  int64_t kv_cache_floats_per_token() const;  // softmax: H·(d + e); linear: 0

  Variable w_q, w_k, w_v, w_o, w_g;  // w_g undefined without the gate

 private:
  Variable run(const Variable& x, AttentionState* state, const Tensor& document_starts) const;
  Variable split_heads(const Variable& y) const;  // [B, N, H·d] -> [B, N, H, d] (a view)
  Variable feature_map(const Variable& x, bool is_query, int64_t position, AttentionState* state, const Tensor& w,
                       const Tensor& document_starts) const;

  // A host constant converted to the activations' dtype and device, kept until either changes: uploading every
  // forward would synchronise the host once per layer.
  struct DeviceCopy {
    Tensor value;
    const Tensor& of(const Tensor& host, DType dtype, Device device);
  };

  AttentionConfig config_;
  int64_t d_model_;
  uint64_t feature_seed_;
  Tensor log_decay_;
  Tensor random_features_;
  mutable DeviceCopy log_decay_copy_, random_features_copy_;
};

}  // namespace lat::autograd::nn
