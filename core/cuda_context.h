// The CUDA runtime as lat uses it: one stream per process for compute, a stream-ordered caching allocator
// (cudaMallocAsync on a pool with a raised release threshold), byte copies, and LAT_CUDA_CHECK.
// Compiled only when LAT_HAVE_CUDA; CUDA-clean (no fmt).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "core/device.h"
#include "core/dtype.h"
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
// Total memory of CUDA device `device_index` in bytes (cudaMemGetInfo), for the memory check before a run.
size_t total_memory(int device_index);

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void zero_bytes(void* dst, size_t bytes);

// --- Device-side copies, casts and fills (core/cuda_copy.cu); all ordered on stream(), none synchronises.

constexpr int kMaxCopyDims = 8;

// A strided view of device memory: element (i0, ..., i_{ndim-1}) lives at data + sum(i_d * strides[d]) elements.
struct StridedView {
  void* data = nullptr;
  DType dtype = DType::F32;
  int ndim = 0;
  int64_t shape[kMaxCopyDims] = {};
  int64_t strides[kMaxCopyDims] = {};
};

// dst[idx] = convert(src[idx]) for every index of their common shape (dst.shape is used; src must match).
// Conversions go through float (through double when either side is f64), rounding to nearest even into bf16,
// exactly like the host copy in core/tensor.cpp. Contiguous pairs take a vectorised path.
void copy_strided(const StridedView& dst, const StridedView& src);
// Contiguous cast of n elements: dst (dst_dtype) = src (src_dtype). Same rounding as copy_strided.
void cast(void* dst, DType dst_dtype, const void* src, DType src_dtype, int64_t n);
// dst[0..n) = value converted to dtype (contiguous).
void fill(void* dst, DType dtype, int64_t n, double value);

// Page-locked host memory (cudaMallocHost) for host<->device copies that overlap compute: copy a batch into
// it on the host, then cudaMemcpyAsync from it on stream(). Move-only; frees with cudaFreeHost.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  // Asynchronous copy of the first `bytes` of this buffer to device memory on stream(); the buffer must not
  // be rewritten until the stream has passed this point (see record_ready / wait_ready).
  void upload(void* device_dst, size_t bytes) const;
  // Records an event after the last upload; wait_ready() blocks the host until it completes.
  void record_ready();
  void wait_ready() const;

 private:
  void release();
  void* data_ = nullptr;
  size_t bytes_ = 0;
  cudaEvent_t ready_ = nullptr;
};

}  // namespace lat::cuda
