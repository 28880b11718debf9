#include "trainers/skip_monitor.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/log.h"

namespace lat::trainers {
namespace {

// "12, 40, 3" (at most 16, then how many in all).
std::string list_samples(const std::vector<int64_t>& samples) {
  std::string text;
  const size_t shown = std::min<size_t>(samples.size(), 16);
  for (size_t i = 0; i < shown; ++i) text += fmt::format("{}{}", i ? ", " : "", samples[i]);
  if (shown < samples.size()) text += fmt::format(", ... ({} in all)", samples.size());
  return text;
}

}  // namespace

std::vector<StepMetrics::Skipped> SkipMonitor::read(const TrainingSession& session,
                                                    const std::string& last_good_checkpoint) {
  std::vector<StepMetrics::Skipped> skipped;
  std::vector<std::pair<int64_t, TrainingSession::StepResult>> pending = std::move(pending_);
  pending_.clear();
  for (const auto& entry : pending) {
    const int64_t step = entry.first;
    const TrainingSession::StepResult& r = entry.second;
    const double invalid = r.invalid_targets.defined() ? r.invalid_targets.item() : 0.0;
    if (invalid > 0)
      log_warn("step {}: {} out-of-vocabulary target{} in rank {}'s batch (samples {}); the step is skipped",
               step, invalid, invalid == 1 ? "" : "s", rank_, list_samples(session.sample_indices(r)));
    const optim::SkipReason reason = r.skip_reason();
    if (reason == optim::SkipReason::None) {
      consecutive_ = 0;
      continue;
    }
    ++consecutive_;
    const std::string why = kernels::skip_reason_text(reason);
    skipped.push_back({step, why});
    if (rank_ == 0) log_info("step {} skipped ({}): parameters and optimizer moments unchanged", step, why);
    if (consecutive_ < recipe_.training.max_skipped_steps) continue;
    const bool diverged =
        reason == optim::SkipReason::NonFiniteLoss || reason == optim::SkipReason::NonFiniteGradient;
    recipe_.fail(
        "training.max_skipped_steps",
        fmt::format("{} steps in a row were skipped, the last at step {} ({}{}); its batch held samples {}; "
                    "the run stops here, and the last checkpoint from before the trouble is {}",
                    consecutive_, step, why,
                    diverged ? fmt::format(": if the run diverged, try a lower optimizer.lr than {:g}",
                                           recipe_.optimizer.lr)
                             : "",
                    list_samples(session.sample_indices(r)),
                    last_good_checkpoint.empty() ? std::string("none (no checkpoint was written before)")
                                                 : "kept: " + last_good_checkpoint));
  }
  return skipped;
}

}  // namespace lat::trainers
