#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace lat::optim {

ScheduleKind parse_schedule_kind(const std::string& text) {
  if (text == "constant") return ScheduleKind::Constant;
  if (text == "linear") return ScheduleKind::Linear;
  if (text == "cosine") return ScheduleKind::Cosine;
  LAT_THROW("unknown learning-rate schedule '", text, "' (expected constant, linear or cosine)");
}

const char* schedule_kind_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Constant: return "constant";
    case ScheduleKind::Linear: return "linear";
    case ScheduleKind::Cosine: return "cosine";
  }
  return "?";
}

void validate(const ScheduleConfig& c) {
  if (!(c.lr >= 0.0)) LAT_THROW("schedule: lr must be >= 0, got ", c.lr);
  if (!(c.min_lr >= 0.0 && c.min_lr <= c.lr))
    LAT_THROW("schedule: min_lr must lie in [0, lr = ", c.lr, "], got ", c.min_lr);
  if (c.warmup_steps < 0) LAT_THROW("schedule: warmup_steps must be >= 0, got ", c.warmup_steps);
  if (c.kind != ScheduleKind::Constant) {
    if (c.total_steps < 1) LAT_THROW("schedule: total_steps must be >= 1, got ", c.total_steps);
    if (c.total_steps < c.warmup_steps)
      LAT_THROW("schedule: warmup_steps ", c.warmup_steps, " exceed total_steps ", c.total_steps);
  }
}

double lr_at(const ScheduleConfig& c, int64_t step) {
  LAT_CHECK(step >= 0, "lr_at: step ", step, " is negative");
  if (step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  if (c.kind == ScheduleKind::Constant) return c.lr;
  const int64_t span = c.total_steps - c.warmup_steps;
  const double p =
      span <= 0 ? 1.0 : std::clamp(static_cast<double>(step - c.warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  if (c.kind == ScheduleKind::Linear) return c.lr - (c.lr - c.min_lr) * p;
  return c.min_lr + (c.lr - c.min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
}

}  // namespace lat::optim
