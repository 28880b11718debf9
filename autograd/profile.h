// Op-level profiling of the tape, for finding where a training step's time goes (LAT_PROFILE_OPS=1).
// When enabled, every mark synchronises the device and charges the wall time since the previous mark to the
// named op: forward ops are marked by record() (so an op's forward kernels, launched before it records, are
// charged to it), backward ops around their closure in the engine. The table (total ms, calls, share) goes
// to stderr at process exit. Synchronising after every op removes launch/compute overlap, so absolute times
// are an upper bound; the shares are what to read.
#pragma once

#include <string_view>

namespace lat::autograd::profile {

bool enabled();
// Charges the time since the previous mark (or restart) to "<phase> <name>".
void mark(const char* phase, std::string_view name);  // free when profiling is off
// Starts the clock without charging anything (after untracked work such as the optimizer or data loading).
void restart();
// Forgets what was charged so far (e.g. warm-up steps, whose first launches load kernels and plan GEMMs).
void reset();

}  // namespace lat::autograd::profile
