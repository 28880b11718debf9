// Shared by the CUDA benchmarks: the H200 ceilings every floor is computed from (../shared/GPU.md) and the
// CUDA-event timer (median of `repeat` runs after 3 warm-ups on lat's stream). CUDA builds only.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "core/cuda_context.h"

namespace lat::bench {

constexpr double kBandwidth = 4.3e12;  // bytes/s, device-to-device copy (read + write), measured on this H200
constexpr double kBf16Rate = 790e12;   // flop/s, dense bf16 GEMM, measured on this H200

// Median milliseconds of `repeat` timed calls of fn after 3 untimed warm-up calls.
inline double median_cuda_ms(const std::function<void()>& fn, int repeat) {
  cudaStream_t s = cuda::stream();
  for (int i = 0; i < 3; ++i) fn();
  LAT_CUDA_CHECK(cudaStreamSynchronize(s));
  std::vector<cudaEvent_t> ev(2 * static_cast<size_t>(repeat));
  for (auto& e : ev) LAT_CUDA_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < repeat; ++i) {
    LAT_CUDA_CHECK(cudaEventRecord(ev[2 * i], s));
    fn();
    LAT_CUDA_CHECK(cudaEventRecord(ev[2 * i + 1], s));
  }
  LAT_CUDA_CHECK(cudaStreamSynchronize(s));
  LAT_CUDA_CHECK(cudaGetLastError());
  std::vector<float> ms(static_cast<size_t>(repeat));
  for (int i = 0; i < repeat; ++i) LAT_CUDA_CHECK(cudaEventElapsedTime(&ms[i], ev[2 * i], ev[2 * i + 1]));
  for (auto& e : ev) LAT_CUDA_CHECK(cudaEventDestroy(e));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace lat::bench
