// Allocator interface. The CPU allocator is built in; the CUDA backend registers a stream-ordered caching
// allocator for Device::Kind::CUDA at start-up (core/cuda_runtime.cpp), so core/ has no hard CUDA dependency
// in its interface.
#pragma once

#include <cstddef>

#include "core/device.h"

namespace lat {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) = 0;
  // Bytes currently handed out and the high-water mark since the last reset.
  virtual size_t bytes_in_use() const = 0;
  virtual size_t peak_bytes() const = 0;
  virtual void reset_peak() = 0;
};

// The allocator for a device kind. Throws lat::Error if none is registered (e.g. CUDA in a CPU-only build).
Allocator& allocator_for(Device device);
void register_allocator(Device::Kind kind, Allocator* allocator);

}  // namespace lat
