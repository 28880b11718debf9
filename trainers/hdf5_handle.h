// HDF5 plumbing shared by the checkpoint reader and writer (internal to trainers/checkpoint_*.cpp): an owning
// handle, and the file context whose failures become one-line lat::Errors naming the file and HDF5's
// innermost message. HDF5's own error printing is switched off.
#pragma once

#include <hdf5.h>

#include <mutex>
#include <string>

#include "core/error.h"

namespace lat::hdf5 {

inline void quiet() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// The innermost message of HDF5's error stack (the most specific one: "file signature not found",
// "truncated file: eof = ..."), then the stack is cleared.
inline std::string detail() {
  std::string text;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        if (e->desc && *e->desc) *static_cast<std::string*>(out) = e->desc;
        return 0;
      },
      &text);
  H5Eclear2(H5E_DEFAULT);
  return text;
}

// Owns one HDF5 identifier.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    reset();
    id_ = o.id_, close_ = o.close_, o.id_ = -1;
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  // Closes now and reports failure (for the file, whose close flushes).
  herr_t close() {
    herr_t status = id_ >= 0 ? close_(id_) : 0;
    id_ = -1;
    return status;
  }

 private:
  void reset() {
    if (id_ >= 0) close_(id_);
    id_ = -1;
  }
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// The file being read or written, for messages: "checkpoint '<path>': <what> (HDF5: <detail>)".
struct Context {
  std::string path;
  [[noreturn]] void fail(const std::string& what) const {
    std::string d = detail();
    if (d.empty()) LAT_THROW("checkpoint '", path, "': ", what);
    LAT_THROW("checkpoint '", path, "': ", what, " (HDF5: ", d, ")");
  }
  Handle check(hid_t id, herr_t (*close)(hid_t), const std::string& what) const {
    if (id < 0) fail(what);
    return Handle(id, close);
  }
  void check(herr_t status, const std::string& what) const {
    if (status < 0) fail(what);
  }
};

// File access: strong close (closing the file closes everything in it) and, where HDF5 supports it, no file
// locking (files are written under a temporary name and renamed; locks fail on some network file systems).
inline Handle file_access_list(const Context& ctx) {
  Handle fapl = ctx.check(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot create a property list");
  ctx.check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), "cannot set the close degree");
#if H5_VERSION_GE(1, 10, 7)
  ctx.check(H5Pset_file_locking(fapl.get(), false, true), "cannot configure file locking");
#endif
  return fapl;
}

}  // namespace lat::hdf5
