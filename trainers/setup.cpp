#include "trainers/setup.h"

#include <filesystem>

#include "core/error.h"
#include "data/loader.h"
#include "data/mqar.h"
#include "data/shards.h"
#include "core/threads.h"
#include "data/tokenizer.h"
#include "trainers/run_tokenizer.h"

namespace lat::trainers {

namespace {

// The data files a recipe key names, loaded; any failure is rethrown as "<where>: <key>: <what is wrong>".
std::shared_ptr<const data::TokenDataset> load_tokens(const Recipe& recipe, const char* key,
                                                      const std::string& path) {
  const bool text = recipe.data.kind == DataKind::Text;
  if (text && !std::filesystem::exists(path))
    recipe.fail(key, "data file '" + path + "' does not exist" +
                         (path == "data/kjv.txt" ? " (tools/setup.sh writes it)" : ""));
  const auto tokenizer = text ? recipe_tokenizer(recipe) : nullptr;
  try {
    if (text && tokenizer)
      return std::make_shared<data::InMemoryTokens>(data::load_text_dataset(path, *tokenizer, cpu_threads()));
    if (text) return std::make_shared<data::InMemoryTokens>(data::load_text_dataset(path));
    return std::make_shared<data::ShardDataset>(path);
  } catch (const Error& e) {
    recipe.fail(key, e.what());
  }
}

std::shared_ptr<const data::WindowSource> token_windows(const Recipe& recipe, const char* key,
                                                        std::shared_ptr<const data::TokenDataset> tokens,
                                                        int64_t seq_len) {
  try {
    return std::make_shared<data::TokenWindows>(std::move(tokens), seq_len);
  } catch (const Error& e) {
    recipe.fail(key, e.what());
  }
}

data::MqarConfig mqar_config(const Recipe& recipe, int64_t seq_len, int64_t num_examples) {
  const DataConfig& d = recipe.data;
  data::MqarConfig m;
  m.vocab_size = static_cast<int32_t>(d.vocab);
  m.seq_len = seq_len;
  m.num_kv_pairs = d.num_kv_pairs;
  m.key_vocab = static_cast<int32_t>(d.key_vocab);
  m.num_examples = num_examples;
  m.power_a = d.power_a;
  m.random_non_queries = d.random_non_queries;
  m.seed = static_cast<uint64_t>(recipe.training.seed);
  return m;
}

const char* train_key(const Recipe& r) {
  return r.data.kind == DataKind::Text ? "data.path" : "data.pattern";
}
const std::string& train_location(const Recipe& r) {
  return r.data.kind == DataKind::Text ? r.data.path : r.data.pattern;
}
const char* held_out_key(const Recipe& r, Split split) {
  const bool text = r.data.kind == DataKind::Text;
  if (split == Split::Validation) return text ? "data.val_path" : "data.val_pattern";
  return text ? "data.test_path" : "data.test_pattern";
}
const std::string& held_out_location(const Recipe& r, Split split) {
  const bool text = r.data.kind == DataKind::Text;
  if (split == Split::Validation) return text ? r.data.val_path : r.data.val_pattern;
  return text ? r.data.test_path : r.data.test_pattern;
}

}  // namespace

bool has_separate_validation(const Recipe& recipe) {
  return recipe.data.kind != DataKind::Mqar && !held_out_location(recipe, Split::Validation).empty();
}

bool byte_level(const Recipe& recipe) {
  return recipe.data.kind == DataKind::Text && recipe.data.tokenizer.empty();
}

std::shared_ptr<const data::WindowSource> make_window_source(const Recipe& recipe) {
  const int64_t seq_len = recipe.training.seq_len;
  if (recipe.data.kind == DataKind::Mqar)
    return std::make_shared<data::MqarTask>(mqar_config(recipe, seq_len, recipe.data.num_examples));
  return token_windows(recipe, train_key(recipe),
                       load_tokens(recipe, train_key(recipe), train_location(recipe)), seq_len);
}

std::shared_ptr<const data::WindowSource> make_eval_source(const Recipe& recipe, Split split,
                                                           int64_t seq_len) {
  const DataConfig& d = recipe.data;
  const int64_t T = recipe.training.seq_len;
  if (seq_len < 1) LAT_THROW("evaluation seq_len must be at least 1, got ", seq_len);
  if (d.kind == DataKind::Mqar) {
    if (split == Split::Test)
      return std::make_shared<data::WindowSlice>(
          std::make_shared<data::MqarTask>(mqar_config(recipe, seq_len, d.num_examples + d.test_examples)),
          d.num_examples, d.test_examples);
    const int64_t held_out = data::held_out_windows(d.num_examples, d.val_fraction);
    if (held_out == 0) recipe.fail("data.val_fraction", "is 0, so the recipe has no validation split");
    return std::make_shared<data::WindowSlice>(
        std::make_shared<data::MqarTask>(mqar_config(recipe, seq_len, d.num_examples)),
        d.num_examples - held_out, held_out);
  }
  const char* key = held_out_key(recipe, split);
  if (const std::string& location = held_out_location(recipe, split); !location.empty())
    return token_windows(recipe, key, load_tokens(recipe, key, location), seq_len);
  if (split == Split::Test) recipe.fail(key, "is not set, so the recipe has no test split");
  // The loader's held-out tail: windows [W - V, W) at seq_len T are tokens [(W - V) T, size) of the stream.
  const char* train = train_key(recipe);
  std::shared_ptr<const data::TokenDataset> tokens = load_tokens(recipe, train, train_location(recipe));
  const int64_t num_windows = token_windows(recipe, train, tokens, T)->num_windows();
  const int64_t held_out = data::held_out_windows(num_windows, d.val_fraction);
  if (held_out == 0)
    recipe.fail("data.val_fraction",
                std::string("is 0 and ") + key + " is not set, so the recipe has no validation split");
  const int64_t start = (num_windows - held_out) * T;
  return token_windows(recipe, "data.val_fraction",
                       std::make_shared<data::TokenSlice>(tokens, start, tokens->size() - start), seq_len);
}

bool document_boundaries_on(const Recipe& recipe, Device device) {
  return recipe.resolved_document_boundaries() && !device.is_cuda();
}

int32_t document_separator(const Recipe& recipe, Device device) {
  if (!document_boundaries_on(recipe, device)) return -1;
  if (recipe.data.kind != DataKind::Text) return static_cast<int32_t>(recipe.data.eot_token);
  return TextCodec(recipe_tokenizer(recipe)).document_separator();  // EOS, or data.tokenizer's document token
}

int64_t resolved_vocab_size(const Recipe& recipe, const data::WindowSource& source) {
  int64_t data_vocab = 0;  // one more than the largest token id the data can produce
  const auto tokenizer = recipe.data.kind == DataKind::Mqar ? nullptr : recipe_tokenizer(recipe);
  switch (recipe.data.kind) {
    case DataKind::Text: data_vocab = tokenizer ? tokenizer->vocab_size() : data::ByteTokenizer().vocab_size(); break;
    case DataKind::Mqar: data_vocab = recipe.data.vocab; break;
    case DataKind::Shards: {
      const auto& windows = dynamic_cast<const data::TokenWindows&>(source);
      const auto& shards = dynamic_cast<const data::ShardDataset&>(windows.dataset());
      try {
        data_vocab = shards.max_token_plus_one();
      } catch (const Error& e) {
        recipe.fail("data.pattern", e.what());
      }
      if (tokenizer && data_vocab > tokenizer->vocab_size())
        recipe.fail("data.pattern", shards.describe() + " holds token " + std::to_string(data_vocab - 1) +
                                        ", outside the vocabulary of data.tokenizer (" +
                                        std::to_string(tokenizer->vocab_size()) + " ids)");
      if (tokenizer) data_vocab = tokenizer->vocab_size();
      break;
    }
  }
  if (recipe.model.vocab_size <= 0) return data_vocab;
  // Checked here, once, because the GPU loss does not read targets back (kernels/loss.h).
  if (recipe.model.vocab_size < data_vocab)
    recipe.fail("model.vocab_size", std::to_string(recipe.model.vocab_size) + " is smaller than the " +
                                        (tokenizer ? "tokenizer's" : "data's") + " vocabulary (" +
                                        std::to_string(data_vocab) + " token ids)");
  return recipe.model.vocab_size;
}

namespace {

autograd::nn::FeatureMapKind feature_map_kind(FeatureMap f) {
  switch (f) {
    case FeatureMap::Elu1: return autograd::nn::FeatureMapKind::Elu1;
    case FeatureMap::Cosine: return autograd::nn::FeatureMapKind::Cosine;
    case FeatureMap::Random: return autograd::nn::FeatureMapKind::Random;
    case FeatureMap::Identity: return autograd::nn::FeatureMapKind::Identity;
    case FeatureMap::Silu: return autograd::nn::FeatureMapKind::Silu;
  }
  return autograd::nn::FeatureMapKind::Elu1;
}

}  // namespace

autograd::nn::LanguageModelConfig model_config(const Recipe& recipe, int64_t vocab_size) {
  autograd::nn::LanguageModelConfig c;
  c.vocab_size = vocab_size;
  c.d_model = recipe.model.d_model;
  c.layers = recipe.model.layers;
  c.mlp = recipe.model.mlp;
  c.mlp_hidden = recipe.resolved_mlp_hidden();
  c.tie_embeddings = recipe.model.tie_embeddings;
  c.norm_eps = recipe.model.norm_eps;
  c.seed = static_cast<uint64_t>(recipe.training.seed);
  const AttentionConfig& a = recipe.attention;
  auto& ac = c.attention;
  ac.kind = a.kind == AttentionKind::Softmax ? autograd::nn::AttentionKind::Softmax : autograd::nn::AttentionKind::Linear;
  ac.feature_map = feature_map_kind(a.feature_map);
  ac.normalize = a.normalize == AttentionNormalize::Denominator ? autograd::nn::OutputForm::Denominator
                                                               : autograd::nn::OutputForm::RmsNorm;
  ac.decay = a.decay == AttentionDecay::Alibi ? autograd::nn::DecayKind::Alibi : autograd::nn::DecayKind::None;
  ac.rope = a.rope;
  ac.heads = a.heads;
  ac.head_dim = recipe.resolved_head_dim();
  ac.feature_dim = recipe.resolved_feature_dim();
  ac.block = a.block;
  ac.max_context = recipe.resolved_max_context();
  ac.gate = a.gate;
  ac.key_shift = a.key_shift;
  ac.seed = c.seed;
  switch (recipe.training.recompute) {
    case Recompute::None: c.recompute = autograd::nn::RecomputeKind::None; break;
    case Recompute::Block: c.recompute = autograd::nn::RecomputeKind::Block; break;
    case Recompute::Attention: c.recompute = autograd::nn::RecomputeKind::Attention; break;
    case Recompute::Mlp: c.recompute = autograd::nn::RecomputeKind::Mlp; break;
  }
  return c;
}

optim::AdamWConfig adamw_config(const Recipe& recipe) {
  optim::AdamWConfig c;
  c.lr = recipe.optimizer.lr;
  c.beta1 = recipe.optimizer.beta1;
  c.beta2 = recipe.optimizer.beta2;
  c.eps = recipe.optimizer.eps;
  c.weight_decay = recipe.optimizer.weight_decay;
  return c;
}

optim::StepGuardConfig step_guard_config(const Recipe& recipe) {
  optim::StepGuardConfig c;
  c.max_norm = recipe.optimizer.grad_clip;
  c.loss_z = recipe.training.skip_loss_z;
  c.norm_z = recipe.training.skip_norm_z;
  return c;
}

optim::ScheduleConfig schedule_config(const Recipe& recipe) {
  optim::ScheduleConfig c;
  switch (recipe.schedule.kind) {
    case ScheduleKind::Constant: c.kind = optim::ScheduleKind::Constant; break;
    case ScheduleKind::Linear: c.kind = optim::ScheduleKind::Linear; break;
    case ScheduleKind::Cosine: c.kind = optim::ScheduleKind::Cosine; break;
  }
  c.lr = recipe.optimizer.lr;
  c.min_lr = recipe.optimizer.lr * recipe.schedule.min_lr_ratio;
  c.warmup_steps = recipe.schedule.warmup_steps;
  c.total_steps = recipe.training.steps;
  // A default warmup longer than a short run shrinks to the run; an explicit one is the user's mistake.
  if (c.warmup_steps > c.total_steps && recipe.origin("schedule.warmup_steps") == "default") c.warmup_steps = c.total_steps;
  if (c.kind != optim::ScheduleKind::Constant && c.warmup_steps > c.total_steps)
    recipe.fail("schedule.warmup_steps", "warmup of " + std::to_string(c.warmup_steps) + " steps exceeds training.steps = " +
                                             std::to_string(c.total_steps));
  return c;
}

Device resolve_device(const Recipe& recipe) {
  switch (recipe.training.device) {
    case DeviceKind::Cpu: return Device::cpu();
    case DeviceKind::Cuda:
      if (!cuda_available()) recipe.fail("training.device", "device 'cuda' requested but no CUDA device is available");
      return Device::cuda(0);
    case DeviceKind::Auto: return cuda_available() ? Device::cuda(0) : Device::cpu();
  }
  return Device::cpu();
}

bool zero_sharding(const Recipe& recipe, int world_size) { return recipe.distributed.zero == 1 && world_size > 1; }

DType compute_dtype(const Recipe& recipe, Device device) {
  switch (recipe.training.precision) {
    case Precision::Fp32: return DType::F32;
    case Precision::Bf16:
      if (!device.is_cuda())
        recipe.fail("training.precision", "bf16 needs a CUDA device, but this run trains on the CPU (use fp32 or auto)");
      return DType::BF16;
    case Precision::Auto: return device.is_cuda() ? DType::BF16 : DType::F32;
  }
  return DType::F32;
}

}  // namespace lat::trainers
