// The CUDA runtime as lat uses it: one stream per process for compute, a stream-ordered caching allocator
// (cudaMallocAsync on a pool with a raised release threshold), byte copies, and LAT_CUDA_CHECK.
// Compiled only when LAT_HAVE_CUDA; CUDA-clean (no fmt).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "core/device.h"
#include "core/error.h"

#define LAT_CUDA_CHECK(expr)                                                                        \
  do {                                                                                             \
    cudaError_t lat_cuda_status_ = (expr);                                                        \
    if (lat_cuda_status_ != cudaSuccess)                                                          \
      ::lat::detail::throw_check_failure(__FILE__, __LINE__, #expr,                                \
                                         ::lat::detail::concat("CUDA error: ", cudaGetErrorString(lat_cuda_status_), \
                                                               " in ", #expr));                    \
  } while (0)

// After a kernel launch: reports launch-configuration errors at the launch site.
#define LAT_CUDA_CHECK_LAUNCH() LAT_CUDA_CHECK(cudaGetLastError())

namespace lat::cuda {

// Selects the device and registers the CUDA allocator; idempotent. Throws if no device is visible.
void init(int device_index = 0);
cudaStream_t stream();
void synchronize();
int device_count();

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void zero_bytes(void* dst, size_t bytes);

}  // namespace lat::cuda
