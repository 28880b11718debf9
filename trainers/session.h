// TrainingSession: what one training run is made of, built from a validated recipe (data source and
// loader, model, optimizer, schedule), and its optimizer step. The Trainer adds the run directory, logging,
// evaluation, checkpoints and the communicator; `lat-bench train` and the GPU whole-model test drive a
// session directly, so every caller trains with the same step.
#pragma once

#include <memory>
#include <set>
#include <vector>

#include "autograd/nn/language_model.h"
#include "core/host_upload.h"
#include "core/threads.h"
#include "data/loader.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "optim/step_guard.h"
#include "trainers/recipe.h"

namespace lat::trainers {

class Communicator;
class GradientReducer;
class ShardedOptimizer;

// Test-only fault injection (the seam behind the guard's tests; the Trainer fills it from LAT_TEST_NAN_GRAD_STEPS
// and LAT_TEST_BAD_TARGET_STEPS, comma-separated 1-based steps, on the rank LAT_TEST_FAULT_RANK names, or on
// every rank). Steps named here get a NaN backward seed (so NaN gradients with a finite loss) or an
// out-of-vocabulary target in the first row of their first micro-batch.
struct StepFaults {
  std::set<int64_t> nan_gradient_steps, invalid_target_steps;
  int rank = -1;  // the only rank with faults; -1: every rank
  bool empty() const { return nan_gradient_steps.empty() && invalid_target_steps.empty(); }
  // From the two environment variables; throws lat::Error naming the variable for a malformed list.
  static StepFaults from_environment();
};

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
    Tensor verdict;                    // the step guard's kernels::SkipReason code (optim/step_guard.h)
    Tensor invalid_targets;            // out-of-vocabulary targets this rank's loss counted
    std::vector<data::LoaderPosition> batches;  // the loader's position before each micro-batch
    bool abandoned = false;            // a stop request came between micro-batches: no update was made
    double loss() const;               // mean loss of this rank's micro-batches
    double grad_norm() const { return norm.item(); }
    optim::SkipReason skip_reason() const;  // reading it synchronises
  };
  // Optimizer step number `step` (0-based): zero grads; training.grad_accum micro-batches of forward +
  // backward with the loss scaled by 1/grad_accum; the reducer (if any) armed for the last one; the step
  // guard's norm, clip factor (optimizer.grad_clip) and verdict on the device; AdamW at lr_at(step) scaling by
  // that factor, which is 0 for a skipped step (nothing moves; the optimizer's step count still advances).
  // Nothing is read back to the host. A stop request (core/stop.h) between micro-batches abandons the step
  // (single process only).
  StepResult step(int64_t step);

  // Averages gradients across ranks during the last micro-batch's backward; not owned; may be null. Under ZeRO-1
  // (zero_sharding(recipe, world_size), trainers/setup.h) the session has no whole AdamW: it needs a reducer
  // built with GradientReduction::ReduceScatter, on which it builds its ShardedOptimizer (a collective).
  void set_reducer(GradientReducer* reducer);
  // The ranks' communicator, used to average the loss for the loss z-score rule (training.skip_loss_z) when
  // there are several ranks; not owned; may be null.
  void set_communicator(Communicator* comm) { comm_ = comm; }
  // Test-only faults (StepFaults); an empty set turns them off.
  void set_faults(const StepFaults& faults);
  // Every window (sample) index that step `r` read, over all ranks, in loader order.
  std::vector<int64_t> sample_indices(const StepResult& r) const;

  const Recipe& recipe() const { return recipe_; }
  Device device() const { return device_; }
  const data::WindowSource& source() const { return *source_; }
  data::Loader& loader() { return *loader_; }
  autograd::nn::LanguageModel& model() { return *model_; }
  const autograd::nn::LanguageModel& model() const { return *model_; }
  const std::vector<autograd::nn::NamedParameter>& parameters() const { return params_; }
  // The AdamW this rank steps: over the whole model, or under ZeRO-1 over this rank's shard.
  optim::AdamW& optimizer();
  // The whole optimizer state under the model's parameter names, for a checkpoint. Under ZeRO-1 a collective
  // (every rank calls it) that leaves the whole state on rank 0 only (CPU tensors; the others get the step).
  optim::AdamWState optimizer_state();
  // Restores a whole state (a checkpoint's, from any world size); under ZeRO-1 this rank keeps its shard.
  void load_optimizer_state(const optim::AdamWState& state);
  // Non-null under ZeRO-1 once set_reducer has been called.
  const ShardedOptimizer* sharded_optimizer() const { return sharded_.get(); }
  // Tokens one step consumes on this rank: batch_size x seq_len x grad_accum.
  int64_t tokens_per_step() const;

 private:
  Recipe recipe_;
  Device device_;
  std::shared_ptr<const data::WindowSource> source_;
  std::unique_ptr<data::Loader> loader_;
  std::unique_ptr<autograd::nn::LanguageModel> model_;
  std::vector<autograd::nn::NamedParameter> params_;
  std::unique_ptr<optim::AdamW> optimizer_;        // null under ZeRO-1
  std::unique_ptr<ShardedOptimizer> sharded_;      // ZeRO-1 only
  optim::ScheduleConfig schedule_;
  // This step's mean loss for the step guard (averaged over ranks when the loss z-score needs it), or undefined.
  Tensor guard_loss(const StepResult& r);

  GradientReducer* reducer_ = nullptr;
  Communicator* comm_ = nullptr;
  std::unique_ptr<optim::StepGuard> guard_;
  std::unique_ptr<StepFaults> faults_;  // null unless a test asked for faults
  HostUploader uploader_;  // batches go to the device without a host synchronisation
  // CPU training with training.threads = 0 and OMP_NUM_THREADS unset: threads follow the machine's load.
  std::unique_ptr<LoadFollowingThreads> threads_;
};

}  // namespace lat::trainers
