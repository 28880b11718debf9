// libFuzzer harness: lat-generate's argument path (tools/lat_generate.cpp, built without its main). The input
// is the argument list, NUL-separated. Run from a folder holding a small checkpoint c.h5 (tools/fuzz.sh
// trains one), so that valid argument lists reach generation; the tool must return 0, 1 or 2 and never crash.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

int generate_main(int argc, char** argv);

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("HDF5_USE_FILE_LOCKING", "FALSE",
         1);  // (tools/fuzz.sh passes -close_fd_mask=3: the tool's output is muted)
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args{"lat-generate"};
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty() && args.size() < 16) {
    const size_t next = rest.find('\0');
    args.emplace_back(rest.substr(0, next));
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
  }
  for (const std::string& a : args)  // device files never end (/dev/zero) or wait for input (/dev/stdin)
    if (a.find("/dev/") != std::string::npos || a.find("/proc/") != std::string::npos) return -1;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = generate_main(static_cast<int>(args.size()), argv.data());
  if (rc != 0 && rc != 1 && rc != 2) std::abort();
  return 0;
}
