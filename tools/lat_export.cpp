// lat-export: write an analysis copy of a checkpoint (fp32 weights under the module tree, shapes and config
// as attributes, the metrics table; no optimizer or training state). docs/checkpoints.md shows how to read
// it with h5py.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "tools/cli.h"
#include "trainers/checkpoint.h"

int main(int argc, char** argv) {
  CLI::App app{"lat-export: write an analysis HDF5 file (weights, config, metrics; no optimizer state) from a checkpoint"};
  app.set_version_flag("--version", std::string("lat ") + LAT_VERSION);
  std::string checkpoint, out;
  app.add_option("checkpoint", checkpoint, "checkpoint file (step_*.h5)")->required();
  app.add_option("out", out, "analysis file to write")->required();
  if (const int rc = lat::tools::parse_command_line(app, argc, argv, "lat-export"); rc >= 0) return rc;
  try {
    lat::export_analysis(lat::read_checkpoint(checkpoint), out);
    std::printf("wrote %s\n", out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lat-export: %s\n", e.what());
    return 1;
  }
}
