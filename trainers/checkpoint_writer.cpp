#include "trainers/checkpoint_writer.h"

#include "core/error.h"
#include "core/log.h"

namespace lat {

CheckpointWriter::~CheckpointWriter() {
  try {
    wait();
  } catch (const std::exception& e) {
    log_error("{}", e.what());
  }
}

void CheckpointWriter::wait() {
  if (worker_.joinable()) worker_.join();
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

std::string CheckpointWriter::submit(Checkpoint ckpt, const std::string& dir, int64_t keep_last,
                                     const std::string& keep) {
  wait();
  const std::string path = checkpoint_path(dir, ckpt.step);
  if (!async_) return save_checkpoint(ckpt, dir, keep_last, keep);
  worker_ = std::thread([this, ckpt = std::move(ckpt), dir, keep_last, keep] {
    try {
      save_checkpoint(ckpt, dir, keep_last, keep);
    } catch (...) {
      error_ = std::current_exception();
    }
  });
  return path;
}

}  // namespace lat
