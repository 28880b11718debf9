// What a run reports: the progress line on stdout and DIR/metrics.jsonl (one JSON object per logged step).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace lat::trainers {

struct StepMetrics {
  int64_t step = 0;  // 1-based: steps completed
  int64_t total_steps = 0;
  double loss = 0;
  double lr = 0;
  double grad_norm = 0;
  double tokens_per_s = 0;
  double elapsed_s = 0;
  double eta_s = 0;
  std::optional<double> val_loss;
  std::optional<double> accuracy;  // MQAR query accuracy on the validation batches
  // Steps the step guard skipped since the previous logged row (this one included), with their reasons
  // (kernels::skip_reason_text).
  struct Skipped {
    int64_t step = 0;
    std::string reason;
  };
  std::vector<Skipped> skipped;
};

// "step 120/1000 | loss 2.3456 | lr 1.00e-03 | grad 0.812 | 12,345 tok/s | 0:01:02 elapsed, 0:07:40 left"
std::string format_progress(const StepMetrics& m);
std::string format_duration(double seconds);
// {"step": 120, "loss": 2.3456, ...}: keys step, loss, lr, grad_norm, tokens_per_s, elapsed_s, and val_loss /
// accuracy when present, and "skipped": [{"step": 117, "reason": "non-finite gradient"}, ...] when steps were
// skipped. Non-finite numbers are null.
std::string to_json(const StepMetrics& m);

// Appends JSON lines to a file, flushing each line.
class MetricsFile {
 public:
  // append: keep existing lines (resume) instead of truncating.
  MetricsFile(const std::string& path, bool append);
  ~MetricsFile();
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;
  void write(const StepMetrics& m);

 private:
  std::FILE* file_ = nullptr;
};

}  // namespace lat::trainers
