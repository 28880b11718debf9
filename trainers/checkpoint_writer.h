// Checkpoints written while training goes on. The trainer copies its state to host memory (Trainer's
// make_checkpoint: device-to-host copies, then training continues) and hands the copy to the writer, whose
// background thread runs save_checkpoint (trainers/checkpoint.h): path.tmp, seal, fsync, atomic rename,
// pruning. The crash guarantees are those of save_checkpoint: a SIGKILL at any moment leaves every complete
// checkpoint readable and at most a .tmp behind.
//
// One write at a time: submit() first waits for the write in flight, so at most one host copy of the state
// exists besides the one being made. HDF5 is not thread-safe in every build: while a write is in flight this
// thread is the only one that calls HDF5 (the trainer reads checkpoints only before training starts, and the
// reader's forked verifier, trainers/isolated_call.h, runs only then).
#pragma once

#include <exception>
#include <string>
#include <thread>

#include "trainers/checkpoint.h"

namespace lat {

class CheckpointWriter {
 public:
  // async false: submit() writes before it returns (the old behaviour, for comparisons and tests).
  explicit CheckpointWriter(bool async) : async_(async) {}
  // Waits for the write in flight; an error it had is logged (a destructor cannot throw).
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Waits for the previous write (rethrowing its error), then saves `ckpt` as save_checkpoint(ckpt, dir,
  // keep_last, keep) does, on the background thread when async. Returns the path it writes.
  std::string submit(Checkpoint ckpt, const std::string& dir, int64_t keep_last,
                     const std::string& keep = "");
  // Waits for the write in flight, if any; rethrows its lat::Error.
  void wait();
  bool async() const { return async_; }

 private:
  bool async_;
  std::thread worker_;
  std::exception_ptr error_;
};

}  // namespace lat
