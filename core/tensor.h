// Tensor: a typed, strided view of shared storage on one device. Contiguous by default; reshape (view),
// slice and transpose are cheap views, and contiguous() copies only when the layout requires it.
// CUDA-clean: .cu files may include it (they use data<T>() pointers; all logic lives in tensor.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace lat {

class Allocator;

// A block of device or host memory, freed through its allocator when the last tensor viewing it goes away.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype, Device device = Device::cpu());
  // Host data copied into a new tensor of the given shape (numel must match), then moved to `device`.
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
  template <class T>
  static Tensor scalar(T value, Device device = Device::cpu()) {
    return from_vector<T>({value}, Shape{}, device);
  }
  static Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int ndim() const { return shape_.ndim(); }
  int64_t size(int d) const { return shape_.dim(d); }
  int64_t numel() const { return shape_.numel(); }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Pointer to the first element of this view. Throws if T does not match dtype().
  template <class T>
  T* data() const {
    check_dtype(dtype_of<T>);
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // Views (share storage).
  Tensor view(const Shape& shape) const;  // requires contiguous; one dim may be -1 via reshape()
  Tensor reshape(const std::vector<int64_t>& shape) const;  // view, copying first if not contiguous
  Tensor slice(int dim, int64_t start, int64_t end) const;
  Tensor select(int dim, int64_t index) const;  // removes dim
  Tensor transpose(int d0, int d1) const;
  Tensor unsqueeze(int dim) const;

  // Copies.
  Tensor contiguous() const;  // self if already contiguous
  Tensor clone() const;
  Tensor to(Device device) const;  // self if already there
  Tensor to(DType dtype) const;    // self if already that type
  void copy_(const Tensor& src);   // same shape; any dtypes, devices and strides
  void fill_(double value);
  void zero_() { fill_(0.0); }

  // Host-side reads (copy to CPU as needed).
  template <class T>
  std::vector<T> to_vector() const;
  double item() const;  // one-element tensor as double

  std::string str() const;  // "f32[2, 3] cpu"

 private:
  void check_dtype(DType expected) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::F32;
  Device device_;
};

// Throws lat::Error "<op>: <what> has shape X, expected Y" unless a's shape equals `expected`.
void check_shape(const char* op, const char* what, const Tensor& t, const Shape& expected);
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);

}  // namespace lat
