#include "core/threads.h"

#include <omp.h>
#include <unistd.h>

#include <cstdlib>

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

}  // namespace lat
