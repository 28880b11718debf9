#include "trainers/metrics.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace lat::trainers {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-:--:--";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

std::string format_progress(const StepMetrics& m) {
  std::string line = fmt::format("step {}/{} | loss {:.4f} | lr {:.2e} | grad {:.3f} | {:.0f} tok/s | {} elapsed, {} left",
                                 m.step, m.total_steps, m.loss, m.lr, m.grad_norm, m.tokens_per_s,
                                 format_duration(m.elapsed_s), format_duration(m.eta_s));
  if (m.val_loss) line += fmt::format(" | val_loss {:.4f}", *m.val_loss);
  if (m.accuracy) line += fmt::format(" | accuracy {:.3f}", *m.accuracy);
  for (const StepMetrics::Skipped& k : m.skipped) line += fmt::format(" | step {} skipped: {}", k.step, k.reason);
  return line;
}

namespace {
std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{:.8g}", v) : "null"; }
}  // namespace

std::string to_json(const StepMetrics& m) {
  std::string s = fmt::format(R"({{"step": {}, "loss": {}, "lr": {}, "grad_norm": {}, "tokens_per_s": {}, "elapsed_s": {})",
                              m.step, json_number(m.loss), json_number(m.lr), json_number(m.grad_norm),
                              json_number(m.tokens_per_s), json_number(m.elapsed_s));
  if (m.val_loss) s += fmt::format(R"(, "val_loss": {})", json_number(*m.val_loss));
  if (m.accuracy) s += fmt::format(R"(, "accuracy": {})", json_number(*m.accuracy));
  if (!m.skipped.empty()) {
    s += R"(, "skipped": [)";
    for (size_t i = 0; i < m.skipped.size(); ++i)
      s += fmt::format(R"({}{{"step": {}, "reason": "{}"}})", i ? ", " : "", m.skipped[i].step, m.skipped[i].reason);
    s += "]";
  }
  return s + "}";
}

MetricsFile::MetricsFile(const std::string& path, bool append) {
  file_ = std::fopen(path.c_str(), append ? "a" : "w");
  if (!file_) LAT_THROW("cannot open metrics file '", path, "': ", std::strerror(errno));
}

MetricsFile::~MetricsFile() {
  if (file_) std::fclose(file_);
}

void MetricsFile::write(const StepMetrics& m) {
  std::string line = to_json(m) + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace lat::trainers
