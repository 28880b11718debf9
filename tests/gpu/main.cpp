// Entry point of the gpu-labelled suite: exits 77 (CTest's "skipped") when no CUDA device is visible, so a
// CPU-only machine reports these tests as skipped rather than passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "core/device.h"

int main(int argc, char** argv) {
  if (!lat::cuda_available()) {
    std::puts("no CUDA device visible: gpu tests skipped");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
