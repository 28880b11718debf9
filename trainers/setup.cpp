#include "trainers/setup.h"

#include <filesystem>

#include "core/error.h"
#include "data/mqar.h"
#include "data/shards.h"
#include "data/tokenizer.h"

namespace lat::trainers {

std::shared_ptr<const data::WindowSource> make_window_source(const Recipe& recipe) {
  const DataConfig& d = recipe.data;
  const int64_t seq_len = recipe.training.seq_len;
  switch (d.kind) {
    case DataKind::Text: {
      if (!std::filesystem::exists(d.path))
        recipe.fail("data.path", "data file '" + d.path + "' does not exist" +
                                     (d.path == "data/kjv.txt" ? " (tools/setup.sh writes it)" : ""));
      auto tokens = std::make_shared<data::InMemoryTokens>(data::load_text_dataset(d.path));
      return std::make_shared<data::TokenWindows>(tokens, seq_len);
    }
    case DataKind::Shards: {
      auto shards = std::make_shared<data::ShardDataset>(d.pattern);
      return std::make_shared<data::TokenWindows>(shards, seq_len);
    }
    case DataKind::Mqar: {
      data::MqarConfig m;
      m.vocab_size = static_cast<int32_t>(d.vocab);
      m.seq_len = seq_len;
      m.num_kv_pairs = d.num_kv_pairs;
      m.key_vocab = static_cast<int32_t>(d.key_vocab);
      m.num_examples = d.num_examples;
      m.power_a = d.power_a;
      m.seed = static_cast<uint64_t>(recipe.training.seed);
      return std::make_shared<data::MqarTask>(m);
    }
  }
  LAT_THROW("unknown data.kind");
}

int64_t resolved_vocab_size(const Recipe& recipe, const data::WindowSource& source) {
  int64_t data_vocab = 0;  // one more than the largest token id the data can produce
  switch (recipe.data.kind) {
    case DataKind::Text: data_vocab = data::ByteTokenizer().vocab_size(); break;
    case DataKind::Mqar: data_vocab = recipe.data.vocab; break;
    case DataKind::Shards: {
      const auto& windows = dynamic_cast<const data::TokenWindows&>(source);
      const auto& shards = dynamic_cast<const data::ShardDataset&>(windows.dataset());
      data_vocab = shards.max_token_plus_one();
      break;
    }
  }
  if (recipe.model.vocab_size <= 0) return data_vocab;
  // Checked here, once, because the GPU loss does not read targets back (kernels/loss.h).
  if (recipe.model.vocab_size < data_vocab)
    recipe.fail("model.vocab_size", std::to_string(recipe.model.vocab_size) + " is smaller than the data's vocabulary (" +
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
