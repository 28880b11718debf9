// tools/check-layers.sh: the tree follows the include layering of docs/conventions.md, and the script does catch
// an include that points up a layer or a CUDA source that includes a header nvcc must not see.
#include <doctest/doctest.h>

#include <string>

#include "support/shell.h"
#include "support/temp_dir.h"

using lat::testing::run_shell;
using lat::testing::TempDir;

namespace {

std::string script() { return std::string(LAT_SOURCE_DIR) + "/tools/check-layers.sh"; }

}  // namespace

TEST_CASE("layers: the tree's includes follow the layering") {
  const auto r = run_shell(script());
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
}

TEST_CASE("layers: an include that points up a layer, or a CUDA source including fmt, is named and fails") {
  TempDir dir("check_layers");
  dir.write("core/tensor.h", "#pragma once\n");
  dir.write("kernels/norm.cpp", "#include \"kernels/norm.h\"\n#include \"core/tensor.h\"\n");
  const std::string clean = script() + " " + dir.path();
  CHECK(run_shell(clean).exit_code == 0);

  dir.write("kernels/bad.cpp", "#include \"core/tensor.h\"\n\n#include \"autograd/variable.h\"\n");
  auto r = run_shell(clean);
  CAPTURE(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("kernels/bad.cpp:3: kernels may not include autograd/variable.h") != std::string::npos);

  dir.write("data/loader.cpp", "#include \"trainers/recipe.h\"\n");
  dir.write("kernels/cuda/x.cu", "#include \"core/log.h\"\n#include \"kernels/cuda/common.cuh\"\n");
  r = run_shell(clean);
  CAPTURE(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("data/loader.cpp:1: data may not include trainers/recipe.h") != std::string::npos);
  CHECK(r.output.find("kernels/cuda/x.cu:1: CUDA source may include only CUDA-clean lat headers, not core/log.h") !=
        std::string::npos);
  CHECK(r.output.find("common.cuh") == std::string::npos);
  CHECK(r.output.find("3 include(s) break the layering") != std::string::npos);
}
