// The training loop: builds the data loader, model, optimizer and communicator from a Recipe, optionally
// resumes from a checkpoint, and runs steps with logging, evaluation and checkpoints on schedule.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "autograd/nn/language_model.h"
#include "trainers/communicator.h"
#include "trainers/recipe.h"

namespace lat::trainers {

struct TrainOptions {
  std::string run_dir = "runs/default";  // metrics.jsonl, recipe.toml and checkpoints/ go here
  std::string resume;                    // "": fresh; "auto": newest valid checkpoint in the run dir; else a path
  // A fresh run (resume "") refuses a run directory that holds another run's checkpoints or metrics unless
  // `overwrite`, which deletes them first.
  bool overwrite = false;
  // resume "auto" finding only damaged checkpoints refuses to start from step 0 unless `allow_fresh`.
  bool allow_fresh = false;
  int64_t stop_after = 0;                // > 0: stop (with a checkpoint) after this many steps of this invocation
};

struct TrainResult {
  int64_t steps_done = 0;
  double last_loss = 0;
  std::optional<double> val_loss, accuracy;
  double tokens_per_s = 0;
  double elapsed_s = 0;
  std::string last_checkpoint;
  bool interrupted = false;  // stopped early by SIGINT/SIGTERM or stop_after (a checkpoint was written)
};

class Trainer {
 public:
  // Validates the run directory (created if needed, must be writable), data, model and resume source;
  // throws lat::Error naming the offending thing before anything is written.
  Trainer(const Recipe& recipe, const TrainOptions& options, Communicator& comm);
  ~Trainer();
  TrainResult run();

  const autograd::nn::LanguageModel& model() const;
  Device device() const;
  // Installs SIGINT/SIGTERM handlers that make run() checkpoint and return after the current step.
  static void install_signal_handlers();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace lat::trainers
