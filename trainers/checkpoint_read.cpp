// Reading checkpoints (layout: checkpoint.h). Three gates, in order:
//   1. the seal (trainers/file_seal.h): size and CRC-64 of the whole file, checked without HDF5;
//   2. a full parse in a forked child (trainers/isolated_call.h): a file that passes the checksum but was
//   crafted
//      to crash HDF5 kills the child, and is reported as damaged;
//   3. the parse itself, which checks every attribute's and dataset's type, size and shape before reading it.
#include <hdf5.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "trainers/checkpoint.h"
#include "trainers/checkpoint_checks.h"
#include "trainers/file_seal.h"
#include "trainers/hdf5_handle.h"
#include "trainers/isolated_call.h"

namespace lat {
namespace {

namespace fs = std::filesystem;
using hdf5::Context;
using hdf5::Handle;

constexpr size_t kMaxStringBytes = size_t{64} << 20;  // the recipe is a few KiB
constexpr int kMaxGroupDepth = 64;                    // a module tree is a handful of levels; links may loop

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
    H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
    ctx.check(H5Oget_info_by_name3(file, path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT),
              "cannot read " + path);
#else
    ctx.check(H5Oget_info_by_name2(file, path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT),
              "cannot read " + path);
#endif
    if (info.type != H5O_TYPE_GROUP) ctx.fail(path + " is not a group");
  }
  bool has_attr(hid_t loc, const char* name) const {
    htri_t e = H5Aexists(loc, name);
    if (e < 0) ctx.fail(std::string("cannot look up attribute ") + name);
    return e > 0;
  }
  // Opens attribute `name` and checks, before anything is read, that it holds one value of class `cls` that
  // is at most `max_size` bytes wide.
  Handle open_attr(hid_t loc, const char* name, const std::string& where, H5T_class_t cls, size_t max_size,
                   Handle* type_out) const {
    const std::string label = std::string("attribute ") + name + " on " + where;
    if (!has_attr(loc, name)) ctx.fail("missing " + label);
    Handle a = ctx.check(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose, "cannot open " + label);
    Handle space = ctx.check(H5Aget_space(a.get()), H5Sclose, "cannot read the dataspace of " + label);
    if (H5Sget_simple_extent_npoints(space.get()) != 1) ctx.fail(label + " is not a single value");
    Handle type = ctx.check(H5Aget_type(a.get()), H5Tclose, "cannot read the type of " + label);
    const size_t size = H5Tget_size(type.get());
    if (H5Tget_class(type.get()) != cls || size == 0 || size > max_size)
      ctx.fail(label + " has the wrong type");
    if (type_out) *type_out = std::move(type);
    return a;
  }
  template <class T>
  T attr_integer(hid_t loc, const char* name, hid_t mem_type, const std::string& where) const {
    Handle a = open_attr(loc, name, where, H5T_INTEGER, sizeof(T), nullptr);
    T value{};
    ctx.check(H5Aread(a.get(), mem_type, &value),
              std::string("cannot read attribute ") + name + " on " + where);
    return value;
  }
  std::string attr_string(hid_t loc, const char* name, const std::string& where) const {
    Handle type;
    Handle a = open_attr(loc, name, where, H5T_STRING, kMaxStringBytes, &type);
    Handle mem = ctx.check(H5Tcopy(H5T_C_S1), H5Tclose, "cannot create a string type");
    ctx.check(H5Tset_cset(mem.get(), H5Tget_cset(type.get())), "cannot create a string type");
    const htri_t variable = H5Tis_variable_str(type.get());
    if (variable < 0) ctx.fail(std::string("cannot read the type of attribute ") + name);
    if (variable > 0) {
      ctx.check(H5Tset_size(mem.get(), H5T_VARIABLE), "cannot create a string type");
      char* data = nullptr;
      ctx.check(H5Aread(a.get(), mem.get(), &data), std::string("cannot read attribute ") + name);
      std::string out = data ? std::string(data, strnlen(data, kMaxStringBytes)) : "";
      Handle space = ctx.check(H5Aget_space(a.get()), H5Sclose, "cannot read a dataspace");
      H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, &data);
      return out;
    }
    const size_t size = H5Tget_size(type.get());
    std::string out(size + 1, '\0');
    ctx.check(H5Tset_size(mem.get(), size), "cannot create a string type");
    ctx.check(H5Aread(a.get(), mem.get(), out.data()), std::string("cannot read attribute ") + name);
    out.resize(std::strlen(out.c_str()));
    return out;
  }

  // Opens dataset `path`, checks its class and that it stores at least as many bytes as its shape claims (so
  // a damaged shape cannot make us allocate terabytes), and returns its dims.
  Handle open_dataset(const std::string& path, H5T_class_t cls, std::vector<hsize_t>& dims) const {
    if (!exists(path)) ctx.fail("missing dataset " + path);
    Handle d = ctx.check(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose, "cannot open dataset " + path);
    Handle type = ctx.check(H5Dget_type(d.get()), H5Tclose, "cannot read the type of " + path);
    const size_t type_size = H5Tget_size(type.get());
    if (H5Tget_class(type.get()) != cls || type_size == 0 || type_size > 8)
      ctx.fail("dataset " + path + " has the wrong type");
    Handle space = ctx.check(H5Dget_space(d.get()), H5Sclose, "cannot read the dataspace of " + path);
    const int n = H5Sget_simple_extent_ndims(space.get());
    if (n < 0) ctx.fail("cannot read the dataspace of " + path);
    if (n > kMaxDims)
      ctx.fail("dataset " + path + " has " + std::to_string(n) + " dimensions (at most " +
               std::to_string(kMaxDims) + ")");
    dims.assign(static_cast<size_t>(n), 0);
    if (n > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
      ctx.fail("cannot read the dataspace of " + path);
    hsize_t values = 1;
    for (hsize_t x : dims) {
      if (x != 0 && values > (hsize_t{1} << 40) / x)
        ctx.fail("dataset " + path + " claims an impossible shape");
      values *= x;
    }
    if (values > 0 && H5Dget_storage_size(d.get()) < values * type_size)
      ctx.fail("dataset " + path + " claims " + std::to_string(values) +
               " values but stores fewer (damaged file)");
    return d;
  }

  Tensor tensor(const std::string& path) const {
    std::vector<hsize_t> dims;
    Handle d = open_dataset(path, H5T_FLOAT, dims);
    Tensor t = Tensor::empty(Shape(std::vector<int64_t>(dims.begin(), dims.end())), DType::F32);
    if (t.numel() > 0)
      ctx.check(H5Dread(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data<float>()),
                "cannot read dataset " + path);
    return t;
  }

  template <class T>
  std::vector<T> array(const std::string& path, H5T_class_t cls, hid_t mem_type,
                       std::vector<hsize_t>* dims_out = nullptr) const {
    std::vector<hsize_t> dims;
    Handle d = open_dataset(path, cls, dims);
    size_t n = 1;
    for (hsize_t x : dims) n *= static_cast<size_t>(x);
    std::vector<T> out(n);
    if (n > 0)
      ctx.check(H5Dread(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()),
                "cannot read dataset " + path);
    if (dims_out) *dims_out = dims;
    return out;
  }

  // The name of link i of group `g`.
  std::string link_name(hid_t g, hsize_t i, const std::string& group_path) const {
    const ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0 || static_cast<size_t>(len) > kMaxStringBytes) ctx.fail("cannot list group " + group_path);
    std::string name(static_cast<size_t>(len) + 1, '\0');
    if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT) !=
        len)
      ctx.fail("cannot list group " + group_path);
    name.resize(static_cast<size_t>(len));
    return name;
  }

  // Every dataset below `root`, by dotted name relative to it.
  std::map<std::string, Tensor> tensor_tree(const std::string& root) const {
    std::map<std::string, Tensor> out;
    walk(root, "", 0, out);
    return out;
  }
  void walk(const std::string& group_path, const std::string& prefix, int depth,
            std::map<std::string, Tensor>& out) const {
    if (depth > kMaxGroupDepth)
      ctx.fail("groups nest deeper than " + std::to_string(kMaxGroupDepth) + " at " + group_path);
    Handle g = ctx.check(H5Gopen2(file, group_path.c_str(), H5P_DEFAULT), H5Gclose,
                         "cannot open group " + group_path);
    H5G_info_t info;
    ctx.check(H5Gget_info(g.get(), &info), "cannot read group " + group_path);
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      const std::string name = link_name(g.get(), i, group_path);
      if (name.empty() || name.find_first_of("./") != std::string::npos)
        ctx.fail("group " + group_path + " has a member named '" + name + "', which no parameter has");
      std::string child = group_path + "/" + name;
      Handle obj = ctx.check(H5Oopen(file, child.c_str(), H5P_DEFAULT), H5Oclose, "cannot open " + child);
      H5I_type_t kind = H5Iget_type(obj.get());
      std::string dotted = prefix.empty() ? name : prefix + "." + name;
      if (kind == H5I_GROUP)
        walk(child, dotted, depth + 1, out);
      else if (kind == H5I_DATASET)
        out.emplace(dotted, tensor(child));
      else
        ctx.fail(child + " is neither a group nor a dataset");
    }
  }

  std::map<std::string, uint64_t> rng_offsets() const {
    Handle rng = ctx.check(H5Gopen2(file, "/state/rng_offsets", H5P_DEFAULT), H5Gclose,
                           "cannot open /state/rng_offsets");
    H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
    ctx.check(H5Oget_info3(rng.get(), &info, H5O_INFO_NUM_ATTRS), "cannot read /state/rng_offsets");
#else
    ctx.check(H5Oget_info2(rng.get(), &info, H5O_INFO_NUM_ATTRS), "cannot read /state/rng_offsets");
#endif
    std::map<std::string, uint64_t> out;
    for (hsize_t i = 0; i < info.num_attrs; ++i) {
      const ssize_t len =
          H5Aget_name_by_idx(rng.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len < 0 || static_cast<size_t>(len) > kMaxStringBytes) ctx.fail("cannot list /state/rng_offsets");
      std::string name(static_cast<size_t>(len) + 1, '\0');
      if (H5Aget_name_by_idx(rng.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                             H5P_DEFAULT) != len)
        ctx.fail("cannot list /state/rng_offsets");
      name.resize(static_cast<size_t>(len));
      out[name] = attr_integer<uint64_t>(rng.get(), name.c_str(), H5T_NATIVE_UINT64, "/state/rng_offsets");
    }
    return out;
  }
};

// The parse behind gates 2 and 3: opens `path` read-only and reads and validates every part.
Checkpoint parse_checkpoint(const std::string& path) {
  hdf5::quiet();
  Context ctx{path};
  Handle fapl = hdf5::file_access_list(ctx);
  Handle file = ctx.check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose,
                          "cannot open as HDF5 (truncated or damaged file)");
  Reader r{ctx, file.get()};
  if (!r.has_attr(file.get(), kCheckpointVersionAttr))
    ctx.fail(std::string("not a lat checkpoint (the root has no ") + kCheckpointVersionAttr + " attribute)");
  const int64_t version = r.attr_integer<int64_t>(file.get(), kCheckpointVersionAttr, H5T_NATIVE_INT64, "/");
  if (version != kCheckpointVersion)
    ctx.fail("format version " + std::to_string(version) + " is not supported (this build reads version " +
             std::to_string(kCheckpointVersion) + ")");
  for (const char* g : {"/model", "/optim", "/optim/m", "/optim/v", "/state", "/state/rng_offsets",
                        "/state/random_features", "/metrics"})
    r.require_group(g);

  Checkpoint c;
  c.recipe = r.attr_string(file.get(), "recipe", "/");
  if (r.has_attr(file.get(), "tokenizer")) c.tokenizer = r.attr_string(file.get(), "tokenizer", "/");
  c.model = r.tensor_tree("/model");
  c.optim_m = r.tensor_tree("/optim/m");
  c.optim_v = r.tensor_tree("/optim/v");
  {
    Handle optim = ctx.check(H5Gopen2(file.get(), "/optim", H5P_DEFAULT), H5Gclose, "cannot open /optim");
    c.optim_step = r.attr_integer<int64_t>(optim.get(), "step", H5T_NATIVE_INT64, "/optim");
    Handle state = ctx.check(H5Gopen2(file.get(), "/state", H5P_DEFAULT), H5Gclose, "cannot open /state");
    c.step = r.attr_integer<int64_t>(state.get(), "step", H5T_NATIVE_INT64, "/state");
    c.tokens_seen = r.attr_integer<int64_t>(state.get(), "tokens_seen", H5T_NATIVE_INT64, "/state");
    c.world_size = r.attr_integer<int64_t>(state.get(), "world_size", H5T_NATIVE_INT64, "/state");
  }
  if (c.step < 0 || c.optim_step < 0 || c.tokens_seen < 0 || c.world_size < 1)
    ctx.fail("/state holds impossible values (step " + std::to_string(c.step) + ", world_size " +
             std::to_string(c.world_size) + ")");
  std::vector<hsize_t> dims;
  std::vector<int64_t> flat =
      r.array<int64_t>("/state/loader_positions", H5T_INTEGER, H5T_NATIVE_INT64, &dims);
  if (dims.size() != 2) ctx.fail("/state/loader_positions is not a 2-D array [ranks, k]");
  for (hsize_t row = 0; row < dims[0]; ++row)
    c.loader_positions.emplace_back(flat.begin() + static_cast<ptrdiff_t>(row * dims[1]),
                                    flat.begin() + static_cast<ptrdiff_t>((row + 1) * dims[1]));
  c.rng_offsets = r.rng_offsets();
  c.random_features = r.tensor_tree("/state/random_features");
  c.metrics.step = r.array<int64_t>("/metrics/step", H5T_INTEGER, H5T_NATIVE_INT64);
  c.metrics.loss = r.array<double>("/metrics/loss", H5T_FLOAT, H5T_NATIVE_DOUBLE);
  c.metrics.val_loss = r.array<double>("/metrics/val_loss", H5T_FLOAT, H5T_NATIVE_DOUBLE);
  if (c.metrics.loss.size() != c.metrics.step.size() || c.metrics.val_loss.size() != c.metrics.step.size())
    ctx.fail("/metrics columns differ in length");
  checkpoint_checks::check_moments(path, c, c.optim_m, "m");
  checkpoint_checks::check_moments(path, c, c.optim_v, "v");
  checkpoint_checks::check_finite(path, c.model, "parameter");
  checkpoint_checks::check_finite(path, c.optim_m, "optimizer state m of");
  checkpoint_checks::check_finite(path, c.optim_v, "optimizer state v of", true);
  return c;
}

}  // namespace

Checkpoint read_checkpoint(const std::string& path) {
  const std::string label = "checkpoint '" + path + "'";
  std::error_code ec;
  if (!fs::exists(path, ec)) LAT_THROW(label, ": no such file");
  if (!fs::is_regular_file(path, ec)) LAT_THROW(label, ": not a regular file");
  switch (claimed_kind(path)) {
    case FileKind::Checkpoint:
      break;
    case FileKind::Export:
      LAT_THROW(label, ": this is a lat-export analysis file (no optimizer state), not a checkpoint");
    case FileKind::Hdf5:
      LAT_THROW(label,
                ": not a lat checkpoint (an HDF5 file without lat's integrity seal: someone else's, or "
                "written by lat before checkpoint format ",
                kCheckpointVersion, ")");
    case FileKind::Other:
      LAT_THROW(label, ": not a lat checkpoint (no lat seal and no HDF5 signature: foreign or damaged file)");
  }
  verify_seal(path, FileKind::Checkpoint, label);
  // A minute, plus the time to read the file at 50 MB/s: a damaged file can also send HDF5 into a loop.
  const double bytes = static_cast<double>(fs::file_size(path, ec));
  run_isolated([&] { parse_checkpoint(path); }, label + ": damaged (reading it crashed the HDF5 library)",
               label + ": damaged (reading it did not finish in time)", 60.0 + (ec ? 0.0 : bytes / 50e6));
  return parse_checkpoint(path);
}

}  // namespace lat
