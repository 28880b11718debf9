// Writing checkpoints and analysis files through the HDF5 C API (layout: checkpoint.h). Every file is written
// to "<path>.tmp" with a kSealBytes user block, closed, sealed (trainers/file_seal.h), fsync'ed and renamed
// into place. Datasets with values are chunked with HDF5's Fletcher32 filter, so h5py verifies them on
// reading too.
#include <fcntl.h>
#include <hdf5.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>

#include "core/error.h"
#include "core/log.h"
#include "trainers/checkpoint.h"
#include "trainers/checkpoint_checks.h"
#include "trainers/file_seal.h"
#include "trainers/hdf5_handle.h"

namespace lat {
namespace {

namespace fs = std::filesystem;
using hdf5::Context;
using hdf5::Handle;

// Chunk dims for Fletcher32: the whole dataset, halving leading dimensions until a chunk is at most 64 MiB
// (HDF5 caps a chunk at 4 GiB).
std::vector<hsize_t> chunk_dims(std::vector<hsize_t> dims, size_t element_bytes) {
  auto bytes = [&] {
    hsize_t n = element_bytes;
    for (hsize_t d : dims) n *= d;
    return n;
  };
  for (size_t axis = 0; axis < dims.size() && bytes() > (hsize_t{64} << 20); ++axis)
    while (dims[axis] > 1 && bytes() > (hsize_t{64} << 20)) dims[axis] = (dims[axis] + 1) / 2;
  return dims;
}

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
    Handle dcpl = ctx.check(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "cannot create a property list");
    bool has_values = !scalar && !dims.empty();
    for (hsize_t d : dims) has_values = has_values && d > 0;
    if (has_values) {  // Fletcher32 needs chunked storage, which needs a non-empty simple dataspace
      const std::vector<hsize_t> chunk = chunk_dims(dims, H5Tget_size(file_type));
      ctx.check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()),
                "cannot chunk " + path);
      ctx.check(H5Pset_fletcher32(dcpl.get()), "cannot add a Fletcher32 checksum to " + path);
    }
    return ctx.check(
        H5Dcreate2(file, path.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT), H5Dclose,
        "cannot create dataset " + path);
  }

  void tensor(const std::string& path, const Tensor& t, bool with_shape_attr) {
    if (!t.defined()) LAT_THROW("checkpoint '", ctx.path, "': tensor ", path, " is undefined");
    if (!is_floating(t.dtype()))
      LAT_THROW("checkpoint '", ctx.path, "': tensor ", path, " has dtype ", dtype_name(t.dtype()),
                ", expected a floating type (stored as fp32)");
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
    for (const auto& [name, t] : tensors)
      tensor(root + "/" + checkpoint_checks::tree_path(ctx.path, name), t, shape_attrs);
  }

  void metrics(const MetricsHistory& m) {
    size_t n = m.step.size();
    if (m.loss.size() != n || m.val_loss.size() != n)
      LAT_THROW("checkpoint '", ctx.path, "': metrics columns differ in length (step ", n, ", loss ",
                m.loss.size(), ", val_loss ", m.val_loss.size(), ")");
    Handle g = group("/metrics");
    array("/metrics/step", H5T_STD_I64LE, H5T_NATIVE_INT64, m.step);
    array("/metrics/loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, m.loss);
    array("/metrics/val_loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, m.val_loss);
  }
};

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

// Writes through `fill` into path.tmp, closes, seals, fsyncs and renames it to path.
void write_atomically(const std::string& path, FileKind kind, const std::function<void(Writer&)>& fill) {
  hdf5::quiet();
  std::string tmp = path + ".tmp";
  Context ctx{tmp};
  try {
    Handle fapl = hdf5::file_access_list(ctx);
    Handle fcpl = ctx.check(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "cannot create a property list");
    ctx.check(H5Pset_userblock(fcpl.get(), kSealBytes), "cannot reserve the seal's user block");
    Handle file = ctx.check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Fclose,
                            "cannot create the file");
    {
      Writer w(ctx, file.get());
      fill(w);
    }
    ctx.check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "cannot flush the file");
    ctx.check(file.close(), "cannot close the file");
    seal_file(tmp, kind, "checkpoint '" + tmp + "'");
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

}  // namespace

void write_checkpoint(const Checkpoint& c, const std::string& path) {
  for (const auto* tree : {&c.model, &c.random_features})
    for (const auto& entry : *tree) checkpoint_checks::tree_path(path, entry.first);
  checkpoint_checks::check_moments(path, c, c.optim_m, "m");
  checkpoint_checks::check_moments(path, c, c.optim_v, "v");
  write_atomically(path, FileKind::Checkpoint, [&](Writer& w) {
    w.attr_int64(w.file, kCheckpointVersionAttr, kCheckpointVersion);
    w.attr_string(w.file, "recipe", c.recipe);
    if (!c.tokenizer.empty()) w.attr_string(w.file, "tokenizer", c.tokenizer);

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
    const auto dims = checkpoint_checks::loader_dims(w.ctx.path, c.loader_positions, flat);
    w.array("/state/loader_positions", H5T_STD_I64LE, H5T_NATIVE_INT64, flat, {dims[0], dims[1]});
    Handle rng = w.group("/state/rng_offsets");
    for (const auto& [name, offset] : c.rng_offsets) w.attr_uint64(rng.get(), name.c_str(), offset);
    w.tensor_tree("/state/random_features", c.random_features, false);

    w.metrics(c.metrics);
  });
}

void export_analysis(const Checkpoint& c, const std::string& out_path) {
  // Only an earlier analysis file may be replaced: never a checkpoint (the input included) or anyone's other
  // file.
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out_path, ec)) || fs::is_symlink(fs::symlink_status(out_path, ec))) {
    const FileKind kind = claimed_kind(out_path);
    if (kind != FileKind::Export || !fs::is_regular_file(fs::symlink_status(out_path, ec)))
      LAT_THROW("output '", out_path, "' ",
                kind == FileKind::Checkpoint ? "is a lat checkpoint" : "exists and is not a lat-export file",
                "; refusing to overwrite it (choose another output path)");
  }
  write_atomically(out_path, FileKind::Export, [&](Writer& w) {
    w.attr_int64(w.file, kExportVersionAttr, 1);
    w.attr_int64(w.file, "step", c.step);
    w.attr_int64(w.file, "tokens_seen", c.tokens_seen);
    w.attr_string(w.file, "recipe", c.recipe);
    if (!c.tokenizer.empty()) w.attr_string(w.file, "tokenizer", c.tokenizer);
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
