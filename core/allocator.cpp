#include "core/allocator.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "core/error.h"
#include "core/host.h"

#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#endif

namespace lat {
namespace {

// 64-byte aligned host memory, so vectorised loops and OpenBLAS see aligned rows.
class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    void* p = bytes <= SIZE_MAX - 64 ? std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64)
                                     : nullptr;
    if (!p)
      LAT_THROW("out of host memory allocating ", format_bytes(static_cast<double>(bytes)), " (", bytes,
                " bytes; this machine has ", format_bytes(host_memory_bytes()), ")");
    size_t now = in_use_.fetch_add(bytes) + bytes;
    size_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    return p;
  }
  void deallocate(void* ptr, size_t bytes) override {
    std::free(ptr);
    in_use_.fetch_sub(bytes);
  }
  size_t bytes_in_use() const override { return in_use_.load(); }
  size_t peak_bytes() const override { return peak_.load(); }
  void reset_peak() override { peak_.store(in_use_.load()); }

 private:
  std::atomic<size_t> in_use_{0}, peak_{0};
};

Allocator* g_cuda_allocator = nullptr;

}  // namespace

Allocator& allocator_for(Device device) {
  static CpuAllocator cpu;
  if (device.is_cpu()) return cpu;
#ifdef LAT_HAVE_CUDA
  if (g_cuda_allocator == nullptr) cuda::init(device.index);
#endif
  LAT_CHECK(g_cuda_allocator != nullptr, "device ", device.str(),
            " is not available: this build of lat has no CUDA backend or it was not initialised");
  return *g_cuda_allocator;
}

void register_allocator(Device::Kind kind, Allocator* allocator) {
  LAT_CHECK(kind == Device::Kind::CUDA, "only the CUDA allocator can be registered");
  g_cuda_allocator = allocator;
}

}  // namespace lat
