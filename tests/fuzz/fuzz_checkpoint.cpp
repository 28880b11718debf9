// libFuzzer harness: the checkpoint reader (trainers::read_checkpoint, the public read function) on arbitrary
// bytes written to a file. A file that is not a checkpoint must be refused with a lat::Error.
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "core/error.h"
#include "trainers/checkpoint.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/lat_fuzz_checkpoint_" + std::to_string(::getpid()) + ".h5";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    (void)lat::read_checkpoint(path);
  } catch (const lat::Error&) {
  }
  return 0;
}
