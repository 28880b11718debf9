// Data-parallel gradient averaging in fixed-order buckets, overlapped with backward.
//
// Parameters are grouped, in reverse registration order (the order backward tends to produce their
// gradients), into buckets of about `bucket_mb` (the first one small, so communication starts early).
// When `overlap` is on, each leaf's grad-ready hook (autograd engine) marks it done; the bucket whose last
// gradient arrives is packed into one flat buffer and handed to a communication thread, which reduces it
// while backward goes on. finish() waits for the rest, divides by the world size and unpacks. With overlap
// off the same buckets are reduced in the same order after backward, so both give identical numbers.
// Only the communication thread calls the communicator between arm() and finish().
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "autograd/nn/module.h"
#include "trainers/communicator.h"

namespace lat::trainers {

class GradientReducer {
 public:
  GradientReducer(std::vector<autograd::nn::NamedParameter> params, Communicator& comm, double bucket_mb,
                  bool overlap, double first_bucket_mb = 1.0);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Call before the backward whose gradients are to be reduced (the last micro-batch of a step).
  void arm();
  // After that backward: every bucket reduced and averaged, gradients hold the mean over ranks.
  void finish();

  size_t num_buckets() const { return buckets_.size(); }
  // Parameter indices per bucket, in reduction order (for tests and docs).
  std::vector<std::vector<size_t>> bucket_layout() const;

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    int64_t numel = 0;
    int pending = 0;
    bool launched = false;
    Tensor flat;
  };
  void on_ready(size_t param);
  void launch(size_t bucket);

  // What the communication thread shares with the reducer. Held by shared_ptr so that a reducer destroyed
  // while its thread is stuck in a collective (an exception on this rank mid-backward, the job about to be
  // aborted) can detach the thread instead of hanging in join().
  struct Channel {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<Tensor> queue;  // flat bucket buffers to reduce, in order
    size_t completed = 0;
    bool stopping = false;
    bool busy = false;   // the thread is inside a collective
    std::string error;   // the first exception the thread caught; finish() rethrows it
  };
  static void worker(std::shared_ptr<Channel> channel, Communicator* comm);

  std::vector<autograd::nn::NamedParameter> params_;
  std::vector<size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  Communicator& comm_;
  bool overlap_;
  bool armed_ = false;
  std::shared_ptr<Channel> channel_;
  std::thread thread_;
};

}  // namespace lat::trainers
