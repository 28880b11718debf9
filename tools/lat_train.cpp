// lat-train: train a model from a TOML recipe. The training loop lives in trainers/; this file is the CLI.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"lat-train: train a linear-attention language model from a TOML recipe"};
  app.set_version_flag("--version", std::string("lat ") + LAT_VERSION);
  std::string recipe;
  app.add_option("recipe", recipe, "recipe file (TOML)")->required();
  CLI11_PARSE(app, argc, argv);
  std::fprintf(stderr, "lat-train: training is not implemented yet (recipe %s)\n", recipe.c_str());
  return 1;
}
