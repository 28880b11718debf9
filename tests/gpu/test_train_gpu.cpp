// Whole-model check: 10 training steps of a tiny model on the GPU track the CPU run's losses. Both runs are
// built from one recipe (Philox initialisation gives the same weights on both devices, the loader the same
// batches) and take the trainer's step: zero_grad, forward + loss, backward, global-norm clip, AdamW. The CPU
// trains in fp32; the GPU in fp32 (precision = "fp32": only summation order differs) or in bf16 mixed
// precision (the default on CUDA: fp32 master weights and optimizer, bf16 activations and GEMMs).
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/nn/language_model.h"
#include "gpu_test_util.h"
#include "trainers/recipe.h"
#include "trainers/session.h"

using namespace lat;

namespace {

constexpr const char* kTinyRecipe = R"(
[model]
d_model = 64
layers = 2
mlp_hidden = 128

[attention]
kind = "softmax"
heads = 2
rope = true
gate = true

[optimizer]
lr = 3e-3
weight_decay = 0.1
grad_clip = 1.0

[schedule]
kind = "cosine"
warmup_steps = 3

[data]
kind = "mqar"
vocab = 64
num_kv_pairs = 4
num_examples = 512
val_fraction = 0.05

[training]
steps = 10
batch_size = 8
seq_len = 32
seed = 3
)";

std::vector<double> train_losses(const Recipe& recipe, Device device, int64_t steps) {
  trainers::TrainingSession session(recipe, device);
  std::vector<double> losses;
  for (int64_t i = 0; i < steps; ++i) losses.push_back(session.step(i).loss());
  return losses;
}

void compare(const std::string& name, const Recipe& recipe, double tolerance) {
  const std::vector<double> cpu = train_losses(recipe, Device::cpu(), 10);
  const std::vector<double> gpu = train_losses(recipe, Device::cuda(), 10);
  double worst = 0;
  std::string line;
  for (size_t i = 0; i < cpu.size(); ++i) {
    worst = std::max(worst, std::abs(gpu[i] - cpu[i]) / std::abs(cpu[i]));
    line.append(" ").append(gpu_test::sci(cpu[i])).append("/").append(gpu_test::sci(gpu[i]));
  }
  const std::string note = name + " losses cpu/gpu:" + line + "; worst relative difference " + gpu_test::sci(worst);
  MESSAGE(note);
  CHECK(cpu.back() < cpu.front());
  CHECK(worst < tolerance);
}

}  // namespace

TEST_CASE("10 training steps of a tiny softmax model on the GPU track the CPU run (fp32)") {
  // fp32 on both devices: only summation order differs (cuBLASLt without TF32, fp32 kernels).
  compare("softmax fp32", Recipe::from_string(kTinyRecipe, "tiny-softmax", {"training.precision=\"fp32\""}), 1e-3);
}

// bf16 rounds every activation to 8 significant bits (relative 2^-9 per value); over 10 steps the mean loss of
// a tiny model moves by about 1e-3 relative (measured on the H200); the bar leaves room for that.
TEST_CASE("10 training steps in bf16 mixed precision on the GPU track the fp32 CPU run") {
  compare("softmax bf16", Recipe::from_string(kTinyRecipe, "tiny-softmax"), 2e-2);
  compare("lightning bf16",
          Recipe::from_string(kTinyRecipe, "tiny-lightning",
                              {"attention.kind=\"linear\"", "attention.feature_map=\"identity\"",
                               "attention.normalize=\"rmsnorm\"", "attention.decay=\"alibi\"", "attention.rope=false",
                               "attention.head_dim=32"}),
          2e-2);
}
