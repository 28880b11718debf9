#include <doctest/doctest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "core/random.h"
#include "trainers/checkpoint.h"
#include "trainers/recipe.h"
#include "support/sample_checkpoint.h"
#include "support/temp_dir.h"

using namespace lat;
using lat::testing::TempDir;
using lat::testing::error_of;
using lat::testing::sample_checkpoint;
namespace fs = std::filesystem;

namespace {

bool bit_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor x = a.contiguous(), y = b.contiguous();
  return a.numel() == 0 || std::memcmp(x.raw_data(), y.raw_data(), a.nbytes()) == 0;
}

bool bit_equal(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || !bit_equal(t, it->second)) return false;
  }
  return true;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool has_tmp_files(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".tmp") return true;
  return false;
}

// Reads a link's existence straight from HDF5, as h5py would see the file.
bool hdf5_has(const std::string& file, const std::string& path) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  bool found = H5Lexists(f, path.c_str(), H5P_DEFAULT) > 0;
  H5Fclose(f);
  return found;
}

}  // namespace

TEST_CASE("checkpoint: write then read is bit-exact for every part") {
  TempDir dir("ckpt_roundtrip");
  Checkpoint c = sample_checkpoint(100);
  // A BPE run's tokenizer.json travels in the file: megabytes of UTF-8 in one attribute.
  for (int i = 0; c.tokenizer.size() < (3u << 20); ++i) c.tokenizer += "\"\u0120t\u00e9" + std::to_string(i) + "\": 1, ";
  std::string path = dir / "c.h5";
  write_checkpoint(c, path);
  CHECK(!has_tmp_files(dir.path()));
  Checkpoint r = read_checkpoint(path);
  CHECK(bit_equal(r.model, c.model));
  CHECK(bit_equal(r.optim_m, c.optim_m));
  CHECK(bit_equal(r.optim_v, c.optim_v));
  CHECK(bit_equal(r.random_features, c.random_features));
  CHECK(r.optim_step == 100);
  CHECK(r.step == 100);
  CHECK(r.tokens_seen == 100 * 2048);
  CHECK(r.world_size == 2);
  CHECK(r.rng_offsets == c.rng_offsets);
  CHECK(r.loader_positions == c.loader_positions);
  CHECK(r.recipe == c.recipe);
  CHECK(r.tokenizer == c.tokenizer);
  CHECK(r.metrics == c.metrics);
  CHECK(r.model.at("scale").ndim() == 0);
  CHECK(r.model.at("layers.10.mlp.w_up").shape() == Shape{2, 3, 4});
  CHECK(Recipe::from_string(r.recipe) == Recipe::embedded_default());
  // The module tree is the group tree.
  CHECK(hdf5_has(path, "/model/layers/10/mlp/w_up"));
  CHECK(hdf5_has(path, "/optim/m/layers/0/attention/w_q"));
  CHECK(hdf5_has(path, "/state/random_features/layers/0/attention/omega"));

  // Other floating dtypes are stored as fp32; an empty checkpoint (no optimizer state) also round-trips.
  Checkpoint small;
  small.model["w"] = Tensor::from_vector<double>({1.5, -2.25}, Shape{2});
  write_checkpoint(small, path);
  Checkpoint s = read_checkpoint(path);
  CHECK(s.model.at("w").dtype() == DType::F32);
  CHECK(s.model.at("w").to_vector<float>() == std::vector<float>{1.5f, -2.25f});
  CHECK(s.optim_m.empty());
  CHECK(s.tokenizer.empty());
  CHECK(s.loader_positions.empty());
}

TEST_CASE("checkpoint: bad inputs to write are refused before anything is written") {
  TempDir dir("ckpt_badwrite");
  Checkpoint c = sample_checkpoint(1);
  c.optim_m.erase("scale");
  CHECK(error_of([&] {
          write_checkpoint(c, dir / "a.h5");
        }).find("optimizer state m has no entry for parameter scale") != std::string::npos);
  c = sample_checkpoint(1);
  c.loader_positions[1].pop_back();
  CHECK(error_of([&] { write_checkpoint(c, dir / "a.h5"); }).find("loader position of rank 1 has 9 values") !=
        std::string::npos);
  c = sample_checkpoint(1);
  c.model["bad..name"] = Tensor::zeros({1}, DType::F32);
  std::string bad = error_of([&] { write_checkpoint(c, dir / "a.h5"); });
  CHECK_MESSAGE(bad.find("'bad..name' is not a dotted path") != std::string::npos, bad);
  c = sample_checkpoint(1);
  c.metrics.loss.pop_back();
  CHECK(error_of([&] { write_checkpoint(c, dir / "a.h5"); }).find("metrics columns differ") !=
        std::string::npos);
  CHECK(!fs::exists(dir / "a.h5"));
  CHECK(!has_tmp_files(dir.path()));

  std::string e = error_of([&] { write_checkpoint(sample_checkpoint(1), dir / "no/such/dir/a.h5"); });
  CHECK_MESSAGE(e.find("checkpoint '" + dir / "no/such/dir/a.h5.tmp" + "': cannot create the file") == 0, e);
  if (::geteuid() != 0) {  // root ignores permissions
    fs::create_directories(dir / "ro");
    fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    e = error_of([&] { save_checkpoint(sample_checkpoint(1), dir / "ro", 2); });
    CHECK_MESSAGE(e.find("cannot create the file") != std::string::npos, e);
    fs::permissions(dir / "ro", fs::perms::owner_all);
  }
}

TEST_CASE("checkpoint: save_checkpoint names files by step, leaves no .tmp and prunes to keep_last") {
  TempDir dir("ckpt_prune");
  std::string ck = dir / "checkpoints";
  CHECK(checkpoint_path(ck, 100) == ck + "/step_00000100.h5");
  CHECK(list_checkpoints(ck).empty());
  for (int64_t step : {100, 200, 300, 400, 500})
    CHECK(save_checkpoint(sample_checkpoint(step), ck, 2) == checkpoint_path(ck, step));
  CHECK(list_checkpoints(ck) == std::vector<std::string>{checkpoint_path(ck, 500), checkpoint_path(ck, 400)});
  CHECK(!has_tmp_files(ck));
  // The file just written is never pruned, even when newer steps exist (a run resumed from an older one).
  save_checkpoint(sample_checkpoint(450), ck, 1);
  CHECK(list_checkpoints(ck) == std::vector<std::string>{checkpoint_path(ck, 500), checkpoint_path(ck, 450)});
  // keep_last = 0 keeps everything; other files in the folder are never touched.
  std::ofstream(dir / "checkpoints/notes.txt") << "mine";
  for (int64_t step : {600, 700, 800}) save_checkpoint(sample_checkpoint(step), ck, 0);
  CHECK(list_checkpoints(ck).size() == 5);
  CHECK(fs::exists(dir / "checkpoints/notes.txt"));
}

TEST_CASE("checkpoint: truncated, random, foreign and missing files are refused and left intact") {
  TempDir dir("ckpt_corrupt");
  std::string good = dir / "good.h5";
  write_checkpoint(sample_checkpoint(7), good);
  std::string original = file_bytes(good);

  // Truncated copy.
  std::string truncated = dir / "truncated.h5";
  fs::copy_file(good, truncated);
  fs::resize_file(truncated, original.size() / 2);
  std::string before = file_bytes(truncated);
  std::string e = error_of([&] { read_checkpoint(truncated); });
  CHECK_MESSAGE(e == "checkpoint '" + truncated + "': damaged (" + std::to_string(original.size() / 2) +
                         " bytes, the seal says " + std::to_string(original.size()) + ": truncated or extended)",
                e);
  CHECK(file_bytes(truncated) == before);

  // Random bytes.
  std::string random = dir / "random.h5";
  {
    std::ofstream out(random, std::ios::binary);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 4096; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      out.put(static_cast<char>(x));
    }
  }
  before = file_bytes(random);
  e = error_of([&] { read_checkpoint(random); });
  CHECK_MESSAGE(e == "checkpoint '" + random +
                         "': not a lat checkpoint (no lat seal and no HDF5 signature: foreign or damaged file)",
                e);
  CHECK(file_bytes(random) == before);

  // A valid HDF5 file that is not ours.
  std::string foreign = dir / "foreign.h5";
  hid_t f = H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(f >= 0);
  H5Gclose(H5Gcreate2(f, "/model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Fclose(f);
  e = error_of([&] { read_checkpoint(foreign); });
  CHECK_MESSAGE(e.find("checkpoint '" + foreign + "': not a lat checkpoint (an HDF5 file without lat's integrity seal") == 0,
                e);

  // Damaged metadata in the middle of the file: bytes overwritten after the superblock.
  std::string damaged = dir / "damaged.h5";
  fs::copy_file(good, damaged);
  {
    std::fstream io(damaged, std::ios::binary | std::ios::in | std::ios::out);
    io.seekp(512 + 96);  // past the seal, into HDF5's superblock and root group
    for (int i = 0; i < 2048; ++i) io.put(static_cast<char>(0xA5));
  }
  e = error_of([&] { read_checkpoint(damaged); });
  CHECK_MESSAGE(e.find("checkpoint '" + damaged + "': damaged (checksum mismatch: crc64 ") == 0, e);

  // Missing.
  CHECK(error_of([&] { read_checkpoint(dir / "missing.h5"); }) ==
        "checkpoint '" + dir / "missing.h5" + "': no such file");

  // An export is not a checkpoint.
  export_analysis(sample_checkpoint(7), dir / "export.h5");
  e = error_of([&] { read_checkpoint(dir / "export.h5"); });
  CHECK(e.find("lat-export analysis file") != std::string::npos);

  CHECK(file_bytes(good) == original);
  CHECK(read_checkpoint(good).step == 7);
}

TEST_CASE("checkpoint: scan_checkpoints skips a corrupt newest file and reports it") {
  TempDir dir("ckpt_latest");
  CHECK(!scan_checkpoints(dir / "none").latest.has_value());
  CHECK(!scan_checkpoints(dir.path()).latest.has_value());
  for (int64_t step : {100, 200, 300}) save_checkpoint(sample_checkpoint(step), dir.path(), 0);
  CHECK(scan_checkpoints(dir.path()).latest == checkpoint_path(dir.path(), 300));
  std::string newest = checkpoint_path(dir.path(), 300);
  fs::resize_file(newest, fs::file_size(newest) - 100);
  set_log_level(LogLevel::Off);  // the warning names the skipped file; keep test output quiet
  CheckpointScan scan = scan_checkpoints(dir.path());
  CHECK(scan.latest == checkpoint_path(dir.path(), 200));
  REQUIRE(scan.damaged.size() == 1);
  CHECK(scan.damaged[0].find("checkpoint '" + newest + "': damaged") == 0);
  std::ofstream(checkpoint_path(dir.path(), 400)) << "not hdf5";
  std::ofstream(dir / "step_99999999999999999999.h5") << "a stray name";
  scan = scan_checkpoints(dir.path());
  CHECK(scan.latest == checkpoint_path(dir.path(), 200));
  CHECK(scan.damaged.size() == 2);
  CHECK(scan.ignored == std::vector<std::string>{dir / "step_99999999999999999999.h5"});
  set_log_level(LogLevel::Info);
  CHECK(fs::exists(newest));  // skipped, not deleted
}

TEST_CASE("checkpoint: names are parsed safely, a stray name is ignored by listing, saving and pruning") {
  CHECK(checkpoint_step("step_00000100.h5") == 100);
  CHECK(checkpoint_step("step_9223372036854775807.h5") == std::numeric_limits<int64_t>::max());
  for (const char* bad : {"step_99999999999999999999.h5", "step_9223372036854775808.h5", "step_.h5", "step_-1.h5",
                          "step_1x.h5", "step_ 1.h5", "step_1.h5.tmp", "Step_1.h5", "step_1.H5"})
    CHECK_MESSAGE(!checkpoint_step(bad).has_value(), bad);
  TempDir dir("ckpt_stray");
  const std::string stray = dir.write("step_99999999999999999999.h5", "stray");
  std::vector<std::string> ignored;
  CHECK(list_checkpoints(dir.path(), &ignored).empty());
  CHECK(ignored == std::vector<std::string>{stray});
  for (int64_t step : {1, 2, 3}) save_checkpoint(sample_checkpoint(step), dir.path(), 2);
  CHECK(list_checkpoints(dir.path()) == std::vector<std::string>{checkpoint_path(dir.path(), 3), checkpoint_path(dir.path(), 2)});
  CHECK(file_bytes(stray) == "stray");
}

TEST_CASE("checkpoint: export_analysis has weights, shapes, config and metrics but no optimizer state") {
  TempDir dir("ckpt_export");
  Checkpoint c = sample_checkpoint(42);
  c.tokenizer = "{\"model\": {}}";
  std::string out = dir / "analysis.h5";
  export_analysis(c, out);
  CHECK(!has_tmp_files(dir.path()));
  CHECK(!hdf5_has(out, "/optim"));
  CHECK(!hdf5_has(out, "/state"));
  CHECK(hdf5_has(out, "/model/layers/10/mlp/w_up"));
  CHECK(hdf5_has(out, "/metrics/loss"));
  CHECK(hdf5_has(out, "/config"));

  hid_t f = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  int64_t d_model = 0, version = 0;
  hid_t a = H5Aopen_by_name(f, "/config", "model.d_model", H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(a >= 0);
  H5Aread(a, H5T_NATIVE_INT64, &d_model);
  H5Aclose(a);
  CHECK(H5Aexists(f, "tokenizer") > 0);
  a = H5Aopen(f, "lat_export_version", H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_INT64, &version);
  H5Aclose(a);
  int64_t shape[3] = {0, 0, 0};
  a = H5Aopen_by_name(f, "/model/layers/10/mlp/w_up", "shape", H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(a >= 0);
  H5Aread(a, H5T_NATIVE_INT64, shape);
  H5Aclose(a);
  std::vector<float> w(24);
  hid_t d = H5Dopen2(f, "/model/layers/10/mlp/w_up", H5P_DEFAULT);
  H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w.data());
  H5Dclose(d);
  H5Fclose(f);
  CHECK(d_model == 128);
  CHECK(version == 1);
  CHECK(shape[0] == 2);
  CHECK(shape[1] == 3);
  CHECK(shape[2] == 4);
  CHECK(w == c.model.at("layers.10.mlp.w_up").to_vector<float>());
}
