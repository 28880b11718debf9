// The trainer's side of the step guard (optim/step_guard.h): the session decides on the device whether each
// step's update is applied; the monitor keeps those verdicts until the trainer reads them (every step on the
// CPU, where reading is free; at logs and checkpoints on CUDA, which read the device anyway), logs each
// skipped step and every out-of-vocabulary target with its step, and stops the run once
// training.max_skipped_steps steps in a row were skipped, naming the step, the reason and the batch's sample
// (window) indices.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "trainers/metrics.h"
#include "trainers/session.h"

namespace lat::trainers {

class SkipMonitor {
 public:
  SkipMonitor(const Recipe& recipe, int rank) : recipe_(recipe), rank_(rank) {}

  // Keeps step `step`'s (1-based) figures until read().
  void add(int64_t step, TrainingSession::StepResult result) {
    pending_.emplace_back(step, std::move(result));
  }
  bool has_pending() const { return !pending_.empty(); }

  // Reads every kept verdict (synchronises on CUDA) in step order and returns the skipped steps. Throws the
  // one-line lat::Error of training.max_skipped_steps (naming `last_good_checkpoint`, which the trainer never
  // prunes while steps are being skipped) when that many steps in a row were skipped.
  std::vector<StepMetrics::Skipped> read(const TrainingSession& session,
                                         const std::string& last_good_checkpoint);

  // Steps skipped in a row up to the last one read (0: the last read step was applied).
  int64_t consecutive() const { return consecutive_; }

 private:
  const Recipe& recipe_;
  int rank_;
  std::vector<std::pair<int64_t, TrainingSession::StepResult>> pending_;
  int64_t consecutive_ = 0;
};

}  // namespace lat::trainers
