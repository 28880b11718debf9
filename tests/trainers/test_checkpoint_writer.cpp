// Asynchronous checkpoints (trainers/checkpoint_writer.h): what the background thread writes reads back
// exactly as what was handed over, writes are serialised, an error surfaces at the next wait with no .tmp
// left, and pruning keeps the file the trainer asks it to keep.
#include <doctest/doctest.h>

#include <filesystem>

#include "core/error.h"
#include "support/sample_checkpoint.h"
#include "support/temp_dir.h"
#include "trainers/checkpoint.h"
#include "trainers/checkpoint_writer.h"

using namespace lat;
using lat::testing::error_of;
using lat::testing::sample_checkpoint;
using lat::testing::TempDir;
namespace fs = std::filesystem;

namespace {

void check_same(const Checkpoint& a, const Checkpoint& b) {
  CHECK(a.step == b.step);
  CHECK(a.metrics == b.metrics);
  REQUIRE(a.model.size() == b.model.size());
  for (const auto& entry : a.model) {
    CAPTURE(entry.first);
    CHECK(entry.second.to_vector<float>() == b.model.at(entry.first).to_vector<float>());
    CHECK(a.optim_v.at(entry.first).to_vector<float>() == b.optim_v.at(entry.first).to_vector<float>());
  }
}

}  // namespace

TEST_CASE("checkpoint writer: async and sync writes read back exactly, one write at a time") {
  TempDir dir("ckpt_writer");
  for (const bool async : {true, false}) {
    CAPTURE(async);
    const std::string folder = dir / (async ? "async" : "sync");
    CheckpointWriter writer(async);
    // Three saves in a row: each waits for the one before, and keep_last = 2 prunes the first.
    for (int64_t step : {2, 4, 6})
      CHECK(writer.submit(sample_checkpoint(step), folder, 2) == checkpoint_path(folder, step));
    writer.wait();
    CHECK(list_checkpoints(folder) ==
          std::vector<std::string>{checkpoint_path(folder, 6), checkpoint_path(folder, 4)});
    check_same(read_checkpoint(checkpoint_path(folder, 6)), sample_checkpoint(6));
    for (const auto& e : fs::directory_iterator(folder)) CHECK(e.path().extension() != ".tmp");
  }
}

TEST_CASE("checkpoint writer: a failed background write surfaces at the next wait, naming the file") {
  TempDir dir("ckpt_writer_error");
  const std::string blocker = dir.write("not_a_folder", "x");
  CheckpointWriter writer(true);
  writer.submit(sample_checkpoint(2), blocker + "/checkpoints", 0);
  const std::string e = error_of([&] { writer.wait(); });
  CHECK(e.find("not_a_folder/checkpoints") != std::string::npos);
  CHECK_NOTHROW(writer.wait());  // reported once
  // The writer is usable again afterwards.
  writer.submit(sample_checkpoint(4), dir / "ok", 0);
  writer.wait();
  CHECK(read_checkpoint(checkpoint_path(dir / "ok", 4)).step == 4);
}

TEST_CASE("checkpoint writer: pruning never deletes the checkpoint it is told to keep") {
  TempDir dir("ckpt_writer_keep");
  const std::string folder = dir / "c";
  CheckpointWriter writer(true);
  for (int64_t step : {2, 4}) writer.submit(sample_checkpoint(step), folder, 1);
  writer.submit(sample_checkpoint(6), folder, 1, checkpoint_path(folder, 4));
  writer.submit(sample_checkpoint(8), folder, 1, checkpoint_path(folder, 4));
  writer.wait();
  CHECK(list_checkpoints(folder) ==
        std::vector<std::string>{checkpoint_path(folder, 8), checkpoint_path(folder, 4)});
}
