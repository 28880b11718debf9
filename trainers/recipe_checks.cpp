#include "trainers/recipe_checks.h"

#include <fmt/format.h>

namespace lat::recipe_detail {

namespace {

// Held-out data named by `key` must not be the training data (`train_key`) or another held-out split.
void check_held_out(const Recipe& r, const char* key, const std::string& value, const char* other_key,
                    const std::string& other) {
  if (!value.empty() && value == other)
    r.fail(key, fmt::format("'{}' is also {}; held-out data must differ from it", value, other_key));
}

}  // namespace

void check_relations(const Recipe& recipe) {
  const ModelConfig& model = recipe.model;
  const AttentionConfig& attention = recipe.attention;
  const DataConfig& data = recipe.data;
  const TrainingConfig& training = recipe.training;
  // A key the user set is the better one to blame in a cross-key message.
  auto blame = [&](const char* a, const char* b) {
    return recipe.origins.count(a) || !recipe.origins.count(b) ? a : b;
  };

  if (model.vocab_size == 1) recipe.fail("model.vocab_size", "1 is out of range (0 for auto, or >= 2)");
  if (attention.head_dim == 0 && model.d_model % attention.heads != 0)
    recipe.fail(
        blame("attention.heads", "model.d_model"),
        fmt::format("model.d_model = {} is not divisible by attention.heads = {} (or set attention.head_dim)",
                    model.d_model, attention.heads));
  if (attention.rope && recipe.resolved_head_dim() % 2 != 0)
    recipe.fail(blame("attention.rope", "attention.head_dim"),
                fmt::format("rope needs an even head_dim, got {}", recipe.resolved_head_dim()));
  if (attention.max_context > 0 && attention.max_context < training.seq_len)
    recipe.fail(blame("attention.max_context", "training.seq_len"),
                fmt::format("max_context = {} is shorter than training.seq_len = {}", attention.max_context,
                            training.seq_len));
  switch (data.kind) {
    case DataKind::Text:
      if (data.path.empty()) recipe.fail("data.path", "required when data.kind = \"text\"");
      check_held_out(recipe, "data.val_path", data.val_path, "data.path", data.path);
      check_held_out(recipe, "data.test_path", data.test_path, "data.path", data.path);
      check_held_out(recipe, "data.test_path", data.test_path, "data.val_path", data.val_path);
      break;
    case DataKind::Shards:
      if (data.pattern.empty()) recipe.fail("data.pattern", "required when data.kind = \"shards\"");
      check_held_out(recipe, "data.val_pattern", data.val_pattern, "data.pattern", data.pattern);
      check_held_out(recipe, "data.test_pattern", data.test_pattern, "data.pattern", data.pattern);
      check_held_out(recipe, "data.test_pattern", data.test_pattern, "data.val_pattern", data.val_pattern);
      break;
    case DataKind::Mqar:
      // seq_len against pairs + queries is checked by data::validate(MqarConfig), which owns the layout.
      if (data.key_vocab != 0 && data.key_vocab >= data.vocab)
        recipe.fail("data.key_vocab", fmt::format("{} leaves no room for values below data.vocab = {}",
                                                  data.key_vocab, data.vocab));
      break;
  }
  if (training.precision == Precision::Bf16 && training.device == DeviceKind::Cpu)
    recipe.fail("training.precision",
                "bf16 needs training.device = \"cuda\" (or \"auto\"); the CPU trains in fp32");
  if (recipe.checkpoint.dir.empty()) recipe.fail("checkpoint.dir", "must not be empty");
}

}  // namespace lat::recipe_detail
