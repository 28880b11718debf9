// Runs a function in a forked child process, so that a crash inside a library we cannot make crash-proof
// (HDF5 parsing a hostile file) kills the child, not the tool. The child shares nothing back but its verdict.
#pragma once

#include <functional>
#include <string>

namespace lat {

// Runs `fn` in a child process and waits for it, at most `timeout_s` seconds. Returns normally when `fn`
// returned; throws lat::Error with the child's message when `fn` threw; throws lat::Error("<on_crash> (signal
// N)") when the child died (a crash, or killed for memory); kills the child and throws lat::Error(on_timeout)
// when it runs past the limit (a damaged file can send a parser into a loop). The child never returns into the
// caller's code: it leaves with _exit.
void run_isolated(const std::function<void()>& fn, const std::string& on_crash, const std::string& on_timeout,
                  double timeout_s);

}  // namespace lat
