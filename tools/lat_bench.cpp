// lat-bench: micro-benchmarks of lat's kernels and training loop. Each subcommand lives in
// tools/bench/<name>.cpp and registers itself (tools/bench/registry.h); this file only builds the CLI.
//   lat-bench gemm-cpu --size 512 --size 2048
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>

#include "bench/registry.h"
#include "tools/cli.h"
#include "core/threads.h"

namespace lat::bench {
std::vector<SubcommandEntry>& registry() {
  static std::vector<SubcommandEntry> entries;
  return entries;
}
}  // namespace lat::bench

int main(int argc, char** argv) {
  lat::prefer_passive_waiting(argv);  // before anything else: it may re-execute the tool (core/threads.h)
  CLI::App app{"lat-bench: benchmarks of lat's kernels"};
  app.set_version_flag("--version", std::string("lat ") + LAT_VERSION);
  auto entries = lat::bench::registry();
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& entry : entries) entry.setup(*app.add_subcommand(entry.name, entry.description));
  app.require_subcommand(1);
  try {
    if (const int rc = lat::tools::parse_command_line(app, argc, argv, "lat-bench"); rc >= 0) return rc;
  } catch (const std::exception& e) {  // from a subcommand's run
    std::fprintf(stderr, "lat-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
