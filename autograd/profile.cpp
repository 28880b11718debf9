#include "autograd/profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#endif

namespace lat::autograd::profile {
namespace {

using Clock = std::chrono::steady_clock;

struct Entry {
  double seconds = 0;
  long calls = 0;
};

class Profiler {
 public:
  Profiler() {
    const char* v = std::getenv("LAT_PROFILE_OPS");
    enabled_ = v != nullptr && *v != '\0' && *v != '0';
  }
  ~Profiler() {
    if (!enabled_ || table_.empty()) return;
    std::vector<std::pair<std::string, Entry>> rows(table_.begin(), table_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    double total = 0;
    for (const auto& r : rows) total += r.second.seconds;
    std::fprintf(stderr, "LAT_PROFILE_OPS: %.1f ms in %zu ops (device synchronised after each op)\n", 1e3 * total,
                 rows.size());
    std::fprintf(stderr, "%-40s %12s %8s %7s\n", "op", "total ms", "calls", "share");
    for (const auto& [name, e] : rows)
      std::fprintf(stderr, "%-40s %12.2f %8ld %6.1f%%\n", name.c_str(), 1e3 * e.seconds, e.calls,
                   100.0 * e.seconds / total);
  }
  bool enabled() const { return enabled_; }
  void mark(const char* phase, std::string_view name) {
    sync();
    const Clock::time_point now = Clock::now();
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = table_[std::string(phase) + " " + std::string(name)];
    e.seconds += std::chrono::duration<double>(now - last_).count();
    ++e.calls;
    last_ = now;
  }
  void reset() {
    std::lock_guard<std::mutex> lock(mutex_);
    table_.clear();
  }
  void restart() {
    sync();
    std::lock_guard<std::mutex> lock(mutex_);
    last_ = Clock::now();
  }

 private:
  static void sync() {
#ifdef LAT_HAVE_CUDA
    if (lat::cuda::device_count() > 0) lat::cuda::synchronize();
#endif
  }
  bool enabled_ = false;
  std::mutex mutex_;
  std::map<std::string, Entry> table_;
  Clock::time_point last_ = Clock::now();
};

Profiler& profiler() {
  static Profiler p;
  return p;
}

}  // namespace

bool enabled() { return profiler().enabled(); }
void mark(const char* phase, std::string_view name) {
  if (profiler().enabled()) profiler().mark(phase, name);
}
void restart() {
  if (profiler().enabled()) profiler().restart();
}
void reset() {
  if (profiler().enabled()) profiler().reset();
}

}  // namespace lat::autograd::profile
