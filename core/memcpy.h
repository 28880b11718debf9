// Raw byte copies between host and devices. Host-destination copies complete before returning;
// device-destination copies are ordered on lat's CUDA stream. CUDA-clean.
#pragma once

#include <cstddef>

#include "core/device.h"

namespace lat {

void memcpy_between(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void memset_zero(void* dst, Device device, size_t bytes);

}  // namespace lat
