// Internals shared by the communicators (communicator.cpp, communicator_nccl.cpp): the collective watchdog
// and the MPI communicator the NCCL one is built on. Not for use outside trainers/communicator*.cpp.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "trainers/communicator.h"

namespace lat::trainers::detail {

// Watches collectives in flight. begin() registers one (with an optional `done` poll for asynchronous ones,
// e.g. a CUDA event query; without it the collective is done when end() is called); a thread, started by the
// first set_timeout(> 0), wakes a few times per timeout and calls `fail` (which must not return) with a
// message naming the oldest collective that has been in flight longer than the timeout. `done` may also
// throw to report an asynchronous error (its message goes to `fail`).
class Watchdog {
 public:
  explicit Watchdog(std::function<void(const std::string&)> fail) : fail_(std::move(fail)) {}
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void set_timeout(double seconds);
  double timeout() const { return timeout_s_; }
  uint64_t begin(std::string what, std::function<bool()> done = {});
  void end(uint64_t id);
  // Registers around a blocking call: `auto scope = watchdog.scope("MPI_Allreduce ...");`.
  class Scope {
   public:
    Scope(Watchdog& w, uint64_t id) : w_(w), id_(id) {}
    ~Scope() {
      if (id_) w_.end(id_);
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Watchdog& w_;
    uint64_t id_;
  };
  Scope scope(std::string what) { return Scope(*this, enabled() ? begin(std::move(what)) : 0); }
  bool enabled() const { return timeout_s_ > 0; }

 private:
  struct Item {
    std::string what;
    std::chrono::steady_clock::time_point start;
    std::function<bool()> done;
  };
  void run();

  std::function<void(const std::string&)> fail_;
  double timeout_s_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<uint64_t, Item> items_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

// Throws lat::Error naming `op` unless t is contiguous with a multiple of world_size elements (ZeRO-1's chunks).
void check_chunked(const char* op, const Tensor& t, int world_size);

// CPUs in this process's affinity mask (sched_getaffinity; the hardware count where that fails).
int affinity_cpu_count();

#ifdef LAT_HAVE_MPI
// MPI_COMM_WORLD: CPU tensors, host scalars, barriers; owns MPI_Init/MPI_Finalize when it called MPI_Init.
class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator();
  ~MpiCommunicator() override;
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "mpi"; }
  void all_reduce_sum(Tensor& t) override;
  void all_reduce_sum_background(Tensor& t) override;
  std::unique_ptr<PendingCollective> start_all_reduce_sum(Tensor& t) override;
  void reduce_scatter_sum(Tensor& t) override;
  std::unique_ptr<PendingCollective> start_reduce_scatter_sum(Tensor& t) override;
  void all_gather(Tensor& t) override;
  double cpus_per_rank() const override { return cpus_per_rank_; }
  void broadcast(Tensor& t, int root) override;
  double all_reduce_sum(double value) override;
  void barrier() override;
  [[noreturn]] void abort(const std::string& message) override;
  void set_watchdog(double seconds) override { watchdog_.set_timeout(seconds); }

  void broadcast_bytes(void* data, size_t bytes, int root);  // for the NCCL bootstrap
  Watchdog& watchdog() { return watchdog_; }

 private:
  int rank_ = 0, world_ = 1, local_rank_ = 0;
  double cpus_per_rank_ = 1;
  struct PointToPoint;                  // a duplicate of MPI_COMM_WORLD for start_all_reduce_sum's messages
  std::unique_ptr<PointToPoint> p2p_;
  uint64_t started_ = 0;                // start_all_reduce_sum calls so far (message tags)
  bool owns_mpi_ = false;
  Watchdog watchdog_;
};
#endif

#ifdef LAT_HAVE_NCCL
// Device tensors through NCCL; everything else through `mpi` (communicator_nccl.cpp).
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<MpiCommunicator> mpi);
#endif

}  // namespace lat::trainers::detail
