// Learning-rate schedules as a pure function of the step: linear warmup, then constant, linear decay or
// cosine decay to min_lr. Step counts from 0 (the first optimizer step uses lr_at(0)).
//
//   warmup:  step < warmup_steps            → lr · (step + 1) / warmup_steps
//   decay:   p = (step − warmup) / (total − warmup), clamped to [0, 1]
//            constant: lr;  linear: lr − (lr − min_lr) · p;  cosine: min_lr + (lr − min_lr) · (1 + cos πp) / 2
//   step ≥ total_steps → min_lr for linear and cosine.
#pragma once

#include <cstdint>
#include <string>

namespace lat::optim {

enum class ScheduleKind { Constant, Linear, Cosine };

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::Cosine;
  double lr = 3e-4;  // peak
  double min_lr = 0.0;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // where linear/cosine reach min_lr (usually training.steps)
};

// "constant", "linear", "cosine"; throws lat::Error naming the text otherwise.
ScheduleKind parse_schedule_kind(const std::string& text);
const char* schedule_kind_name(ScheduleKind kind);
// Throws lat::Error naming the field: lr < 0, min_lr outside [0, lr], warmup_steps < 0, and for
// linear/cosine total_steps < warmup_steps or total_steps < 1.
void validate(const ScheduleConfig& config);
// The learning rate of step `step` (>= 0).
double lr_at(const ScheduleConfig& config, int64_t step);

}  // namespace lat::optim
