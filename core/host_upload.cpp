#include "core/host_upload.h"

#include <cstring>
#include <vector>

#include "core/error.h"

#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#endif

namespace lat {

struct HostUploader::Ring {
#ifdef LAT_HAVE_CUDA
  static constexpr size_t kSlots = 4;  // a step uploads inputs and targets: two steps in flight
  std::vector<cuda::PinnedBuffer> slots = std::vector<cuda::PinnedBuffer>(kSlots);
  size_t next = 0;
#endif
};

HostUploader::HostUploader() : ring_(std::make_unique<Ring>()) {}
HostUploader::~HostUploader() = default;

Tensor HostUploader::upload(const Tensor& host, Device device) {
  LAT_CHECK(host.device().is_cpu(), "HostUploader::upload: the source must be on the CPU, got ", host.str());
#ifdef LAT_HAVE_CUDA
  if (device.is_cuda()) {
    const Tensor src = host.contiguous();
    Tensor out = Tensor::empty(src.shape(), src.dtype(), device);
    const size_t bytes = src.nbytes();
    cuda::PinnedBuffer& slot = ring_->slots[ring_->next];
    ring_->next = (ring_->next + 1) % Ring::kSlots;
    slot.wait_ready();  // its previous upload has left the buffer
    if (slot.bytes() < bytes) slot = cuda::PinnedBuffer(bytes);
    if (bytes > 0) std::memcpy(slot.data(), src.raw_data(), bytes);
    slot.upload(out.raw_data(), bytes);
    slot.record_ready();
    return out;
  }
#endif
  return host.to(device);
}

}  // namespace lat
