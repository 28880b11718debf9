#include "core/tensor.h"

#include <cstring>

#include "core/allocator.h"
#include "core/error.h"
#include "core/memcpy.h"

#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#endif

namespace lat {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device), allocator_(&allocator_for(device)) {
  data_ = allocator_->allocate(bytes);
}

Storage::~Storage() { allocator_->deallocate(data_, bytes_); }

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  // The size in bytes, checked first (strides and numel() are products too): a product of user-chosen sizes
  // that wraps around would allocate a few bytes and be written far beyond them.
  size_t bytes = dtype_size(dtype);
  for (int i = 0; i < shape.ndim(); ++i)
    if (__builtin_mul_overflow(bytes, static_cast<size_t>(shape.dim(i)), &bytes) || bytes > (size_t{1} << 62))
      LAT_THROW("cannot allocate a tensor of shape ", shape.str(), ": its size in bytes exceeds 2^62");
  Tensor t;
  t.shape_ = shape;
  t.strides_ = shape.contiguous_strides();
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(bytes, device);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  memset_zero(t.raw_data(), device, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  LAT_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "from_vector: ", values.size(),
            " values do not fill shape ", shape.str());
  Tensor t = empty(shape, dtype_of<T>, device);
  memcpy_between(t.raw_data(), device, values.data(), Device::cpu(), values.size() * sizeof(T));
  return t;
}

void* Tensor::raw_data() const {
  LAT_CHECK(defined(), "use of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

void Tensor::check_dtype(DType expected) const {
  LAT_CHECK(dtype_ == expected, "tensor ", str(), " accessed as ", dtype_name(expected));
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + shape_.str() + " " + device_.str();
}

Tensor Tensor::view(const Shape& shape) const {
  LAT_CHECK(is_contiguous(), "view: tensor ", str(), " is not contiguous; call contiguous() first");
  LAT_CHECK(shape.numel() == numel(), "view: cannot view ", str(), " as ", shape.str());
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = shape.contiguous_strides();
  return t;
}

Tensor Tensor::reshape(const std::vector<int64_t>& dims) const {
  std::vector<int64_t> d = dims;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == -1) {
      LAT_CHECK(infer < 0, "reshape: only one dimension may be -1");
      infer = static_cast<int>(i);
    } else {
      known *= d[i];
    }
  }
  if (infer >= 0) {
    LAT_CHECK(known > 0 && numel() % known == 0, "reshape: cannot reshape ", str(), " with a -1 dimension");
    d[static_cast<size_t>(infer)] = numel() / known;
  }
  return contiguous().view(Shape(d));
}

Tensor Tensor::slice(int dim, int64_t start, int64_t end) const {
  int d = dim < 0 ? dim + ndim() : dim;
  LAT_CHECK(d >= 0 && d < ndim(), "slice: dimension ", dim, " out of range for ", str());
  LAT_CHECK(0 <= start && start <= end && end <= shape_[d], "slice: range [", start, ", ", end,
            ") out of bounds for dimension ", d, " of ", str());
  Tensor t = *this;
  t.offset_ += start * strides_[d];
  t.shape_[d] = end - start;
  return t;
}

Tensor Tensor::select(int dim, int64_t index) const {
  int d = dim < 0 ? dim + ndim() : dim;
  Tensor s = slice(d, index, index + 1);
  std::vector<int64_t> dims, strides;
  for (int i = 0; i < ndim(); ++i) {
    if (i == d) continue;
    dims.push_back(s.shape_[i]);
    strides.push_back(s.strides_[i]);
  }
  s.shape_ = Shape(dims);
  s.strides_ = Shape(strides);
  return s;
}

Tensor Tensor::transpose(int d0, int d1) const {
  int a = d0 < 0 ? d0 + ndim() : d0, b = d1 < 0 ? d1 + ndim() : d1;
  LAT_CHECK(a >= 0 && a < ndim() && b >= 0 && b < ndim(), "transpose: dimensions ", d0, ", ", d1,
            " out of range for ", str());
  Tensor t = *this;
  std::swap(t.shape_[a], t.shape_[b]);
  std::swap(t.strides_[a], t.strides_[b]);
  return t;
}

Tensor Tensor::unsqueeze(int dim) const {
  int d = dim < 0 ? dim + ndim() + 1 : dim;
  LAT_CHECK(d >= 0 && d <= ndim() && ndim() < kMaxDims, "unsqueeze: dimension ", dim, " invalid for ", str());
  std::vector<int64_t> dims = shape_.vec(), strides = strides_.vec();
  dims.insert(dims.begin() + d, 1);
  strides.insert(strides.begin() + d, d < ndim() ? strides_[d] * shape_[d] : 1);
  Tensor t = *this;
  t.shape_ = Shape(dims);
  t.strides_ = Shape(strides);
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device_);
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor t = empty(shape_, dtype_, device);
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t = empty(shape_, dtype, device_);
  t.copy_(*this);
  return t;
}

namespace {

double load_as_double(const void* p, DType t) {
  switch (t) {
    case DType::F32: return *static_cast<const float*>(p);
    case DType::F64: return *static_cast<const double*>(p);
    case DType::BF16: return static_cast<float>(*static_cast<const bfloat16*>(p));
    case DType::I32: return *static_cast<const int32_t*>(p);
  }
  return 0;
}

void store_from_double(void* p, DType t, double v) {
  switch (t) {
    case DType::F32: *static_cast<float*>(p) = static_cast<float>(v); break;
    case DType::F64: *static_cast<double*>(p) = v; break;
    case DType::BF16: *static_cast<bfloat16*>(p) = bfloat16(static_cast<float>(v)); break;
    case DType::I32: *static_cast<int32_t*>(p) = static_cast<int32_t>(v); break;
  }
}

// Same-dtype strided host copy: walks every index but the last, copying the innermost dimension as one
// memcpy when both sides are unit-stride there (the common case: a transposed head split), else element by
// element as raw bytes.
void host_strided_copy_same_dtype(const Tensor& dst, const Tensor& src) {
  const int nd = dst.ndim();
  const size_t es = dtype_size(dst.dtype());
  char* dp = static_cast<char*>(dst.raw_data());
  const char* sp = static_cast<const char*>(src.raw_data());
  const int64_t inner = nd > 0 ? dst.shape()[nd - 1] : 1;
  const int64_t ds_inner = nd > 0 ? dst.strides()[nd - 1] : 1, ss_inner = nd > 0 ? src.strides()[nd - 1] : 1;
  const int64_t rows = inner > 0 ? dst.numel() / inner : 0;
  const bool rows_contiguous = ds_inner == 1 && ss_inner == 1;
#pragma omp parallel for schedule(static) if (rows > 256)
  for (int64_t row = 0; row < rows; ++row) {
    int64_t rem = row, doff = 0, soff = 0;
    for (int d = nd - 2; d >= 0; --d) {
      const int64_t i = rem % dst.shape()[d];
      rem /= dst.shape()[d];
      doff += i * dst.strides()[d];
      soff += i * src.strides()[d];
    }
    char* drow = dp + doff * static_cast<int64_t>(es);
    const char* srow = sp + soff * static_cast<int64_t>(es);
    if (rows_contiguous) {
      std::memcpy(drow, srow, static_cast<size_t>(inner) * es);
    } else {
      for (int64_t j = 0; j < inner; ++j)
        std::memcpy(drow + j * ds_inner * static_cast<int64_t>(es), srow + j * ss_inner * static_cast<int64_t>(es), es);
    }
  }
}

// Element-wise host copy between two views of equal shape, converting dtypes (through double, exact for
// every pair of our types). Iterates the logical index in row-major order.
void host_strided_copy(const Tensor& dst, const Tensor& src) {
  const int nd = dst.ndim();
  const int64_t n = dst.numel();
  if (n == 0) return;
  const size_t ds = dtype_size(dst.dtype()), ss = dtype_size(src.dtype());
  char* dp = static_cast<char*>(dst.raw_data());
  const char* sp = static_cast<const char*>(src.raw_data());
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    std::memcpy(dp, sp, static_cast<size_t>(n) * ds);
    return;
  }
  if (dst.dtype() == src.dtype()) {
    host_strided_copy_same_dtype(dst, src);
    return;
  }
  int64_t idx[kMaxDims] = {0};
  for (int64_t i = 0; i < n; ++i) {
    int64_t doff = 0, soff = 0;
    for (int d = 0; d < nd; ++d) {
      doff += idx[d] * dst.strides()[d];
      soff += idx[d] * src.strides()[d];
    }
    store_from_double(dp + doff * static_cast<int64_t>(ds), dst.dtype(),
                      load_as_double(sp + soff * static_cast<int64_t>(ss), src.dtype()));
    for (int d = nd - 1; d >= 0; --d) {
      if (++idx[d] < dst.shape()[d]) break;
      idx[d] = 0;
    }
  }
}

#ifdef LAT_HAVE_CUDA
cuda::StridedView cuda_view(const Tensor& t) {
  cuda::StridedView v;
  v.data = t.raw_data();
  v.dtype = t.dtype();
  v.ndim = t.ndim();
  for (int d = 0; d < t.ndim(); ++d) {
    v.shape[d] = t.shape()[d];
    v.strides[d] = t.strides()[d];
  }
  return v;
}
#else
// A host tensor viewing a full host copy of t's storage, with t's strides and offset.
Tensor host_mirror(const Tensor& t) {
  if (t.device().is_cpu()) return t;
  auto& storage = t.storage();
  Tensor host = Tensor::empty(Shape{static_cast<int64_t>(storage->bytes() / dtype_size(t.dtype()))}, t.dtype());
  memcpy_between(host.raw_data(), Device::cpu(), storage->data(), t.device(), storage->bytes());
  return host;
}
#endif

}  // namespace

void Tensor::copy_(const Tensor& src) {
  LAT_CHECK(defined() && src.defined(), "copy_: undefined tensor");
  LAT_CHECK(shape_ == src.shape_, "copy_: destination ", str(), " and source ", src.str(), " differ in shape");
  if (numel() == 0) return;
  const bool plain = dtype_ == src.dtype_ && is_contiguous() && src.is_contiguous();
  if (plain) {
    memcpy_between(raw_data(), device_, src.raw_data(), src.device_, nbytes());
    return;
  }
  if (device_.is_cpu() && src.device_.is_cpu()) {
    host_strided_copy(*this, src);
    return;
  }
#ifdef LAT_HAVE_CUDA
  // Device copies convert and re-stride on the GPU (core/cuda_copy.cu); a host side is first made contiguous
  // in its own dtype so the transfer is one plain memcpy.
  if (device_.is_cuda() && src.device_.is_cuda()) {
    LAT_CHECK(device_ == src.device_, "copy_: copies between CUDA devices ", src.str(), " and ", str(),
              " are not supported");
    cuda::copy_strided(cuda_view(*this), cuda_view(src));
    return;
  }
  if (device_.is_cuda()) {  // host -> device
    Tensor staged = Tensor::empty(shape_, src.dtype_, device_);
    staged.copy_(src.contiguous());
    copy_(staged);
    return;
  }
  {  // device -> host
    Tensor staged = Tensor::empty(shape_, dtype_, src.device_);
    staged.copy_(src);
    if (is_contiguous()) {
      memcpy_between(raw_data(), device_, staged.raw_data(), staged.device_, nbytes());
    } else {
      host_strided_copy(*this, staged.to(Device::cpu()));
    }
    return;
  }
#else
  // Mixed layouts or dtypes on a device: stage through the host. Correct but slow; the CUDA backend keeps
  // its hot paths contiguous and casts with kernels.
  Tensor src_host = src;
  if (src.device_.is_cuda()) {
    Tensor mirror = host_mirror(src);
    src_host = src;
    src_host.storage_ = mirror.storage_;
    src_host.device_ = Device::cpu();
  }
  Tensor dst_host = device_.is_cpu() ? *this : Tensor::empty(shape_, dtype_);
  host_strided_copy(dst_host, src_host);
  if (!device_.is_cpu()) {
    LAT_CHECK(is_contiguous(), "copy_: a non-contiguous CUDA destination ", str(), " is not supported");
    memcpy_between(raw_data(), device_, dst_host.raw_data(), Device::cpu(), nbytes());
  }
#endif
}

void Tensor::fill_(double value) {
  if (numel() == 0) return;
  if (device_.is_cpu()) {
    Tensor one = Tensor::empty(Shape{}, DType::F64);
    *one.data<double>() = value;
    Tensor src = one;
    src.shape_ = shape_;
    src.strides_ = Shape(std::vector<int64_t>(static_cast<size_t>(ndim()), 0));
    host_strided_copy(*this, src);
    return;
  }
#ifdef LAT_HAVE_CUDA
  if (is_contiguous()) {
    cuda::fill(raw_data(), dtype_, numel(), value);
    return;
  }
  Tensor dense = Tensor::empty(shape_, dtype_, device_);
  cuda::fill(dense.raw_data(), dtype_, numel(), value);
  copy_(dense);
#else
  Tensor host = Tensor::full(shape_, value, dtype_);
  copy_(host);
#endif
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = to(Device::cpu()).to(dtype_of<T>).contiguous();
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}

double Tensor::item() const {
  LAT_CHECK(numel() == 1, "item: tensor ", str(), " does not have exactly one element");
  return to(Device::cpu()).to(DType::F64).contiguous().data<double>()[0];
}

#define LAT_INSTANTIATE(T)                                                                         \
  template Tensor Tensor::from_vector<T>(const std::vector<T>&, const Shape&, Device);           \
  template std::vector<T> Tensor::to_vector<T>() const;
LAT_INSTANTIATE(float)
LAT_INSTANTIATE(double)
LAT_INSTANTIATE(int32_t)
LAT_INSTANTIATE(bfloat16)
#undef LAT_INSTANTIATE

void check_shape(const char* op, const char* what, const Tensor& t, const Shape& expected) {
  if (t.shape() != expected)
    LAT_THROW(op, ": ", what, " has shape ", t.shape().str(), ", expected ", expected.str());
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) LAT_THROW(op, ": shapes ", a.shape().str(), " and ", b.shape().str(), " differ");
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  if (a.device() != b.device())
    LAT_THROW(op, ": tensors on different devices (", a.device().str(), " and ", b.device().str(), ")");
}

}  // namespace lat
