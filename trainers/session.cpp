#include "trainers/session.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "autograd/ops.h"
#include "autograd/profile.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/threads.h"
#include "optim/clip.h"
#include "trainers/gradient_reducer.h"
#include "trainers/memory_estimate.h"
#include "trainers/setup.h"

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
  check_training_memory(recipe, vocab_size, device);  // before the first allocation of the model
  autograd::nn::LanguageModelConfig model = model_config(recipe, vocab_size);
  model.compute_dtype = compute_dtype(recipe, device);
  model_ = std::make_unique<autograd::nn::LanguageModel>(model, device);
  params_ = model_->parameters();
  optimizer_ = std::make_unique<optim::AdamW>(params_, adamw_config(recipe));
  schedule_ = schedule_config(recipe);
  optim::validate(schedule_);
}

TrainingSession::~TrainingSession() = default;

int64_t TrainingSession::tokens_per_step() const {
  return recipe_.training.batch_size * recipe_.training.seq_len * recipe_.training.grad_accum;
}

TrainingSession::StepResult TrainingSession::step(int64_t step) {
  StepResult r;
  if (threads_) threads_->update();
  r.lr = optim::lr_at(schedule_, step);
  optimizer_->zero_grad();
  const int64_t accum = recipe_.training.grad_accum;
  const data::LoaderPosition start = loader_->position();
  for (int64_t micro = 0; micro < accum; ++micro) {
    // A stop request ends a long accumulation between micro-batches: the step is abandoned (no update, the
    // loader rewound), so a checkpoint written now resumes exactly. With a reducer every rank must take part
    // in the last backward's collectives, so ranks finish the step.
    if (micro > 0 && !reducer_ && stop_requested()) {
      loader_->restore(start);
      r.abandoned = true;
      return r;
    }
    data::Batch batch = loader_->next();
    autograd::profile::restart();  // the op profile (LAT_PROFILE_OPS) leaves data loading out
    const Tensor inputs = uploader_.upload(batch.inputs, device_), targets = uploader_.upload(batch.targets, device_);
    const Tensor starts = batch.document_starts.defined() ? uploader_.upload(batch.document_starts, device_) : Tensor();
    autograd::Variable loss = model_->loss(inputs, targets, starts);
    if (accum > 1) loss = autograd::scale(loss, 1.0 / static_cast<double>(accum));
    // Only the last micro-batch's backward reduces (its gradients include the earlier ones).
    if (reducer_ && micro + 1 == accum) reducer_->arm();
    loss.backward();
    r.micro_losses.push_back(loss.data());
  }
  if (reducer_) reducer_->finish();
  const optim::GradientNorm clip = optim::global_grad_norm(params_, recipe_.optimizer.grad_clip);
  optimizer_->step(r.lr, clip.factor);
  autograd::profile::mark("optimizer", "global norm + clip + AdamW");
  r.norm = clip.norm;
  // On the CPU the loss is at hand: a diverged run stops at the step it diverged. (On CUDA reading it would
  // synchronise every step; the trainer checks it when it logs.)
  if (device_.is_cpu()) require_finite_loss(r.loss(), step + 1, recipe_);
  return r;
}

void require_finite_loss(double loss, int64_t step, const Recipe& recipe) {
  if (std::isfinite(loss)) return;
  const char* what = std::isnan(loss) ? "NaN" : (loss > 0 ? "+inf" : "-inf");
  recipe.fail("optimizer.lr", fmt::format("the training loss is {} at step {}: the run diverged and stops here "
                                          "(try a lower optimizer.lr than {:g})",
                                          what, step, recipe.optimizer.lr));
}

double TrainingSession::StepResult::loss() const {
  double total = 0;
  for (const Tensor& l : micro_losses) total += l.item();
  return total;
}

}  // namespace lat::trainers
