#include "trainers/session.h"

#include "autograd/ops.h"
#include "autograd/profile.h"
#include "optim/clip.h"
#include "trainers/gradient_reducer.h"
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
  loader_ = std::make_unique<data::Loader>(source_, lc, validation);
  autograd::nn::LanguageModelConfig model = model_config(recipe, resolved_vocab_size(recipe, *source_));
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
  r.lr = optim::lr_at(schedule_, step);
  optimizer_->zero_grad();
  const int64_t accum = recipe_.training.grad_accum;
  for (int64_t micro = 0; micro < accum; ++micro) {
    data::Batch batch = loader_->next();
    autograd::profile::restart();  // the op profile (LAT_PROFILE_OPS) leaves data loading out
    const Tensor inputs = uploader_.upload(batch.inputs, device_), targets = uploader_.upload(batch.targets, device_);
    autograd::Variable loss = model_->loss(inputs, targets);
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
  return r;
}

double TrainingSession::StepResult::loss() const {
  double total = 0;
  for (const Tensor& l : micro_losses) total += l.item();
  return total;
}

}  // namespace lat::trainers
