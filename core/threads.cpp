#include "core/threads.h"

#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/log.h"

namespace lat {

void prefer_passive_waiting(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  setenv("OMP_WAIT_POLICY", "passive", 0);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on with the defaults
}

void set_cpu_threads(int64_t n) {
  if (n > 0) omp_set_num_threads(static_cast<int>(n));
}

int cpu_threads() {
  return omp_get_max_threads();
}

LoadFollowingThreads::LoadFollowingThreads(int ceiling, double interval_s)
    : ceiling_(std::max(1, ceiling)),
      interval_s_(interval_s),
      current_(std::max(1, ceiling)),
      last_(sample()) {
  omp_set_num_threads(current_);
}

LoadFollowingThreads::~LoadFollowingThreads() {
  omp_set_num_threads(ceiling_);
}

int LoadFollowingThreads::threads_for(double online_cores, double others_busy_cores, int ceiling) {
  const double free_cores = online_cores - std::max(0.0, others_busy_cores);
  const int n = static_cast<int>(std::lround(free_cores));
  return std::clamp(n, 1, std::max(1, ceiling));
}

LoadFollowingThreads::Sample LoadFollowingThreads::sample() {
  Sample s;
  s.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return s;
  s.own_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
            1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return s;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  const int read = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle,
                               &iowait, &irq, &softirq, &steal);
  std::fclose(f);
  const long ticks = sysconf(_SC_CLK_TCK);
  if (read < 4 || ticks <= 0) return s;
  const unsigned long long busy = user + nice + system + irq + softirq + steal;
  s.machine_busy_s = static_cast<double>(busy) / static_cast<double>(ticks);
  s.valid = true;
  return s;
}

int LoadFollowingThreads::update() {
  const Sample now = sample();
  const double wall = now.wall_s - last_.wall_s;
  if (wall < interval_s_) return current_;
  if (now.valid && last_.valid) {
    const double others = (now.machine_busy_s - last_.machine_busy_s - (now.own_s - last_.own_s)) / wall;
    const double online = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
    const int next = threads_for(online, others, ceiling_);
    if (next != current_) {
      log_info("CPU threads: {} -> {} (other processes kept {:.1f} of {} cores busy)", current_, next, others,
               static_cast<int>(online));
      current_ = next;
      omp_set_num_threads(current_);
    }
  }
  last_ = now;
  return current_;
}

}  // namespace lat
