#include "core/cuda_context.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <utility>

#include "core/allocator.h"

namespace lat::cuda {
namespace {

// Stream-ordered allocation from CUDA's default memory pool. The release threshold is raised to "never" so
// freed blocks stay cached in the pool and re-allocation in a steady-state training step costs no driver
// calls (measured in docs/perf when it matters; this is CUDA's own well-kept caching allocator).
class PoolAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    void* p = nullptr;
    if (bytes == 0) bytes = 1;
    cudaError_t status = cudaMallocAsync(&p, bytes, stream());
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      LAT_THROW("out of GPU memory allocating ", bytes, " bytes (", cudaGetErrorString(status), "); in use: ",
                in_use_.load(), " bytes");
    }
    size_t now = in_use_.fetch_add(bytes) + bytes;
    size_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    return p;
  }
  void deallocate(void* ptr, size_t bytes) override {
    if (bytes == 0) bytes = 1;
    cudaFreeAsync(ptr, stream());
    in_use_.fetch_sub(bytes);
  }
  size_t bytes_in_use() const override { return in_use_.load(); }
  size_t peak_bytes() const override { return peak_.load(); }
  void reset_peak() override { peak_.store(in_use_.load()); }

 private:
  std::atomic<size_t> in_use_{0}, peak_{0};
};

cudaStream_t g_stream = nullptr;
bool g_initialised = false;

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

size_t total_memory(int device_index) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device_index) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return prop.totalGlobalMem;
}

void init(int device_index) {
  if (g_initialised) return;
  int n = device_count();
  LAT_CHECK(n > 0, "no CUDA device is visible");
  LAT_CHECK(device_index >= 0 && device_index < n, "CUDA device ", device_index, " requested but only ", n,
            " visible");
  LAT_CUDA_CHECK(cudaSetDevice(device_index));
  LAT_CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  cudaMemPool_t pool;
  LAT_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device_index));
  uint64_t threshold = UINT64_MAX;
  LAT_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  static PoolAllocator allocator;
  register_allocator(Device::Kind::CUDA, &allocator);
  g_initialised = true;
}

cudaStream_t stream() {
  if (!g_initialised) init(0);
  return g_stream;
}

void synchronize() { LAT_CUDA_CHECK(cudaStreamSynchronize(stream())); }

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  LAT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream()));
  // Host memory the caller may reuse or read right away: wait for the copy.
  if (dst_device.is_cpu() || src_device.is_cpu()) synchronize();
}

void zero_bytes(void* dst, size_t bytes) { LAT_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream())); }

PinnedBuffer::PinnedBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  cudaError_t status = cudaMallocHost(&data_, bytes);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    data_ = nullptr;
    LAT_THROW("cannot allocate ", bytes, " bytes of pinned host memory (", cudaGetErrorString(status), ")");
  }
}

PinnedBuffer::~PinnedBuffer() { release(); }

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : data_(other.data_), bytes_(other.bytes_), ready_(other.ready_) {
  other.data_ = nullptr;
  other.bytes_ = 0;
  other.ready_ = nullptr;
}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    release();
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    std::swap(ready_, other.ready_);
  }
  return *this;
}

void PinnedBuffer::release() {
  // Destructors must not throw: errors here (a dying context at exit) are ignored.
  if (ready_) {
    (void)cudaEventSynchronize(ready_);
    (void)cudaEventDestroy(ready_);
  }
  if (data_) (void)cudaFreeHost(data_);
  data_ = nullptr;
  ready_ = nullptr;
  bytes_ = 0;
}

void PinnedBuffer::upload(void* device_dst, size_t bytes) const {
  LAT_CHECK(bytes <= bytes_, "PinnedBuffer::upload: ", bytes, " bytes requested from a buffer of ", bytes_);
  if (bytes == 0) return;
  LAT_CUDA_CHECK(cudaMemcpyAsync(device_dst, data_, bytes, cudaMemcpyHostToDevice, stream()));
}

void PinnedBuffer::record_ready() {
  if (!ready_) LAT_CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  LAT_CUDA_CHECK(cudaEventRecord(ready_, stream()));
}

void PinnedBuffer::wait_ready() const {
  if (ready_) LAT_CUDA_CHECK(cudaEventSynchronize(ready_));
}

}  // namespace lat::cuda
