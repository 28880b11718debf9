// How lat's OpenMP threads wait and how many there are (docs/reliability.md, "A busy machine").
//
// libgomp's threads spin at every barrier (300,000 iterations) before they sleep. When other processes share
// the cores, a spinning thread burns the time slice its partner needs: on 2 cores with one busy neighbour the
// quickstart fell from 9,400 to 3,200 tokens/s. Passive waiting (sleep at once) keeps most of the idle speed
// there and costs little when the machine is idle (docs/reliability.md measures both). libgomp reads
// OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when it is loaded, before main: a process cannot change how its
// own threads wait. prefer_passive_waiting() therefore re-executes the tool once with
// OMP_WAIT_POLICY=passive, unless the user set either variable (their choice wins).
#pragma once

#include <cstdint>

namespace lat {

// Call first thing in main(). Returns only when nothing needs changing or re-execution failed (the tool then
// runs with libgomp's defaults).
void prefer_passive_waiting(char** argv);

// OpenMP threads for the CPU kernels: n > 0 sets n, 0 leaves the default (OMP_NUM_THREADS, or one per core).
void set_cpu_threads(int64_t n);
int cpu_threads();

// A thread count that follows the machine's load (training.threads = 0 with OMP_NUM_THREADS unset). Even with
// passive waiting, two threads on two cores beside one busy process each get about 2/3 of a core and every
// barrier waits for the slower one; one thread on the free core runs faster (docs/reliability.md). update()
// measures, over the wall time since the previous decision (at least `interval_s`), how many cores other
// processes kept busy: the machine's busy time (/proc/stat) minus this process's own CPU time (getrusage).
// It then gives the CPU kernels the cores left over, rounded, between 1 and `ceiling`. The CPU kernels give
// the same bits for any thread count (docs/conventions.md), so following the load changes speed only.
class LoadFollowingThreads {
 public:
  // ceiling: the most threads to use (the OpenMP default: one per core). Starts with that many.
  explicit LoadFollowingThreads(int ceiling, double interval_s = 1.0);
  ~LoadFollowingThreads();  // back to the ceiling
  LoadFollowingThreads(const LoadFollowingThreads&) = delete;
  LoadFollowingThreads& operator=(const LoadFollowingThreads&) = delete;
  // Re-decides when `interval_s` has passed since the last decision; returns the thread count in effect.
  // Where /proc/stat cannot be read, the count stays at the ceiling.
  int update();
  // The pure decision, for tests: cores others keep busy → threads.
  static int threads_for(double online_cores, double others_busy_cores, int ceiling);

 private:
  struct Sample {
    double wall_s = 0, machine_busy_s = 0, own_s = 0;
    bool valid = false;
  };
  static Sample sample();
  int ceiling_;
  double interval_s_;
  int current_;
  Sample last_;
};

}  // namespace lat
