// lat-bench's subcommand registry. Each benchmark lives in its own file tools/bench/<name>.cpp (globbed into
// the lat-bench executable by tools/CMakeLists.txt) and registers itself with one static object:
//
//   static lat::bench::Subcommand gemm_cpu("gemm-cpu", "GFLOP/s of the CPU GEMMs", [](CLI::App& sub) {
//     auto size = std::make_shared<int64_t>(512);
//     sub.add_option("--size", *size, "matrix size N (N×N×N)");
//     sub.callback([size] { run(*size); });
//   });
//
// The setup function adds options and sets the callback; lat_bench.cpp creates one CLI11 subcommand per
// entry. Callbacks report failures by throwing (lat::Error or std::exception); main prints them and exits
// with 1.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace lat::bench {

struct SubcommandEntry {
  std::string name, description;
  std::function<void(CLI::App&)> setup;
};

// Every registered subcommand, in registration order (static-initialisation order across files is
// unspecified; lat_bench.cpp sorts by name for a stable --help).
std::vector<SubcommandEntry>& registry();

struct Subcommand {
  Subcommand(std::string name, std::string description, std::function<void(CLI::App&)> setup) {
    registry().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

}  // namespace lat::bench
