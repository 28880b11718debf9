// What the tests of the command-line tools share: the path of a built tool and a file's bytes (to check that a
// refused command left every file as it was).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace lat::testing {

#ifdef LAT_BINARY_DIR
// build/tools/<name> of this build (lat-train, lat-export, lat-generate, lat-bench, lat-study).
inline std::string tool(const std::string& name) { return std::string(LAT_BINARY_DIR) + "/tools/" + name; }
#endif

// The whole file as bytes ("" when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace lat::testing
