// Derived values of "auto" recipe keys and the checks between keys (trainers/recipe_resolve.h). The field
// table with each key's own range lives in recipe.cpp.
#include "trainers/recipe_resolve.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lat {

int64_t Recipe::resolved_head_dim() const {
  return attention.head_dim > 0 ? attention.head_dim : model.d_model / attention.heads;
}
int64_t Recipe::resolved_feature_dim() const {
  // The feature map fixes m for every map but random features: cosFormer doubles the head (sin and cos
  // halves). FAVOR+ defaults to m = 2·head_dim (SPEC §2): m = head_dim gives a visibly noisier softmax
  // estimate, and the Performer implementations use more (256, or d·ln d).
  if (attention.feature_dim > 0) return attention.feature_dim;
  const bool doubled =
      attention.feature_map == FeatureMap::Cosine || attention.feature_map == FeatureMap::Random;
  return doubled ? 2 * resolved_head_dim() : resolved_head_dim();
}
int64_t Recipe::resolved_mlp_hidden() const {
  if (!model.mlp) return 0;
  return model.mlp_hidden > 0
             ? model.mlp_hidden
             : std::max<int64_t>(1, std::llround(model.mlp_ratio * static_cast<double>(model.d_model)));
}
int64_t Recipe::resolved_max_context() const {
  return attention.max_context > 0 ? attention.max_context : training.seq_len;
}
int64_t Recipe::resolved_redraw_interval() const {
  if (attention.redraw_interval >= 0) return attention.redraw_interval;
  const bool random = attention.kind == AttentionKind::Linear && attention.feature_map == FeatureMap::Random;
  return random ? kDefaultRedrawInterval : 0;
}

bool Recipe::resolved_document_boundaries() const {
  return data.document_boundaries && data.kind != DataKind::Mqar;
}

std::string resolved_value_text(const Recipe& r, std::string_view key) {
  auto text = [](int64_t v) { return fmt::format("{}", v); };
  if (key == "model.mlp_hidden" && r.model.mlp_hidden == 0) return text(r.resolved_mlp_hidden());
  if (key == "attention.head_dim" && r.attention.head_dim == 0) return text(r.resolved_head_dim());
  if (key == "attention.feature_dim" && r.attention.feature_dim == 0) return text(r.resolved_feature_dim());
  if (key == "attention.max_context" && r.attention.max_context == 0) return text(r.resolved_max_context());
  if (key == "attention.redraw_interval" && r.attention.redraw_interval < 0)
    return text(r.resolved_redraw_interval());
  if (key == "data.document_boundaries" && r.data.document_boundaries != r.resolved_document_boundaries())
    return "false: MQAR sequences have no documents";
  return "";
}

namespace {

// Held-out data named by `key` must not be the training data or another held-out split (`other_key`).
void check_held_out(const Recipe& r, const char* key, const std::string& value, const char* other_key,
                    const std::string& other) {
  if (!value.empty() && value == other)
    r.fail(key, fmt::format("'{}' is also {}; held-out data must differ from it", value, other_key));
}

}  // namespace

void validate_cross_keys(const Recipe& r) {
  // A key the user set is the better one to blame in a cross-key message.
  auto blame = [&](const char* a, const char* b) {
    return r.origins.count(a) || !r.origins.count(b) ? a : b;
  };

  if (r.model.vocab_size == 1) r.fail("model.vocab_size", "1 is out of range (0 for auto, or >= 2)");
  if (r.model.mlp && r.model.mlp_hidden == 0 && r.model.mlp_ratio * static_cast<double>(r.model.d_model) > 2147483647.0)
    r.fail(blame("model.mlp_ratio", "model.d_model"),
           fmt::format("mlp_ratio x d_model = {:.3g} x {} exceeds the largest size, 2147483647 (set model.mlp_hidden)",
                       r.model.mlp_ratio, r.model.d_model));
  if (r.attention.head_dim == 0 && r.model.d_model % r.attention.heads != 0)
    r.fail(
        blame("attention.heads", "model.d_model"),
        fmt::format("model.d_model = {} is not divisible by attention.heads = {} (or set attention.head_dim)",
                    r.model.d_model, r.attention.heads));
  if (r.attention.rope && r.resolved_head_dim() % 2 != 0)
    r.fail(blame("attention.rope", "attention.head_dim"),
           fmt::format("rope needs an even head_dim, got {}", r.resolved_head_dim()));
  if (r.attention.max_context > 0 && r.attention.max_context < r.training.seq_len)
    r.fail(blame("attention.max_context", "training.seq_len"),
           fmt::format("max_context = {} is shorter than training.seq_len = {}", r.attention.max_context,
                       r.training.seq_len));
  switch (r.data.kind) {
    case DataKind::Text:
      if (r.data.path.empty()) r.fail("data.path", "required when data.kind = \"text\"");
      check_held_out(r, "data.val_path", r.data.val_path, "data.path", r.data.path);
      check_held_out(r, "data.test_path", r.data.test_path, "data.path", r.data.path);
      check_held_out(r, "data.test_path", r.data.test_path, "data.val_path", r.data.val_path);
      break;
    case DataKind::Shards:
      if (r.data.pattern.empty()) r.fail("data.pattern", "required when data.kind = \"shards\"");
      check_held_out(r, "data.val_pattern", r.data.val_pattern, "data.pattern", r.data.pattern);
      check_held_out(r, "data.test_pattern", r.data.test_pattern, "data.pattern", r.data.pattern);
      check_held_out(r, "data.test_pattern", r.data.test_pattern, "data.val_pattern", r.data.val_pattern);
      break;
    case DataKind::Mqar:
      if (!r.data.tokenizer.empty()) r.fail("data.tokenizer", "MQAR makes its own tokens; leave data.tokenizer empty");
      // seq_len against pairs + queries is checked by data::validate(MqarConfig), which owns the layout.
      if (r.data.key_vocab != 0 && r.data.key_vocab >= r.data.vocab)
        r.fail("data.key_vocab", fmt::format("{} leaves no room for values below data.vocab = {}",
                                             r.data.key_vocab, r.data.vocab));
      break;
  }
  if (r.training.precision == Precision::Bf16 && r.training.device == DeviceKind::Cpu)
    r.fail("training.precision",
           "bf16 needs training.device = \"cuda\" (or \"auto\"); the CPU trains in fp32");
  if (r.checkpoint.dir.empty()) r.fail("checkpoint.dir", "must not be empty");
}

}  // namespace lat
