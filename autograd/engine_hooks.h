// A hook the backward engine (engine.cpp) calls between nodes: for work that must be advanced now and then
// while backward runs on this thread, such as a non-blocking all-reduce that MPI moves only inside MPI calls
// (trainers/gradient_reducer.cpp). Per thread; cheap when unset. The hook must not run backward itself.
#pragma once

#include <functional>

namespace lat::autograd {

// Replaces this thread's hook (an empty function removes it); returns the previous one.
std::function<void()> set_backward_progress_hook(std::function<void()> hook);

}  // namespace lat::autograd
