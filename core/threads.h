// How lat's OpenMP threads wait and how many there are (docs/reliability.md, "A busy machine").
//
// libgomp's threads spin at every barrier for ~300,000 iterations before they sleep. On a machine whose cores
// are shared with other processes a spinning thread burns the time slice its partner needs, and training on 2
// cores with one busy neighbour fell from 9,400 to 3,200 tokens/s. libgomp reads OMP_WAIT_POLICY and
// GOMP_SPINCOUNT once, when it is loaded, before main: a process cannot change how its own threads wait.
// prefer_short_spinning() therefore re-executes the tool once with GOMP_SPINCOUNT set, unless the user
// set either variable (their choice wins).
#pragma once

#include <cstdint>

namespace lat {

// The spin count the tools run with when the user sets neither variable (docs/reliability.md measures it).
inline constexpr const char* kDefaultSpinCount = "10000";

// Call first thing in main(). Returns only if nothing needs changing or re-execution failed (then the tool
// runs with libgomp's defaults).
void prefer_short_spinning(char** argv);

// OpenMP threads for the CPU kernels: n > 0 sets n, 0 leaves the default (one per core, or OMP_NUM_THREADS).
void set_cpu_threads(int64_t n);
int cpu_threads();

}  // namespace lat
