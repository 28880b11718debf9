// Uploads host tensors (training batches) to a device without synchronising the host. A plain Tensor::to from
// pageable host memory must wait for the copy before returning; here each tensor is first copied into one of a
// ring of pinned buffers and sent with an asynchronous copy on the compute stream, so the host can prepare the
// next step while the device runs this one. A pinned buffer is rewritten only after its previous upload has
// completed (an event wait that, with the ring, has long been satisfied).
#pragma once

#include <memory>

#include "core/tensor.h"

namespace lat {

class HostUploader {
 public:
  HostUploader();
  ~HostUploader();
  HostUploader(const HostUploader&) = delete;
  HostUploader& operator=(const HostUploader&) = delete;

  // `host` (any layout, on the CPU) as a contiguous tensor on `device`; Tensor::to when device is the CPU or this
  // build has no CUDA.
  Tensor upload(const Tensor& host, Device device);

 private:
  struct Ring;
  std::unique_ptr<Ring> ring_;
};

}  // namespace lat
