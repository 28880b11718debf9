// Data-parallel gradient averaging in fixed-order buckets, overlapped with backward.
//
// Parameters are grouped, in reverse registration order (the order backward tends to produce their
// gradients), into buckets of about `bucket_mb` (the first one small, so communication starts early).
// When `overlap` is on, each leaf's grad-ready hook (autograd engine) marks it done; the bucket whose last
// gradient arrives is packed into one flat buffer (while it is hot in cache) and its all-reduce started, in
// one of two ways (OverlapMode):
//   inline  the backward thread itself starts a non-blocking all-reduce and advances the ones in flight
//           between backward's nodes (autograd/engine_hooks.h) and at later grad-ready hooks (MPI moves data
//           only inside MPI calls). No extra thread: for CPU ranks that use every core, and for NCCL, whose
//           started all-reduce runs on its own stream next to backward's kernels (finish() makes the compute
//           stream wait for it).
//   thread  a communication thread runs the all-reduces one after the other while backward goes on: for
//           CPU ranks with a spare core each (NCCL here enqueues on the compute stream: no overlap).
// finish() waits for the rest, divides by the world size and unpacks. Under ZeRO-1
// (GradientReduction::ReduceScatter) each bucket is reduce-scattered instead: finish() leaves this rank's chunk of
// every bucket averaged in the flat buffer, for the sharded optimizer (trainers/sharded_optimizer.h), and drops
// the parameters' own gradients. With overlap off the same buckets are reduced in the same order after backward,
// so all give identical numbers (at two ranks; see docs/distributed.md). In thread mode only the communication thread calls the communicator between arm()
// and finish().
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "autograd/nn/module.h"
#include "core/timer.h"
#include "trainers/communicator.h"

namespace lat::trainers {

enum class OverlapMode { Auto, Inline, Thread };

// What finish() leaves behind. AllReduce: every parameter's grad() holds the mean over ranks (plain data parallel).
// ReduceScatter (ZeRO-1): chunk rank() of each bucket's flat buffer holds the mean over ranks of those elements
// (each buffer is padded with zeros to a multiple of the world size; chunks as Communicator::reduce_scatter_sum);
// the other chunks are scratch and the parameters' grad() are dropped.
enum class GradientReduction { AllReduce, ReduceScatter };

// Auto's choice: inline on the MPI (CPU) communicator unless every rank has a core to spare for a
// communication thread (comm.cpus_per_rank() >= compute threads + 1), thread otherwise. LAT_OVERLAP_MODE
// (inline | thread | auto) overrides Auto.
OverlapMode resolve_overlap_mode(OverlapMode requested, const Communicator& comm, int compute_threads);
const char* overlap_mode_name(OverlapMode mode);

class GradientReducer {
 public:
  GradientReducer(std::vector<autograd::nn::NamedParameter> params, Communicator& comm, double bucket_mb,
                  bool overlap, double first_bucket_mb = 1.0, OverlapMode mode = OverlapMode::Auto,
                  GradientReduction reduction = GradientReduction::AllReduce);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Call before the backward whose gradients are to be reduced (the last micro-batch of a step).
  void arm();
  // After that backward: every bucket reduced and averaged, gradients hold the mean over ranks.
  void finish();

  size_t num_buckets() const { return buckets_.size(); }
  // With overlap on: inline or thread (never Auto); with it off: Auto.
  OverlapMode mode() const { return mode_; }
  // Parameter indices per bucket, in reduction order; each bucket's flat buffer holds its parameters' elements
  // back to back in this order (then the padding, under ReduceScatter).
  std::vector<std::vector<size_t>> bucket_layout() const;
  GradientReduction reduction() const { return reduction_; }
  // Bucket b's flat buffer (ReduceScatter: [a multiple of the world size], chunk rank() as above after finish()).
  // The sharded optimizer reads its chunk and all-gathers the updated parameters through it between steps.
  Tensor& bucket_buffer(size_t b) { return buckets_[b].flat; }
  const std::vector<autograd::nn::NamedParameter>& parameters() const { return params_; }
  Communicator& communicator() { return comm_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    int64_t numel = 0;
    int pending = 0;
    bool launched = false;
    Tensor flat;
    std::unique_ptr<PendingCollective> pending_reduce;  // inline mode: its all-reduce in flight
  };
  void on_ready(size_t param);
  void launch(size_t bucket);
  void progress();  // inline mode: advances the all-reduces in flight

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
  // blocking: the thread has a core of its own, so it waits in the communicator's blocking all-reduce
  // (MPI spins, and moves data at full speed); otherwise all_reduce_sum_background (polls with sleeps).
  static void worker(std::shared_ptr<Channel> channel, Communicator* comm, bool blocking, GradientReduction reduction);
  // Bucket b's collective, blocking (overlap off) or started (inline).
  void reduce_now(Bucket& b);
  std::unique_ptr<PendingCollective> start_reduce(Bucket& b);

  // LAT_REDUCER_STATS=1: where the reducer's time went, summed over steps, printed by every rank at the end.
  struct Stats {
    int64_t steps = 0, tests = 0, done_before_finish = 0;
    double backward_s = 0, pack_s = 0, start_s = 0, test_s = 0, tail_s = 0, wait_s = 0, unpack_s = 0;
  };
  bool stats_on_ = false;
  Stats stats_;
  Timer arm_timer_;

  std::vector<autograd::nn::NamedParameter> params_;
  std::vector<size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  Communicator& comm_;
  bool overlap_;
  GradientReduction reduction_;
  OverlapMode mode_ = OverlapMode::Auto;
  bool armed_ = false;
  size_t oldest_in_flight_ = 0;  // inline mode: buckets before it have finished their all-reduce
  // Inline: progress() also runs after every backward node (LAT_OVERLAP_PROGRESS=hooks: only at grad-ready hooks).
  bool progress_every_node_ = true;
  bool hook_installed_ = false;
  std::function<void()> previous_hook_;  // the engine's progress hook before arm() installed ours
  std::shared_ptr<Channel> channel_;
  std::thread thread_;
};

}  // namespace lat::trainers
