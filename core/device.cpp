#include "core/device.h"

#include "core/dtype.h"
#include "core/error.h"

#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#endif

namespace lat {

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string index = text.substr(5);
    if (!index.empty() && index.find_first_not_of("0123456789") == std::string::npos)
      return Device::cuda(std::stoi(index));
  }
  LAT_THROW("unknown device '", text, "' (expected cpu, cuda or cuda:N)");
}

bool cuda_available() {
#ifdef LAT_HAVE_CUDA
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

DType parse_dtype(const std::string& text) {
  for (DType t : {DType::F32, DType::F64, DType::BF16, DType::I32})
    if (text == dtype_name(t)) return t;
  LAT_THROW("unknown dtype '", text, "' (expected f32, f64, bf16 or i32)");
}

}  // namespace lat
