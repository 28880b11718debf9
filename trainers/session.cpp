#include "trainers/session.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "autograd/ops.h"
#include "autograd/profile.h"
#include "core/error.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/threads.h"
#include "kernels/elementwise.h"
#include "trainers/communicator.h"
#include "trainers/gradient_reducer.h"
#include "trainers/memory_estimate.h"
#include "trainers/setup.h"
#include "trainers/sharded_optimizer.h"

namespace lat::trainers {

TrainingSession::TrainingSession(const Recipe& recipe, Device device, int rank, int world_size)
    : recipe_(recipe), device_(device) {
  source_ = make_window_source(recipe);
  data::LoaderConfig lc;
  lc.batch_size = recipe.training.batch_size;
  lc.rank = rank;
  lc.world_size = world_size;
  lc.seed = static_cast<uint64_t>(recipe.training.seed);
  // Validation data of its own (val_path, val_pattern) replaces the held-out tail: nothing is held out.
  std::shared_ptr<const data::WindowSource> validation;
  if (has_separate_validation(recipe))
    validation = make_eval_source(recipe, Split::Validation, recipe.training.seq_len);
  lc.val_fraction = validation ? 0.0 : recipe.data.val_fraction;
  lc.document_separator = document_separator(recipe, device);
  if (recipe.resolved_document_boundaries() && !document_boundaries_on(recipe, device))
    log_warn("data.document_boundaries: off for this run: the CUDA attention kernels do not honour document "
             "boundaries yet, so windows run across documents (docs/known_issues.md)");
  loader_ = std::make_unique<data::Loader>(source_, lc, validation);
  if (device.is_cuda() && rank == 0 && recipe.attention.kind == AttentionKind::Linear && recipe.attention.block != 64)
    log_warn("attention.block = {} sets the CPU kernels' tile only; the CUDA kernels tile the sequence by 64 tokens",
             recipe.attention.block);
  if (device.is_cpu()) {
    set_cpu_threads(recipe.training.threads);
    if (recipe.training.threads == 0 && std::getenv("OMP_NUM_THREADS") == nullptr)
      threads_ = std::make_unique<LoadFollowingThreads>(cpu_threads());
  }
  const int64_t vocab_size = resolved_vocab_size(recipe, *source_);
  check_training_memory(recipe, vocab_size, device, world_size);  // before the first allocation of the model
  autograd::nn::LanguageModelConfig model = model_config(recipe, vocab_size);
  model.compute_dtype = compute_dtype(recipe, device);
  model_ = std::make_unique<autograd::nn::LanguageModel>(model, device);
  params_ = model_->parameters();
  if (!zero_sharding(recipe, world_size)) optimizer_ = std::make_unique<optim::AdamW>(params_, adamw_config(recipe));
  guard_ = std::make_unique<optim::StepGuard>(step_guard_config(recipe), device);
  schedule_ = schedule_config(recipe);
  optim::validate(schedule_);
}

namespace {

// "3,5,9" -> {3, 5, 9}; positive steps only.
std::set<int64_t> parse_steps(const char* variable) {
  std::set<int64_t> steps;
  const char* text = std::getenv(variable);
  if (text == nullptr) return steps;
  std::string list = text;
  size_t start = 0;
  while (start <= list.size() && !list.empty()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, end - start);
    char* stop = nullptr;
    const long long v = std::strtoll(item.c_str(), &stop, 10);
    if (item.empty() || *stop != '\0' || v < 1) LAT_THROW(variable, ": '", item, "' is not a step number >= 1");
    steps.insert(v);
    start = end + 1;
  }
  return steps;
}

}  // namespace

StepFaults StepFaults::from_environment() {
  StepFaults f;
  f.nan_gradient_steps = parse_steps("LAT_TEST_NAN_GRAD_STEPS");
  f.invalid_target_steps = parse_steps("LAT_TEST_BAD_TARGET_STEPS");
  if (const char* rank = std::getenv("LAT_TEST_FAULT_RANK")) f.rank = std::atoi(rank);
  return f;
}

void TrainingSession::set_faults(const StepFaults& faults) {
  faults_ = faults.empty() ? nullptr : std::make_unique<StepFaults>(faults);
}

std::vector<int64_t> TrainingSession::sample_indices(const StepResult& r) const {
  std::vector<int64_t> windows;
  for (const data::LoaderPosition& p : r.batches)
    for (int64_t row = 0; row < p.global_batch; ++row) windows.push_back(loader_->window_of(p.epoch, p.index + row));
  return windows;
}

optim::SkipReason TrainingSession::StepResult::skip_reason() const {
  return verdict.defined() ? static_cast<optim::SkipReason>(static_cast<int>(verdict.item())) : optim::SkipReason::None;
}

TrainingSession::~TrainingSession() = default;

void TrainingSession::set_reducer(GradientReducer* reducer) {
  reducer_ = reducer;
  const bool scatters = reducer != nullptr && reducer->reduction() == GradientReduction::ReduceScatter;
  LAT_CHECK(scatters == (optimizer_ == nullptr), "distributed.zero = ", recipe_.distributed.zero,
            ": the gradient reducer must ", scatters ? "all-reduce" : "reduce-scatter", " (trainers/session.h)");
  if (scatters) sharded_ = std::make_unique<ShardedOptimizer>(*reducer, adamw_config(recipe_));
}

optim::AdamW& TrainingSession::optimizer() {
  LAT_CHECK(optimizer_ || sharded_, "distributed.zero = 1: the session has no optimizer until set_reducer is called");
  return sharded_ ? sharded_->optimizer() : *optimizer_;
}

optim::AdamWState TrainingSession::optimizer_state() {
  return sharded_ ? sharded_->gather_state() : optimizer().state();
}

void TrainingSession::load_optimizer_state(const optim::AdamWState& state) {
  if (sharded_) sharded_->load_state(state);
  else optimizer().load_state(state);
}

int64_t TrainingSession::tokens_per_step() const {
  return recipe_.training.batch_size * recipe_.training.seq_len * recipe_.training.grad_accum;
}

TrainingSession::StepResult TrainingSession::step(int64_t step) {
  StepResult r;
  if (threads_) threads_->update();
  r.lr = optim::lr_at(schedule_, step);
  for (auto& p : params_) p.variable.zero_grad();
  const int64_t accum = recipe_.training.grad_accum;
  const data::LoaderPosition start = loader_->position();
  // The loss's out-of-vocabulary count (kernels/loss.h), of the loss's dtype, on the device.
  r.invalid_targets = Tensor::zeros(Shape{}, accumulation_dtype(model_->config().compute_dtype), device_);
  for (int64_t micro = 0; micro < accum; ++micro) {
    // A stop request ends a long accumulation between micro-batches: the step is abandoned (no update, the
    // loader rewound), so a checkpoint written now resumes exactly. With a reducer every rank must take part
    // in the last backward's collectives, so ranks finish the step.
    if (micro > 0 && !reducer_ && stop_requested()) {
      loader_->restore(start);
      r.abandoned = true;
      return r;
    }
    r.batches.push_back(loader_->position());
    data::Batch batch = loader_->next();
    const bool faulty = faults_ != nullptr && micro == 0;  // test-only (StepFaults)
    if (faulty && faults_->invalid_target_steps.count(step + 1))
      batch.targets.data<int32_t>()[0] = static_cast<int32_t>(model_->config().vocab_size);
    autograd::profile::restart();  // the op profile (LAT_PROFILE_OPS) leaves data loading out
    const Tensor inputs = uploader_.upload(batch.inputs, device_), targets = uploader_.upload(batch.targets, device_);
    const Tensor starts = batch.document_starts.defined() ? uploader_.upload(batch.document_starts, device_) : Tensor();
    autograd::Variable loss = model_->loss(inputs, targets, starts, &r.invalid_targets);
    if (accum > 1) loss = autograd::scale(loss, 1.0 / static_cast<double>(accum));
    // Only the last micro-batch's backward reduces (its gradients include the earlier ones).
    if (reducer_ && micro + 1 == accum) reducer_->arm();
    if (faulty && faults_->nan_gradient_steps.count(step + 1))
      loss.backward(Tensor::full(loss.shape(), std::numeric_limits<double>::quiet_NaN(), loss.dtype(), device_));
    else
      loss.backward();
    r.micro_losses.push_back(loss.data());
  }
  if (reducer_) reducer_->finish();
  // The guard's norm, clip factor and verdict (under ZeRO-1 over every rank's shard); this rank's AdamW (its
  // shard under ZeRO-1), then the parameters all-gathered.
  const optim::GradientNorm guarded = sharded_ ? sharded_->check(*guard_, guard_loss(r), r.invalid_targets)
                                               : guard_->check(params_, guard_loss(r), r.invalid_targets);
  optimizer().step(r.lr, guarded.factor);
  if (sharded_) sharded_->gather_parameters();
  autograd::profile::mark("optimizer", "global norm + guard + clip + AdamW");
  r.norm = guarded.norm;
  r.verdict = guarded.verdict;
  return r;
}

Tensor TrainingSession::guard_loss(const StepResult& r) {
  const int world = comm_ != nullptr ? comm_->world_size() : 1;
  // Several ranks must reach the same verdict: each has its own loss, so without the z-score rule (which needs
  // the mean) the loss is left out and a diverged step shows in the reduced gradient norm instead.
  if (world > 1 && recipe_.training.skip_loss_z <= 0.0) return Tensor();
  Tensor total = r.micro_losses.front().contiguous();
  for (size_t i = 1; i < r.micro_losses.size(); ++i) {
    Tensor sum = Tensor::empty_like(total);
    kernels::add(total, r.micro_losses[i], sum);
    total = sum;
  }
  const DType dtype = device_.is_cuda() ? DType::F32 : total.dtype();
  if (total.dtype() != dtype || world > 1) total = total.to(dtype).clone();
  if (world > 1) {
    comm_->all_reduce_sum(total);  // NCCL: ordered on the compute stream, no host synchronisation
    kernels::scale_(total, 1.0 / world);
  }
  return total;
}

double TrainingSession::StepResult::loss() const {
  double total = 0;
  for (const Tensor& l : micro_losses) total += l.item();
  return total;
}

}  // namespace lat::trainers
