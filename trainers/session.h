// TrainingSession: what one training run is made of, built from a validated recipe (data source and
// loader, model, optimizer, schedule), and its optimizer step. The Trainer adds the run directory, logging,
// evaluation, checkpoints and the communicator; `lat-bench train` and the GPU whole-model test drive a
// session directly, so every caller trains with the same step.
#pragma once

#include <memory>
#include <vector>

#include "autograd/nn/language_model.h"
#include "core/host_upload.h"
#include "core/threads.h"
#include "data/loader.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "trainers/recipe.h"

namespace lat::trainers {

class GradientReducer;

class TrainingSession {
 public:
  // rank/world_size shard the loader (data/loader.h). Throws lat::Error naming the recipe key for bad data.
  TrainingSession(const Recipe& recipe, Device device, int rank = 0, int world_size = 1);
  ~TrainingSession();

  // The step's figures stay where they were computed (on the GPU: device scalars) until asked for: reading
  // loss() or grad_norm() synchronises, so the trainer reads them only when it logs.
  struct StepResult {
    double lr = 0;
    std::vector<Tensor> micro_losses;  // each micro-batch's loss, already scaled by 1/grad_accum
    Tensor norm;                       // global gradient norm before clipping (after the reduction, if any)
    bool abandoned = false;            // a stop request came between micro-batches: no update was made
    double loss() const;               // mean loss of this rank's micro-batches
    double grad_norm() const { return norm.item(); }
  };
  // Optimizer step number `step` (0-based): zero grads; training.grad_accum micro-batches of forward +
  // backward with the loss scaled by 1/grad_accum; the reducer (if any) armed for the last one; the global
  // norm and clip factor (optimizer.grad_clip) on the device; AdamW at lr_at(step) scaling by that factor.
  // Nothing is read back to the host, except on the CPU, where a non-finite loss throws
  // (require_finite_loss). A stop request (core/stop.h) between micro-batches abandons the step (single
  // process only).
  StepResult step(int64_t step);

  // Averages gradients across ranks during the last micro-batch's backward; not owned; may be null.
  void set_reducer(GradientReducer* reducer) { reducer_ = reducer; }

  const Recipe& recipe() const { return recipe_; }
  Device device() const { return device_; }
  const data::WindowSource& source() const { return *source_; }
  data::Loader& loader() { return *loader_; }
  autograd::nn::LanguageModel& model() { return *model_; }
  const autograd::nn::LanguageModel& model() const { return *model_; }
  const std::vector<autograd::nn::NamedParameter>& parameters() const { return params_; }
  optim::AdamW& optimizer() { return *optimizer_; }
  // Tokens one step consumes on this rank: batch_size x seq_len x grad_accum.
  int64_t tokens_per_step() const;

 private:
  Recipe recipe_;
  Device device_;
  std::shared_ptr<const data::WindowSource> source_;
  std::unique_ptr<data::Loader> loader_;
  std::unique_ptr<autograd::nn::LanguageModel> model_;
  std::vector<autograd::nn::NamedParameter> params_;
  std::unique_ptr<optim::AdamW> optimizer_;
  optim::ScheduleConfig schedule_;
  GradientReducer* reducer_ = nullptr;
  HostUploader uploader_;  // batches go to the device without a host synchronisation
  // CPU training with training.threads = 0 and OMP_NUM_THREADS unset: threads follow the machine's load.
  std::unique_ptr<LoadFollowingThreads> threads_;
};

// Throws a one-line lat::Error naming the step (1-based) and optimizer.lr when `loss` is NaN or infinite.
void require_finite_loss(double loss, int64_t step, const Recipe& recipe);

}  // namespace lat::trainers
