// The communicator base class's defaults, the collective watchdog, the single-process communicator and
// make_communicator. The MPI communicator is in communicator_mpi.cpp, the NCCL one in communicator_nccl.cpp.
#include "trainers/communicator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <sched.h>

#include "core/error.h"
#include "trainers/communicator_detail.h"

namespace lat::trainers {

namespace {

// A collective that finished before start_all_reduce_sum returned.
class FinishedCollective final : public PendingCollective {
 public:
  bool test() override { return true; }
  void wait() override {}
};

}  // namespace

std::unique_ptr<PendingCollective> Communicator::start_all_reduce_sum(Tensor& t) {
  all_reduce_sum(t);
  return std::make_unique<FinishedCollective>();
}

std::unique_ptr<PendingCollective> Communicator::start_reduce_scatter_sum(Tensor& t) {
  reduce_scatter_sum(t);
  return std::make_unique<FinishedCollective>();
}

double Communicator::cpus_per_rank() const { return detail::affinity_cpu_count(); }

namespace detail {

void check_chunked(const char* op, const Tensor& t, int world_size) {
  LAT_CHECK(t.is_contiguous(), op, " needs a contiguous tensor, got ", t.str());
  LAT_CHECK(t.numel() % world_size == 0, op, " needs a tensor of ", world_size, " equal chunks (one per rank), got ",
            t.numel(), " elements");
}

int affinity_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// --- Watchdog ------------------------------------------------------------------------------------------

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::set_timeout(double seconds) {
  LAT_CHECK(seconds >= 0, "distributed.watchdog_seconds must be >= 0, got ", seconds);
  std::lock_guard<std::mutex> lock(mutex_);
  timeout_s_ = seconds;
  if (seconds > 0 && !thread_.joinable()) thread_ = std::thread([this] { run(); });
  cv_.notify_all();
}

uint64_t Watchdog::begin(std::string what, std::function<bool()> done) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t id = next_id_++;
  items_.emplace(id, Item{std::move(what), std::chrono::steady_clock::now(), std::move(done)});
  return id;
}

void Watchdog::end(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  items_.erase(id);
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    // Wake ~10 times per timeout (at most once per 10 ms, at least once per second) to poll and check ages.
    const double period = std::clamp(timeout_s_ / 10, 0.01, 1.0);
    cv_.wait_for(lock, std::chrono::duration<double>(period));
    if (stopping_ || timeout_s_ <= 0) continue;
    const auto now = std::chrono::steady_clock::now();
    std::string failure;
    for (auto it = items_.begin(); it != items_.end();) {
      Item& item = it->second;
      if (item.done) {
        bool finished = false;
        try {
          finished = item.done();
        } catch (const std::exception& e) {
          failure = item.what + " failed: " + e.what();
          break;
        }
        if (finished) {
          it = items_.erase(it);
          continue;
        }
      }
      const double age = std::chrono::duration<double>(now - item.start).count();
      if (age > timeout_s_) {
        std::ostringstream out;
        out << "watchdog: " << item.what << " has not finished after " << static_cast<int64_t>(age)
            << " s (distributed.watchdog_seconds = " << timeout_s_
            << "); a peer rank has probably died or is stuck; aborting the job";
        failure = out.str();
        break;
      }
      ++it;
    }
    if (!failure.empty()) {
      lock.unlock();
      fail_(failure);  // does not return
    }
  }
}

}  // namespace detail

namespace {

class SingleCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string name() const override { return "single"; }
  void all_reduce_sum(Tensor&) override {}
  void reduce_scatter_sum(Tensor& t) override { detail::check_chunked("reduce-scatter", t, 1); }
  void all_gather(Tensor& t) override { detail::check_chunked("all-gather", t, 1); }
  void broadcast(Tensor&, int) override {}
  double all_reduce_sum(double value) override { return value; }
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message) override {
    std::fprintf(stderr, "lat: %s\n", message.c_str());
    std::fflush(stderr);
    std::_Exit(1);
  }
};

}  // namespace

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(var) != nullptr) return true;
  return false;
}

std::unique_ptr<Communicator> make_communicator(Device device) {
  if (launched_by_mpi()) {
#ifdef LAT_HAVE_MPI
    auto mpi = std::make_unique<detail::MpiCommunicator>();
    // CUDA under a launcher is NCCL even at world size 1 (`mpirun -np 1` then runs the whole bucket path).
    if (device.is_cuda()) {
#ifdef LAT_HAVE_NCCL
      return detail::make_nccl_communicator(std::move(mpi));
#else
      LAT_THROW("training on CUDA with ", mpi->world_size(),
                " ranks needs NCCL, and this build has none (configure with CUDA, MPI and NCCL found)");
#endif
    }
    return mpi;
#else
    LAT_THROW("lat-train was started by an MPI launcher but this build has no MPI support (configure with -DLAT_MPI=ON)");
#endif
  }
  return std::make_unique<SingleCommunicator>();
}

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<SingleCommunicator>(); }

}  // namespace lat::trainers
