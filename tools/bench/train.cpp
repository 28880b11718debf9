// lat-bench train RECIPE [--steps N] [--warmup W] [--set key=value ...]: the training step of a recipe on its
// device (training.device), timed after warm-up. Prints tokens/s, MFU and peak device memory.
//   MFU = LanguageModel::flops_per_token(seq_len) × tokens/s / 989 TFLOP/s, where 989 TFLOP/s is the H200's
//   dense bf16 datasheet peak (the reference the issue fixes, whatever precision the run uses).
// The step is the trainer's (zero_grad, forward + loss, backward, clip, AdamW) without logging, evaluation or
// checkpoints (trainers::TrainingSession::step), which reads nothing back to the host: only the last step's loss
// is read, after the timed loop.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autograd/nn/language_model.h"
#include "autograd/profile.h"
#include "bench/registry.h"
#include "core/allocator.h"
#include "core/timer.h"
#include "trainers/recipe.h"
#include "trainers/session.h"
#include "trainers/setup.h"

#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#endif

namespace lat::bench {
namespace {

constexpr double kH200Bf16PeakFlops = 989e12;  // H200 SXM dense bf16, NVIDIA datasheet

void sync(Device device) {
#ifdef LAT_HAVE_CUDA
  if (device.is_cuda()) lat::cuda::synchronize();
#else
  (void)device;
#endif
}

void run(const std::string& path, int64_t steps, int64_t warmup, const std::vector<std::string>& overrides) {
  Recipe recipe = Recipe::from_file(path, overrides);
  const Device device = trainers::resolve_device(recipe);
  trainers::TrainingSession session(recipe, device);
  const autograd::nn::LanguageModel& model = session.model();
  const int64_t T = recipe.training.seq_len, B = recipe.training.batch_size;
  const double flops_per_token = model.flops_per_token(T);
  std::printf("lat-bench train %s: %s, %s compute (fp32 master weights), %lld parameters, batch %lld x seq %lld, "
              "%.4g FLOPs/token\n",
              path.c_str(), device.str().c_str(), dtype_name(model.config().compute_dtype),
              static_cast<long long>(model.parameter_count()), static_cast<long long>(B), static_cast<long long>(T),
              flops_per_token);

  trainers::TrainingSession::StepResult last;
  for (int64_t i = 0; i < warmup; ++i) last = session.step(i);
  sync(device);
  if (device.is_cuda()) allocator_for(device).reset_peak();
  autograd::profile::reset();  // LAT_PROFILE_OPS: the timed steps only
  Timer timer;
  double enqueue_seconds = 0;  // host time inside step(): above the step time, the host is the bottleneck
  for (int64_t i = 0; i < steps; ++i) {
    Timer host;
    last = session.step(warmup + i);
    enqueue_seconds += host.seconds();
  }
  sync(device);
  const double seconds = timer.seconds();
  const double last_loss = last.loss();
  const double tokens = static_cast<double>(steps * B * T);
  const double tps = seconds > 0 ? tokens / seconds : 0;
  const double mfu = flops_per_token * tps / kH200Bf16PeakFlops;
  std::printf("steps %lld (after %lld warm-up), %.3f s, %.1f ms/step, loss %.4f\n", static_cast<long long>(steps),
              static_cast<long long>(warmup), seconds, 1e3 * seconds / static_cast<double>(steps > 0 ? steps : 1),
              last_loss);
  std::printf("tokens/s %.0f\n", tps);
  if (device.is_cuda())
    std::printf("host time in step() %.1f ms/step (the device runs behind it when this is below ms/step)\n",
                1e3 * enqueue_seconds / static_cast<double>(steps > 0 ? steps : 1));
  std::printf("MFU %.2f%% (model FLOPs/token x tokens/s over 989 TFLOP/s, the H200 SXM dense bf16 datasheet peak)\n",
              100.0 * mfu);
  if (device.is_cuda())
    std::printf("peak device memory %.2f GiB (steady-state steps; allocator high-water mark)\n",
                static_cast<double>(allocator_for(device).peak_bytes()) / (1024.0 * 1024.0 * 1024.0));
}

Subcommand train_cmd("train", "tokens/s, MFU and peak memory of a recipe's training step", [](CLI::App& sub) {
  auto path = std::make_shared<std::string>();
  auto steps = std::make_shared<int64_t>(20);
  auto warmup = std::make_shared<int64_t>(3);
  auto overrides = std::make_shared<std::vector<std::string>>();
  sub.add_option("recipe", *path, "recipe TOML file")->required();
  sub.add_option("--steps", *steps, "timed steps (default 20)");
  sub.add_option("--warmup", *warmup, "untimed steps first (default 3)");
  sub.add_option("--set", *overrides, "recipe override section.key=value (repeatable)")->allow_extra_args(false);
  sub.callback([=] { run(*path, *steps, *warmup, *overrides); });
});

}  // namespace
}  // namespace lat::bench
