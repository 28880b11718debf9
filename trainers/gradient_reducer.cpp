#include "trainers/gradient_reducer.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "autograd/engine_hooks.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/elementwise.h"

namespace lat::trainers {

const char* overlap_mode_name(OverlapMode mode) {
  switch (mode) {
    case OverlapMode::Inline: return "inline";
    case OverlapMode::Thread: return "thread";
    default: return "auto";
  }
}

OverlapMode resolve_overlap_mode(OverlapMode requested, const Communicator& comm, int compute_threads) {
  if (requested == OverlapMode::Auto) {
    if (const char* v = std::getenv("LAT_OVERLAP_MODE"); v != nullptr && *v != '\0') {
      const std::string s(v);
      if (s == "inline") requested = OverlapMode::Inline;
      else if (s == "thread") requested = OverlapMode::Thread;
      else LAT_CHECK(s == "auto", "LAT_OVERLAP_MODE must be inline, thread or auto, got '", s, "'");
    }
  }
  if (requested != OverlapMode::Auto) return requested;
  // NCCL starts a bucket's all-reduce on its communication stream and returns: inline, no thread. On MPI (CPU) a
  // thread needs a core of its own.
  if (comm.name() == "nccl") return OverlapMode::Inline;
  if (comm.name() != "mpi") return OverlapMode::Thread;
  return comm.cpus_per_rank() >= compute_threads + 1 ? OverlapMode::Thread : OverlapMode::Inline;
}

GradientReducer::GradientReducer(std::vector<autograd::nn::NamedParameter> params, Communicator& comm,
                                 double bucket_mb, bool overlap, double first_bucket_mb, OverlapMode mode,
                                 GradientReduction reduction)
    : params_(std::move(params)), comm_(comm), overlap_(overlap), reduction_(reduction) {
  if (const char* v = std::getenv("LAT_REDUCER_STATS")) stats_on_ = *v != '\0' && std::string(v) != "0";
  if (const char* v = std::getenv("LAT_OVERLAP_PROGRESS")) progress_every_node_ = std::string(v) != "hooks";
  LAT_CHECK(bucket_mb > 0, "distributed.bucket_mb must be positive, got ", bucket_mb);
  bucket_of_.assign(params_.size(), 0);
  double limit_bytes = std::min(first_bucket_mb, bucket_mb) * 1024 * 1024;  // the first bucket is the small one
  Bucket current;
  double bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& t = params_[k].variable.data();
    LAT_CHECK(t.dtype() == params_[0].variable.dtype(), "gradient buckets need one parameter dtype");
    current.params.push_back(k);
    current.numel += t.numel();
    bytes += static_cast<double>(t.nbytes());
    if (bytes >= limit_bytes) {
      buckets_.push_back(std::move(current));
      current = Bucket();
      bytes = 0;
      limit_bytes = bucket_mb * 1024 * 1024;
    }
  }
  if (!current.params.empty()) buckets_.push_back(std::move(current));
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (size_t k : buckets_[b].params) bucket_of_[k] = b;
    const Tensor& like = params_[buckets_[b].params.front()].variable.data();
    // ReduceScatter: padded to whole chunks. The padding is never read (the sharded optimizer's segments and the
    // unpacking stop at the last parameter), so the scratch a reduce-scatter may leave in it does no harm.
    const int64_t world = reduction_ == GradientReduction::ReduceScatter ? comm_.world_size() : 1;
    const int64_t padded = (buckets_[b].numel + world - 1) / world * world;
    buckets_[b].flat = Tensor::zeros(Shape{padded}, like.dtype(), like.device());
  }
  if (overlap_) {
    mode_ = resolve_overlap_mode(mode, comm_, omp_get_max_threads());
    for (size_t k = 0; k < params_.size(); ++k) params_[k].variable.set_grad_ready_hook([this, k] { on_ready(k); });
    if (mode_ == OverlapMode::Thread) {
      channel_ = std::make_shared<Channel>();
      // A core of its own: the blocking all-reduce, unless LAT_MPI_POLL_US asks for the polling one.
      const bool own_core = comm_.cpus_per_rank() >= omp_get_max_threads() + 1 && std::getenv("LAT_MPI_POLL_US") == nullptr;
      thread_ = std::thread(worker, channel_, &comm_, own_core, reduction_);
    }
  }
  static bool logged = false;  // once per process (lat-bench builds several reducers)
  if (comm_.is_root() && !std::exchange(logged, true))
    log_info("gradient buckets: {} ({} MB, first {} MB, {}); overlap {} ({:.3g} CPUs per rank, {} compute threads)",
             buckets_.size(), bucket_mb, std::min(first_bucket_mb, bucket_mb),
             reduction_ == GradientReduction::ReduceScatter ? "reduce-scatter (ZeRO-1)" : "all-reduce",
             overlap_ ? overlap_mode_name(mode_) : "off",
             comm_.cpus_per_rank(), omp_get_max_threads());
}

GradientReducer::~GradientReducer() {
  if (hook_installed_) autograd::set_backward_progress_hook(std::move(previous_hook_));
  if (stats_on_ && stats_.steps > 0) {
    const double n = static_cast<double>(stats_.steps);
    std::fprintf(stderr,
                 "reducer stats rank %d (%s, %lld steps, ms per step): backward %.1f, pack %.1f, start %.2f, "
                 "test %.2f (%.1f tests), finish: late launches %.1f, wait %.1f, average+unpack %.1f; "
                 "buckets done before finish %.1f of %zu\n",
                 comm_.rank(), overlap_ ? overlap_mode_name(mode_) : "off", static_cast<long long>(stats_.steps),
                 1e3 * stats_.backward_s / n, 1e3 * stats_.pack_s / n, 1e3 * stats_.start_s / n, 1e3 * stats_.test_s / n,
                 static_cast<double>(stats_.tests) / n, 1e3 * stats_.tail_s / n, 1e3 * stats_.wait_s / n,
                 1e3 * stats_.unpack_s / n, static_cast<double>(stats_.done_before_finish) / n, buckets_.size());
  }
  for (auto& p : params_) p.variable.set_grad_ready_hook(nullptr);
  // Inline all-reduces still in flight (an exception mid-backward): their destructors leak the buffers.
  if (!thread_.joinable()) return;
  bool busy;
  {
    std::lock_guard<std::mutex> lock(channel_->mutex);
    channel_->stopping = true;
    channel_->queue.clear();
    busy = channel_->busy;
  }
  channel_->cv.notify_all();
  // A thread inside a collective may never return (the peers are gone and the job is being aborted): leave it.
  if (busy) thread_.detach();
  else thread_.join();
}

std::vector<std::vector<size_t>> GradientReducer::bucket_layout() const {
  std::vector<std::vector<size_t>> out;
  for (const auto& b : buckets_) out.push_back(b.params);
  return out;
}

void GradientReducer::arm() {
  armed_ = true;
  arm_timer_.reset();
  if (channel_) {
    std::lock_guard<std::mutex> lock(channel_->mutex);
    channel_->completed = 0;
  }
  for (auto& b : buckets_) {
    b.pending = static_cast<int>(b.params.size());
    b.launched = false;
    b.pending_reduce.reset();
  }
  oldest_in_flight_ = 0;
  // Inline: also advance the all-reduces in flight between backward's nodes, not only at grad-ready hooks
  // (those come in bursts: a layer's parameters at once). Removed again by finish().
  if (mode_ == OverlapMode::Inline && progress_every_node_)
    previous_hook_ = autograd::set_backward_progress_hook([this] { progress(); });
  hook_installed_ = mode_ == OverlapMode::Inline && progress_every_node_;
}

void GradientReducer::on_ready(size_t param) {
  if (!armed_) return;
  Bucket& b = buckets_[bucket_of_[param]];
  if (--b.pending == 0) launch(bucket_of_[param]);
  else if (mode_ == OverlapMode::Inline) progress();
}

void GradientReducer::progress() {
  if (oldest_in_flight_ >= buckets_.size() || !buckets_[oldest_in_flight_].launched) return;  // nothing in flight
  Timer timer;
  // Testing the oldest request drives MPI's progress engine for all of them; stop at the first unfinished.
  while (oldest_in_flight_ < buckets_.size()) {
    Bucket& b = buckets_[oldest_in_flight_];
    if (!b.launched) break;
    if (b.pending_reduce) {
      ++stats_.tests;
      if (!b.pending_reduce->test()) break;
    }
    b.pending_reduce.reset();
    ++oldest_in_flight_;
  }
  stats_.test_s += timer.seconds();
}

// Packs the bucket's gradients (zeros for a parameter that got none) into its flat buffer.
void GradientReducer::launch(size_t index) {
  Bucket& b = buckets_[index];
  b.launched = true;
  Timer timer;
  int64_t offset = 0;
  for (size_t k : b.params) {
    auto& v = params_[k].variable;
    const int64_t n = v.data().numel();
    Tensor dst = b.flat.slice(0, offset, offset + n).view(v.shape());
    if (v.grad().defined()) dst.copy_(v.grad());
    else dst.zero_();
    offset += n;
  }
  stats_.pack_s += timer.seconds();
  if (!overlap_) {
    reduce_now(b);
    return;
  }
  if (mode_ == OverlapMode::Inline) {
    timer.reset();
    b.pending_reduce = start_reduce(b);
    stats_.start_s += timer.seconds();
    progress();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(channel_->mutex);
    channel_->queue.push_back(b.flat);
  }
  channel_->cv.notify_all();
}

void GradientReducer::reduce_now(Bucket& b) {
  if (reduction_ == GradientReduction::ReduceScatter) comm_.reduce_scatter_sum(b.flat);
  else comm_.all_reduce_sum(b.flat);
}

std::unique_ptr<PendingCollective> GradientReducer::start_reduce(Bucket& b) {
  if (reduction_ == GradientReduction::ReduceScatter) return comm_.start_reduce_scatter_sum(b.flat);
  return comm_.start_all_reduce_sum(b.flat);
}

void GradientReducer::worker(std::shared_ptr<Channel> channel, Communicator* comm, bool blocking,
                             GradientReduction reduction) {
  std::unique_lock<std::mutex> lock(channel->mutex);
  for (;;) {
    channel->cv.wait(lock, [&] { return channel->stopping || !channel->queue.empty(); });
    if (channel->stopping) return;
    Tensor flat = std::move(channel->queue.front());
    channel->queue.pop_front();
    channel->busy = true;
    lock.unlock();
    std::string error;
    try {
      // Not blocking: the started reduce-scatter's wait() tests and yields the core between tests.
      if (reduction == GradientReduction::ReduceScatter) {
        if (blocking) comm->reduce_scatter_sum(flat);
        else comm->start_reduce_scatter_sum(flat)->wait();
      } else if (blocking) {
        comm->all_reduce_sum(flat);
      } else {
        comm->all_reduce_sum_background(flat);
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    channel->busy = false;
    if (!error.empty() && channel->error.empty()) channel->error = error;
    ++channel->completed;
    channel->cv.notify_all();
  }
}

void GradientReducer::finish() {
  LAT_CHECK(armed_, "GradientReducer::finish without arm()");
  if (hook_installed_) {
    autograd::set_backward_progress_hook(std::move(previous_hook_));
    hook_installed_ = false;
  }
  stats_.backward_s += arm_timer_.seconds();
  ++stats_.steps;
  if (mode_ == OverlapMode::Inline) stats_.done_before_finish += static_cast<int64_t>(oldest_in_flight_);
  if (channel_) {
    std::lock_guard<std::mutex> lock(channel_->mutex);
    stats_.done_before_finish += static_cast<int64_t>(channel_->completed);
  }
  Timer timer;
  // Buckets not launched by hooks (overlap off, or parameters that received no gradient) go now, in order.
  for (size_t b = 0; b < buckets_.size(); ++b)
    if (!buckets_[b].launched) launch(b);
  stats_.tail_s += timer.seconds();
  timer.reset();
  if (mode_ == OverlapMode::Inline) {
    for (auto& b : buckets_)
      if (b.pending_reduce) {
        b.pending_reduce->wait();
        b.pending_reduce.reset();
      }
  } else if (overlap_) {
    // The communicator's watchdog (distributed.watchdog_seconds) aborts the job if a collective never ends.
    std::unique_lock<std::mutex> lock(channel_->mutex);
    channel_->cv.wait(lock, [this] { return channel_->completed == buckets_.size(); });
    if (!channel_->error.empty()) {
      armed_ = false;
      LAT_THROW("gradient all-reduce failed: ", channel_->error);
    }
  }
  stats_.wait_s += timer.seconds();
  timer.reset();
  const double inv = 1.0 / comm_.world_size();
  if (reduction_ == GradientReduction::ReduceScatter) {
    // This rank's chunks are what the sharded optimizer reads; the whole gradients are not needed any more.
    const int64_t rank = comm_.rank(), world = comm_.world_size();
    for (auto& b : buckets_) {
      const int64_t n = b.flat.numel() / world;
      Tensor mine = b.flat.slice(0, rank * n, (rank + 1) * n);
      kernels::scale_(mine, inv);
    }
    for (auto& p : params_) p.variable.zero_grad();
    stats_.unpack_s += timer.seconds();
    armed_ = false;
    return;
  }
  for (auto& b : buckets_) {
    kernels::scale_(b.flat, inv);
    int64_t offset = 0;
    for (size_t k : b.params) {
      auto& v = params_[k].variable;
      const int64_t n = v.data().numel();
      Tensor src = b.flat.slice(0, offset, offset + n).view(v.shape());
      if (!v.grad().defined()) v.grad() = Tensor::empty_like(v.data());
      v.grad().copy_(src);
      offset += n;
    }
  }
  stats_.unpack_s += timer.seconds();
  armed_ = false;
}

}  // namespace lat::trainers
