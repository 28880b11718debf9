// Runs a command through the shell for tests of the command-line tools: exit status, wall time and the
// combined stdout + stderr.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace lat::testing {

struct ShellResult {
  int exit_code = -1;  // 128 + signal when killed
  double seconds = 0;
  std::string output;
};

inline ShellResult run_shell(const std::string& command) {
  ShellResult r;
  const auto start = std::chrono::steady_clock::now();
  std::FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace lat::testing
