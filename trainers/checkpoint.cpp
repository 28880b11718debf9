// Checkpoint files through the HDF5 C API. HDF5's own error printing is switched off; every failure becomes
// a lat::Error "checkpoint '<path>': <what> (<innermost HDF5 message>)". Layout: checkpoint.h.
#include "trainers/checkpoint.h"

#include <fcntl.h>
#include <hdf5.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <regex>

#include "core/error.h"
#include "core/log.h"

namespace lat {
namespace {

namespace fs = std::filesystem;

constexpr const char* kVersionAttr = "lat_checkpoint_version";
constexpr const char* kExportVersionAttr = "lat_export_version";

void quiet_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// The innermost message of HDF5's error stack (the most specific one: "file signature not found",
// "truncated file: eof = ..."), then the stack is cleared.
std::string hdf5_detail() {
  std::string detail;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        if (e->desc && *e->desc) *static_cast<std::string*>(out) = e->desc;
        return 0;
      },
      &detail);
  H5Eclear2(H5E_DEFAULT);
  return detail;
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
  bool valid() const { return id_ >= 0; }
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

// The file being read or written, for messages.
struct Context {
  std::string path;
  [[noreturn]] void fail(const std::string& what) const {
    std::string detail = hdf5_detail();
    if (detail.empty()) LAT_THROW("checkpoint '", path, "': ", what);
    LAT_THROW("checkpoint '", path, "': ", what, " (HDF5: ", detail, ")");
  }
  Handle check(hid_t id, herr_t (*close)(hid_t), const std::string& what) const {
    if (id < 0) fail(what);
    return Handle(id, close);
  }
  void check(herr_t status, const std::string& what) const {
    if (status < 0) fail(what);
  }
};

// "layers.3.mlp.w_up" -> "layers/3/mlp/w_up"; refuses names that would not map back.
std::string tree_path(const Context& ctx, const std::string& name) {
  if (name.empty() || name.front() == '.' || name.back() == '.' || name.find("..") != std::string::npos ||
      name.find('/') != std::string::npos)
    LAT_THROW("checkpoint '", ctx.path, "': tensor name '", name,
              "' is not a dotted path (no empty parts, no '/')");
  std::string out = name;
  std::replace(out.begin(), out.end(), '.', '/');
  return out;
}

// ---- writing ------------------------------------------------------------------------------------------

struct Writer {
  Context ctx;
  hid_t file;
  Handle lcpl;  // creates intermediate groups

  Writer(const Context& c, hid_t f) : ctx(c), file(f) {
    lcpl = ctx.check(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "cannot create a property list");
    ctx.check(H5Pset_create_intermediate_group(lcpl.get(), 1), "cannot set up group creation");
  }

  Handle group(const std::string& path) {
    return ctx.check(H5Gcreate2(file, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                     "cannot create group " + path);
  }

  Handle dataset(const std::string& path, hid_t file_type, const std::vector<hsize_t>& dims,
                 bool scalar = false) {
    Handle space = ctx.check(scalar ? H5Screate(H5S_SCALAR)
                                    : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                             H5Sclose, "cannot create a dataspace for " + path);
    return ctx.check(
        H5Dcreate2(file, path.c_str(), file_type, space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
        H5Dclose, "cannot create dataset " + path);
  }

  void tensor(const std::string& path, const Tensor& t, bool with_shape_attr) {
    LAT_CHECK(t.defined(), "checkpoint '", ctx.path, "': tensor ", path, " is undefined");
    LAT_CHECK(is_floating(t.dtype()), "checkpoint '", ctx.path, "': tensor ", path, " has dtype ",
              dtype_name(t.dtype()), ", expected a floating type (stored as fp32)");
    Tensor host = t.to(Device::cpu()).to(DType::F32).contiguous();
    std::vector<hsize_t> dims(host.shape().begin(), host.shape().end());
    Handle d = dataset(path, H5T_IEEE_F32LE, dims, host.ndim() == 0);
    if (host.numel() > 0)
      ctx.check(H5Dwrite(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host.data<float>()),
                "cannot write dataset " + path);
    if (with_shape_attr) {
      std::vector<int64_t> shape(host.shape().begin(), host.shape().end());
      attr_int64_array(d.get(), "shape", shape);
    }
  }

  template <class T>
  void array(const std::string& path, hid_t file_type, hid_t mem_type, const std::vector<T>& values,
             std::vector<hsize_t> dims = {}) {
    if (dims.empty()) dims = {values.size()};
    Handle d = dataset(path, file_type, dims);
    if (!values.empty())
      ctx.check(H5Dwrite(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
                "cannot write dataset " + path);
  }

  void attr(hid_t loc, const char* name, hid_t file_type, hid_t mem_type, const void* value) {
    Handle space = ctx.check(H5Screate(H5S_SCALAR), H5Sclose, "cannot create a dataspace");
    Handle a = ctx.check(H5Acreate2(loc, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                         std::string("cannot create attribute ") + name);
    ctx.check(H5Awrite(a.get(), mem_type, value), std::string("cannot write attribute ") + name);
  }
  void attr_int64(hid_t loc, const char* name, int64_t v) {
    attr(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
  }
  void attr_uint64(hid_t loc, const char* name, uint64_t v) {
    attr(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
  }
  void attr_double(hid_t loc, const char* name, double v) {
    attr(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
  }
  void attr_int64_array(hid_t loc, const char* name, const std::vector<int64_t>& v) {
    hsize_t n = v.size();
    Handle space = ctx.check(H5Screate_simple(1, &n, nullptr), H5Sclose, "cannot create a dataspace");
    Handle a = ctx.check(H5Acreate2(loc, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                         H5Aclose, std::string("cannot create attribute ") + name);
    if (n > 0)
      ctx.check(H5Awrite(a.get(), H5T_NATIVE_INT64, v.data()), std::string("cannot write attribute ") + name);
  }
  // Variable-length UTF-8 string: h5py reads it as str, with no size limit on the text.
  void attr_string(hid_t loc, const char* name, const std::string& text) {
    Handle type = ctx.check(H5Tcopy(H5T_C_S1), H5Tclose, "cannot create a string type");
    ctx.check(H5Tset_size(type.get(), H5T_VARIABLE), "cannot create a string type");
    ctx.check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "cannot create a string type");
    const char* data = text.c_str();
    attr(loc, name, type.get(), type.get(), &data);
  }

  void tensor_tree(const std::string& root, const std::map<std::string, Tensor>& tensors, bool shape_attrs) {
    Handle g = group(root);
    for (const auto& [name, t] : tensors) tensor(root + "/" + tree_path(ctx, name), t, shape_attrs);
  }

  void metrics(const MetricsHistory& m) {
    size_t n = m.step.size();
    LAT_CHECK(m.loss.size() == n && m.val_loss.size() == n, "checkpoint '", ctx.path,
              "': metrics columns differ in length (step ", n, ", loss ", m.loss.size(), ", val_loss ",
              m.val_loss.size(), ")");
    Handle g = group("/metrics");
    array("/metrics/step", H5T_STD_I64LE, H5T_NATIVE_INT64, m.step);
    array("/metrics/loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, m.loss);
    array("/metrics/val_loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, m.val_loss);
  }
};

Handle file_access_list(const Context& ctx) {
  Handle fapl = ctx.check(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot create a property list");
  // Closing the file closes everything in it, so the flush-close-fsync sequence cannot leave a half file
  // open.
  ctx.check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), "cannot set the close degree");
#if H5_VERSION_GE(1, 10, 7)
  // Checkpoints are written under a temporary name and renamed: HDF5's file locks add nothing and fail on
  // some network file systems.
  ctx.check(H5Pset_file_locking(fapl.get(), false, true), "cannot configure file locking");
#endif
  return fapl;
}

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) LAT_THROW("cannot open '", path, "' to sync it: ", std::strerror(errno));
  int status = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems do not support fsync on directories; the data file's fsync is the one that matters.
  if (status != 0 && !(directory && (err == EINVAL || err == EBADF)))
    LAT_THROW("cannot sync '", path, "' to disk: ", std::strerror(err));
}

// Writes through `fill` into path.tmp, flushes, closes, fsyncs and renames it to path.
void write_atomically(const std::string& path, const std::function<void(Writer&)>& fill) {
  quiet_hdf5();
  std::string tmp = path + ".tmp";
  Context ctx{tmp};
  try {
    Handle fapl = file_access_list(ctx);
    Handle file = ctx.check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose,
                            "cannot create the file");
    {
      Writer w(ctx, file.get());
      fill(w);
    }
    ctx.check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "cannot flush the file");
    ctx.check(file.close(), "cannot close the file");
    fsync_path(tmp, false);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);  // never leave a half-written file behind
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    LAT_THROW("checkpoint '", path, "': cannot rename '", tmp, "' into place: ", ec.message());
  }
  fs::path folder = fs::path(path).parent_path();
  fsync_path(folder.empty() ? "." : folder.string(), true);
}

// ---- reading ------------------------------------------------------------------------------------------

struct Reader {
  Context ctx;
  hid_t file;

  bool exists(const std::string& path) const {
    htri_t e = H5Lexists(file, path.c_str(), H5P_DEFAULT);
    if (e < 0) ctx.fail("cannot look up " + path);
    return e > 0;
  }
  void require_group(const std::string& path) const {
    if (!exists(path)) ctx.fail("missing group " + path + " (not a complete lat checkpoint)");
  }
  bool has_attr(hid_t loc, const char* name) const {
    htri_t e = H5Aexists(loc, name);
    if (e < 0) ctx.fail(std::string("cannot look up attribute ") + name);
    return e > 0;
  }
  Handle open_attr(hid_t loc, const char* name, const std::string& where) const {
    if (!has_attr(loc, name)) ctx.fail(std::string("missing attribute ") + name + " on " + where);
    return ctx.check(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose, std::string("cannot open attribute ") + name);
  }
  template <class T>
  T attr_scalar(hid_t loc, const char* name, hid_t mem_type, const std::string& where) const {
    Handle a = open_attr(loc, name, where);
    Handle space = ctx.check(H5Aget_space(a.get()), H5Sclose, std::string("cannot read attribute ") + name);
    if (H5Sget_simple_extent_npoints(space.get()) != 1)
      ctx.fail(std::string("attribute ") + name + " on " + where + " is not a single value");
    T value{};
    ctx.check(H5Aread(a.get(), mem_type, &value),
              std::string("cannot read attribute ") + name + " on " + where);
    return value;
  }
  std::string attr_string(hid_t loc, const char* name, const std::string& where) const {
    Handle a = open_attr(loc, name, where);
    Handle type = ctx.check(H5Aget_type(a.get()), H5Tclose, std::string("cannot read attribute ") + name);
    if (H5Tget_class(type.get()) != H5T_STRING)
      ctx.fail(std::string("attribute ") + name + " is not a string");
    Handle mem = ctx.check(H5Tcopy(H5T_C_S1), H5Tclose, "cannot create a string type");
    ctx.check(H5Tset_cset(mem.get(), H5Tget_cset(type.get())), "cannot create a string type");
    if (H5Tis_variable_str(type.get()) > 0) {
      ctx.check(H5Tset_size(mem.get(), H5T_VARIABLE), "cannot create a string type");
      char* data = nullptr;
      ctx.check(H5Aread(a.get(), mem.get(), &data), std::string("cannot read attribute ") + name);
      std::string out = data ? data : "";
      Handle space = ctx.check(H5Aget_space(a.get()), H5Sclose, "cannot read a dataspace");
      H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, &data);
      return out;
    }
    size_t size = H5Tget_size(type.get());
    std::string out(size, '\0');
    ctx.check(H5Tset_size(mem.get(), size), "cannot create a string type");
    if (size > 0)
      ctx.check(H5Aread(a.get(), mem.get(), out.data()), std::string("cannot read attribute ") + name);
    out.resize(std::strlen(out.c_str()));
    return out;
  }

  Handle open_dataset(const std::string& path) const {
    if (!exists(path)) ctx.fail("missing dataset " + path);
    return ctx.check(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose, "cannot open dataset " + path);
  }
  std::vector<hsize_t> dims_of(hid_t dataset, const std::string& path) const {
    Handle space = ctx.check(H5Dget_space(dataset), H5Sclose, "cannot read the dataspace of " + path);
    int n = H5Sget_simple_extent_ndims(space.get());
    if (n < 0) ctx.fail("cannot read the dataspace of " + path);
    std::vector<hsize_t> dims(static_cast<size_t>(n));
    if (n > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return dims;
  }

  Tensor tensor(const std::string& path) const {
    Handle d = open_dataset(path);
    Handle type = ctx.check(H5Dget_type(d.get()), H5Tclose, "cannot read the type of " + path);
    if (H5Tget_class(type.get()) != H5T_FLOAT) ctx.fail("dataset " + path + " is not floating point");
    std::vector<hsize_t> dims = dims_of(d.get(), path);
    if (static_cast<int>(dims.size()) > kMaxDims)
      ctx.fail("dataset " + path + " has " + std::to_string(dims.size()) + " dimensions (at most " +
               std::to_string(kMaxDims) + ")");
    Tensor t = Tensor::empty(Shape(std::vector<int64_t>(dims.begin(), dims.end())), DType::F32);
    if (t.numel() > 0)
      ctx.check(H5Dread(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data<float>()),
                "cannot read dataset " + path);
    return t;
  }

  template <class T>
  std::vector<T> array(const std::string& path, hid_t mem_type,
                       std::vector<hsize_t>* dims_out = nullptr) const {
    Handle d = open_dataset(path);
    std::vector<hsize_t> dims = dims_of(d.get(), path);
    size_t n = 1;
    for (hsize_t x : dims) n *= static_cast<size_t>(x);
    std::vector<T> out(n);
    if (n > 0)
      ctx.check(H5Dread(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()),
                "cannot read dataset " + path);
    if (dims_out) *dims_out = dims;
    return out;
  }

  // Every dataset below `root`, by dotted name relative to it.
  std::map<std::string, Tensor> tensor_tree(const std::string& root) const {
    std::map<std::string, Tensor> out;
    walk(root, "", out);
    return out;
  }
  void walk(const std::string& group_path, const std::string& prefix,
            std::map<std::string, Tensor>& out) const {
    Handle g = ctx.check(H5Gopen2(file, group_path.c_str(), H5P_DEFAULT), H5Gclose,
                         "cannot open group " + group_path);
    H5G_info_t info;
    ctx.check(H5Gget_info(g.get(), &info), "cannot read group " + group_path);
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len < 0) ctx.fail("cannot list group " + group_path);
      std::string name(static_cast<size_t>(len) + 1, '\0');
      H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
      name.resize(static_cast<size_t>(len));
      std::string child = group_path + "/" + name;
      Handle obj = ctx.check(H5Oopen(file, child.c_str(), H5P_DEFAULT), H5Oclose, "cannot open " + child);
      H5I_type_t kind = H5Iget_type(obj.get());
      std::string dotted = prefix.empty() ? name : prefix + "." + name;
      if (kind == H5I_GROUP)
        walk(child, dotted, out);
      else if (kind == H5I_DATASET)
        out.emplace(dotted, tensor(child));
    }
  }
};

std::vector<hsize_t> loader_dims(const Context& ctx, const std::vector<std::vector<int64_t>>& rows,
                                 std::vector<int64_t>& flat) {
  size_t k = rows.empty() ? 0 : rows[0].size();
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != k)
      LAT_THROW("checkpoint '", ctx.path, "': loader position of rank ", r, " has ", rows[r].size(),
                " values, rank 0 has ", k);
    flat.insert(flat.end(), rows[r].begin(), rows[r].end());
  }
  return {rows.size(), k};
}

void check_moments(const Context& ctx, const Checkpoint& c, const std::map<std::string, Tensor>& moments,
                   const char* which) {
  if (moments.empty()) return;
  for (const auto& [name, t] : c.model) {
    auto it = moments.find(name);
    if (it == moments.end())
      LAT_THROW("checkpoint '", ctx.path, "': optimizer state ", which, " has no entry for parameter ", name);
    if (it->second.shape() != t.shape())
      LAT_THROW("checkpoint '", ctx.path, "': optimizer state ", which, " of ", name, " has shape ",
                it->second.shape().str(), ", the parameter has ", t.shape().str());
  }
  if (moments.size() != c.model.size())
    for (const auto& [name, t] : moments)
      if (!c.model.count(name))
        LAT_THROW("checkpoint '", ctx.path, "': optimizer state ", which, " has an entry for ", name,
                  ", which is not a parameter");
}

}  // namespace

bool MetricsHistory::operator==(const MetricsHistory& o) const {
  auto same = [](const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
    return true;
  };
  return step == o.step && same(loss, o.loss) && same(val_loss, o.val_loss);
}

void write_checkpoint(const Checkpoint& c, const std::string& path) {
  Context ctx{path};
  for (const auto* tree : {&c.model, &c.random_features})
    for (const auto& entry : *tree) tree_path(ctx, entry.first);
  check_moments(ctx, c, c.optim_m, "m");
  check_moments(ctx, c, c.optim_v, "v");
  write_atomically(path, [&](Writer& w) {
    w.attr_int64(w.file, kVersionAttr, kCheckpointVersion);
    w.attr_string(w.file, "recipe", c.recipe);

    w.tensor_tree("/model", c.model, false);

    Handle optim = w.group("/optim");
    w.attr_int64(optim.get(), "step", c.optim_step);
    w.tensor_tree("/optim/m", c.optim_m, false);
    w.tensor_tree("/optim/v", c.optim_v, false);

    Handle state = w.group("/state");
    w.attr_int64(state.get(), "step", c.step);
    w.attr_int64(state.get(), "tokens_seen", c.tokens_seen);
    w.attr_int64(state.get(), "world_size", c.world_size);
    std::vector<int64_t> flat;
    std::vector<hsize_t> dims = loader_dims(w.ctx, c.loader_positions, flat);
    w.array("/state/loader_positions", H5T_STD_I64LE, H5T_NATIVE_INT64, flat, dims);
    Handle rng = w.group("/state/rng_offsets");
    for (const auto& [name, offset] : c.rng_offsets) w.attr_uint64(rng.get(), name.c_str(), offset);
    w.tensor_tree("/state/random_features", c.random_features, false);

    w.metrics(c.metrics);
  });
}

Checkpoint read_checkpoint(const std::string& path) {
  quiet_hdf5();
  Context ctx{path};
  std::error_code ec;
  if (!fs::exists(path, ec)) LAT_THROW("checkpoint '", path, "': no such file");
  if (!fs::is_regular_file(path, ec)) LAT_THROW("checkpoint '", path, "': not a regular file");
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 <= 0) {
    hdf5_detail();
    LAT_THROW("checkpoint '", path, "': not an HDF5 file (no HDF5 signature: foreign or damaged file)");
  }
  Handle fapl = file_access_list(ctx);
  Handle file = ctx.check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose,
                          "cannot open as HDF5 (truncated or damaged file)");
  Reader r{ctx, file.get()};
  if (!r.has_attr(file.get(), kVersionAttr)) {
    if (r.has_attr(file.get(), kExportVersionAttr))
      ctx.fail("this is a lat-export analysis file (no optimizer state), not a checkpoint");
    ctx.fail(std::string("not a lat checkpoint (the root has no ") + kVersionAttr + " attribute)");
  }
  int64_t version = r.attr_scalar<int64_t>(file.get(), kVersionAttr, H5T_NATIVE_INT64, "/");
  if (version != kCheckpointVersion)
    ctx.fail("format version " + std::to_string(version) + " is not supported (this build reads version " +
             std::to_string(kCheckpointVersion) + ")");
  for (const char* g : {"/model", "/optim", "/optim/m", "/optim/v", "/state", "/state/rng_offsets",
                        "/state/random_features", "/metrics"})
    r.require_group(g);

  Checkpoint c;
  c.recipe = r.attr_string(file.get(), "recipe", "/");
  c.model = r.tensor_tree("/model");
  c.optim_m = r.tensor_tree("/optim/m");
  c.optim_v = r.tensor_tree("/optim/v");
  {
    Handle optim = ctx.check(H5Gopen2(file.get(), "/optim", H5P_DEFAULT), H5Gclose, "cannot open /optim");
    c.optim_step = r.attr_scalar<int64_t>(optim.get(), "step", H5T_NATIVE_INT64, "/optim");
    Handle state = ctx.check(H5Gopen2(file.get(), "/state", H5P_DEFAULT), H5Gclose, "cannot open /state");
    c.step = r.attr_scalar<int64_t>(state.get(), "step", H5T_NATIVE_INT64, "/state");
    c.tokens_seen = r.attr_scalar<int64_t>(state.get(), "tokens_seen", H5T_NATIVE_INT64, "/state");
    c.world_size = r.attr_scalar<int64_t>(state.get(), "world_size", H5T_NATIVE_INT64, "/state");
  }
  std::vector<hsize_t> dims;
  std::vector<int64_t> flat = r.array<int64_t>("/state/loader_positions", H5T_NATIVE_INT64, &dims);
  if (dims.size() != 2) ctx.fail("/state/loader_positions is not a 2-D array [ranks, k]");
  for (hsize_t row = 0; row < dims[0]; ++row)
    c.loader_positions.emplace_back(flat.begin() + static_cast<ptrdiff_t>(row * dims[1]),
                                    flat.begin() + static_cast<ptrdiff_t>((row + 1) * dims[1]));
  {
    Handle rng = ctx.check(H5Gopen2(file.get(), "/state/rng_offsets", H5P_DEFAULT), H5Gclose,
                           "cannot open /state/rng_offsets");
    H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
    ctx.check(H5Oget_info3(rng.get(), &info, H5O_INFO_NUM_ATTRS), "cannot read /state/rng_offsets");
#else
    ctx.check(H5Oget_info2(rng.get(), &info, H5O_INFO_NUM_ATTRS), "cannot read /state/rng_offsets");
#endif
    for (hsize_t i = 0; i < info.num_attrs; ++i) {
      ssize_t len =
          H5Aget_name_by_idx(rng.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len < 0) ctx.fail("cannot list /state/rng_offsets");
      std::string name(static_cast<size_t>(len) + 1, '\0');
      H5Aget_name_by_idx(rng.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                         H5P_DEFAULT);
      name.resize(static_cast<size_t>(len));
      c.rng_offsets[name] =
          r.attr_scalar<uint64_t>(rng.get(), name.c_str(), H5T_NATIVE_UINT64, "/state/rng_offsets");
    }
  }
  c.random_features = r.tensor_tree("/state/random_features");
  c.metrics.step = r.array<int64_t>("/metrics/step", H5T_NATIVE_INT64);
  c.metrics.loss = r.array<double>("/metrics/loss", H5T_NATIVE_DOUBLE);
  c.metrics.val_loss = r.array<double>("/metrics/val_loss", H5T_NATIVE_DOUBLE);
  if (c.metrics.loss.size() != c.metrics.step.size() || c.metrics.val_loss.size() != c.metrics.step.size())
    ctx.fail("/metrics columns differ in length");
  check_moments(ctx, c, c.optim_m, "m");
  check_moments(ctx, c, c.optim_v, "v");
  return c;
}

std::string checkpoint_path(const std::string& dir, int64_t step) {
  LAT_CHECK(step >= 0, "checkpoint step must be >= 0, got ", step);
  char name[32];
  std::snprintf(name, sizeof(name), "step_%08lld.h5", static_cast<long long>(step));
  return (fs::path(dir) / name).string();
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  static const std::regex pattern(R"(step_(\d+)\.h5)");
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    std::smatch m;
    if (entry.is_regular_file(ec) && std::regex_match(name, m, pattern))
      found.emplace_back(std::stoll(m[1].str()), entry.path().string());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::string save_checkpoint(const Checkpoint& ckpt, const std::string& dir, int64_t keep_last) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    LAT_THROW("checkpoint directory '", dir, "' cannot be created: ", ec.message());
  std::string path = checkpoint_path(dir, ckpt.step);
  write_checkpoint(ckpt, path);
  if (keep_last > 0) {
    int64_t kept = 0;
    for (const std::string& old : list_checkpoints(dir)) {
      if (old == path || kept < keep_last) {
        ++kept;
        continue;
      }
      fs::remove(old, ec);
      if (ec) log_warn("could not prune old checkpoint {}: {}", old, ec.message());
    }
  }
  return path;
}

std::optional<std::string> latest_valid_checkpoint(const std::string& dir) {
  for (const std::string& path : list_checkpoints(dir)) {
    try {
      read_checkpoint(path);
      return path;
    } catch (const Error& e) {
      log_warn("skipping unusable checkpoint: {}", e.what());
    }
  }
  return std::nullopt;
}

void export_analysis(const Checkpoint& c, const std::string& out_path) {
  write_atomically(out_path, [&](Writer& w) {
    w.attr_int64(w.file, kExportVersionAttr, 1);
    w.attr_int64(w.file, "step", c.step);
    w.attr_int64(w.file, "tokens_seen", c.tokens_seen);
    w.attr_string(w.file, "recipe", c.recipe);
    w.tensor_tree("/model", c.model, true);
    w.metrics(c.metrics);
    // The recipe again as typed attributes, one per key, for tools that do not parse TOML (MATLAB, Julia).
    Handle config = w.group("/config");
    toml::table table;
    try {
      table = toml::parse(c.recipe);
    } catch (const toml::parse_error& e) {
      log_warn("export {}: the checkpoint's recipe is not valid TOML ({}); /config left empty", out_path,
               e.description());
      return;
    }
    for (auto&& [section, node] : table) {
      auto sub = node.as_table();
      if (!sub) continue;
      for (auto&& [key, value] : *sub) {
        std::string name = std::string(section.str()) + "." + std::string(key.str());
        if (auto i = value.as_integer())
          w.attr_int64(config.get(), name.c_str(), i->get());
        else if (auto d = value.as_floating_point())
          w.attr_double(config.get(), name.c_str(), d->get());
        else if (auto b = value.as_boolean())
          w.attr_int64(config.get(), name.c_str(), b->get() ? 1 : 0);
        else if (auto s = value.as_string())
          w.attr_string(config.get(), name.c_str(), s->get());
      }
    }
  });
}

}  // namespace lat
