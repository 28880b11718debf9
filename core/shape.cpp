#include "core/shape.h"

#include "core/error.h"

namespace lat {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) {
  LAT_CHECK(dims.size() <= static_cast<size_t>(kMaxDims), "a shape has at most ", kMaxDims, " dimensions, got ",
            dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    LAT_CHECK(dims[i] >= 0, "shape dimensions must be non-negative, got ", dims[i]);
    dims_[i] = dims[i];
  }
  ndim_ = static_cast<int>(dims.size());
}

int64_t Shape::dim(int d) const {
  int i = d < 0 ? d + ndim_ : d;
  LAT_CHECK(i >= 0 && i < ndim_, "dimension ", d, " is out of range for shape ", str());
  return dims_[static_cast<size_t>(i)];
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[static_cast<size_t>(i)];
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < ndim_; ++i) s += (i ? ", " : "") + std::to_string(dims_[static_cast<size_t>(i)]);
  return s + "]";
}

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (dims_[static_cast<size_t>(i)] != o.dims_[static_cast<size_t>(i)]) return false;
  return true;
}

Shape Shape::contiguous_strides() const {
  Shape s = *this;
  int64_t stride = 1;
  for (int i = ndim_ - 1; i >= 0; --i) {
    s.dims_[static_cast<size_t>(i)] = stride;
    stride *= dims_[static_cast<size_t>(i)];
  }
  return s;
}

}  // namespace lat
