// Entry point of the two-GPU data-parallel suite: exits 77 (CTest's "skipped") unless at least two CUDA devices
// are visible, so a machine with fewer reports it as skipped rather than passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "core/cuda_context.h"
#include "core/device.h"

int main(int argc, char** argv) {
  if (!lat::cuda_available() || lat::cuda::device_count() < 2) {
    std::puts("fewer than two CUDA devices visible: two-GPU tests skipped");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
