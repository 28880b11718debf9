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

}  // namespace lat
