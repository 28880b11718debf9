#include "core/memcpy.h"

#include <cstring>

#include "core/error.h"

#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#endif

namespace lat {

void memcpy_between(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef LAT_HAVE_CUDA
  cuda::copy_bytes(dst, dst_device, src, src_device, bytes);
#else
  LAT_THROW("cannot copy between ", src_device.str(), " and ", dst_device.str(), ": this build has no CUDA");
#endif
}

void memset_zero(void* dst, Device device, size_t bytes) {
  if (bytes == 0) return;
  if (device.is_cpu()) {
    std::memset(dst, 0, bytes);
    return;
  }
#ifdef LAT_HAVE_CUDA
  cuda::zero_bytes(dst, bytes);
#else
  LAT_THROW("cannot clear memory on ", device.str(), ": this build has no CUDA");
#endif
}

}  // namespace lat
