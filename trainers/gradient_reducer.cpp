#include "trainers/gradient_reducer.h"

#include <cstring>

#include "core/error.h"
#include "kernels/elementwise.h"

namespace lat::trainers {

GradientReducer::GradientReducer(std::vector<autograd::nn::NamedParameter> params, Communicator& comm,
                                 double bucket_mb, bool overlap, double first_bucket_mb)
    : params_(std::move(params)), comm_(comm), overlap_(overlap) {
  LAT_CHECK(bucket_mb > 0, "distributed.bucket_mb must be positive, got ", bucket_mb);
  bucket_of_.assign(params_.size(), 0);
  double limit_bytes = first_bucket_mb * 1024 * 1024;
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
    buckets_[b].flat = Tensor::empty(Shape{buckets_[b].numel}, like.dtype(), like.device());
  }
  if (overlap_) {
    for (size_t k = 0; k < params_.size(); ++k) params_[k].variable.set_grad_ready_hook([this, k] { on_ready(k); });
    channel_ = std::make_shared<Channel>();
    thread_ = std::thread(worker, channel_, &comm_);
  }
}

GradientReducer::~GradientReducer() {
  for (auto& p : params_) p.variable.set_grad_ready_hook(nullptr);
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
  if (channel_) {
    std::lock_guard<std::mutex> lock(channel_->mutex);
    channel_->completed = 0;
  }
  for (auto& b : buckets_) {
    b.pending = static_cast<int>(b.params.size());
    b.launched = false;
  }
}

void GradientReducer::on_ready(size_t param) {
  if (!armed_) return;
  Bucket& b = buckets_[bucket_of_[param]];
  if (--b.pending == 0) launch(bucket_of_[param]);
}

// Packs the bucket's gradients (zeros for a parameter that got none) into its flat buffer.
void GradientReducer::launch(size_t index) {
  Bucket& b = buckets_[index];
  b.launched = true;
  int64_t offset = 0;
  for (size_t k : b.params) {
    auto& v = params_[k].variable;
    const int64_t n = v.data().numel();
    Tensor dst = b.flat.slice(0, offset, offset + n).view(v.shape());
    if (v.grad().defined()) dst.copy_(v.grad());
    else dst.zero_();
    offset += n;
  }
  if (!overlap_) {
    comm_.all_reduce_sum(b.flat);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(channel_->mutex);
    channel_->queue.push_back(b.flat);
  }
  channel_->cv.notify_all();
}

void GradientReducer::worker(std::shared_ptr<Channel> channel, Communicator* comm) {
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
      comm->all_reduce_sum_background(flat);
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
  // Buckets not launched by hooks (overlap off, or parameters that received no gradient) go now, in order.
  for (size_t b = 0; b < buckets_.size(); ++b)
    if (!buckets_[b].launched) launch(b);
  if (overlap_) {
    // The communicator's watchdog (distributed.watchdog_seconds) aborts the job if a collective never ends.
    std::unique_lock<std::mutex> lock(channel_->mutex);
    channel_->cv.wait(lock, [this] { return channel_->completed == buckets_.size(); });
    if (!channel_->error.empty()) {
      armed_ = false;
      LAT_THROW("gradient all-reduce failed: ", channel_->error);
    }
  }
  const double inv = 1.0 / comm_.world_size();
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
  armed_ = false;
}

}  // namespace lat::trainers
