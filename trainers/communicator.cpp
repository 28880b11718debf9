#include "trainers/communicator.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <vector>

#include <sched.h>

#include "core/error.h"
#include "trainers/communicator_detail.h"

#ifdef LAT_HAVE_MPI
// The C API only: keep OpenMPI/MPICH from pulling in their deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

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

double Communicator::cpus_per_rank() const { return detail::affinity_cpu_count(); }

namespace detail {

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

#ifdef LAT_HAVE_MPI
#define LAT_MPI_CHECK(expr)                                                                  \
  do {                                                                                      \
    int lat_mpi_status_ = (expr);                                                           \
    if (lat_mpi_status_ != MPI_SUCCESS) {                                                   \
      char text[MPI_MAX_ERROR_STRING];                                                      \
      int len = 0;                                                                          \
      MPI_Error_string(lat_mpi_status_, text, &len);                                        \
      LAT_THROW("MPI error in ", #expr, ": ", std::string(text, static_cast<size_t>(len))); \
    }                                                                                       \
  } while (0)

namespace {

MPI_Datatype mpi_type(const Tensor& t) {
  switch (t.dtype()) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I32: return MPI_INT;
    default: LAT_THROW("MPI communicator: unsupported dtype ", dtype_name(t.dtype()));
  }
}

std::string describe(const char* op, const Tensor& t) {
  std::ostringstream out;
  out << op << " of " << t.numel() << " " << dtype_name(t.dtype()) << " (" << t.nbytes() << " bytes)";
  return out.str();
}

// MPI counts are int: larger tensors go in chunks.
constexpr int64_t kMaxChunk = INT_MAX / 2;
// How long the communication thread sleeps between MPI_Test calls (LAT_MPI_POLL_US overrides, for tuning:
// 0 yields instead of sleeping, -1 uses the blocking MPI_Allreduce).
const int64_t kBackgroundPollMicroseconds = [] {
  const char* v = std::getenv("LAT_MPI_POLL_US");
  return v ? std::max<int64_t>(-1, std::atoll(v)) : int64_t{50};
}();

}  // namespace

MpiCommunicator::MpiCommunicator() : watchdog_([this](const std::string& m) { abort(m); }) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    // The gradient reducer's communication thread makes the MPI calls during backward, the main thread the
    // others, never both at once (SERIALIZED is enough).
    int provided = 0;
    LAT_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided));
    owns_mpi_ = true;
    if (provided < MPI_THREAD_SERIALIZED)
      LAT_THROW("this MPI library provides thread level ", provided,
                ", lat needs MPI_THREAD_SERIALIZED (the gradient reducer calls MPI from a communication thread)");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  LAT_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  LAT_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_));
  MPI_Comm node;
  LAT_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  LAT_MPI_CHECK(MPI_Comm_rank(node, &local_rank_));
  // Which CPUs each rank on this node may run on: a CPU shared by k ranks counts 1/k for each of them.
  int local_size = 1;
  LAT_MPI_CHECK(MPI_Comm_size(node, &local_size));
  cpu_set_t mine;
  CPU_ZERO(&mine);
  if (sched_getaffinity(0, sizeof(mine), &mine) != 0)
    for (unsigned c = 0; c < std::max(1u, std::thread::hardware_concurrency()) && c < CPU_SETSIZE; ++c) CPU_SET(c, &mine);
  std::vector<cpu_set_t> all(static_cast<size_t>(local_size));
  LAT_MPI_CHECK(MPI_Allgather(&mine, sizeof(cpu_set_t), MPI_BYTE, all.data(), sizeof(cpu_set_t), MPI_BYTE, node));
  cpus_per_rank_ = 0;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &mine)) continue;
    int sharing = 0;
    for (const cpu_set_t& other : all) sharing += CPU_ISSET(c, &other) ? 1 : 0;
    cpus_per_rank_ += 1.0 / std::max(1, sharing);
  }
  MPI_Comm_free(&node);
}

MpiCommunicator::~MpiCommunicator() {
  if (owns_mpi_) MPI_Finalize();
}

void MpiCommunicator::all_reduce_sum(Tensor& t) {
  LAT_CHECK(t.device().is_cpu() && t.is_contiguous(), "MPI all-reduce needs a contiguous CPU tensor, got ", t.str());
  auto scope = watchdog_.scope(describe("all_reduce_sum", t));
  const MPI_Datatype type = mpi_type(t);
  char* base = static_cast<char*>(t.raw_data());
  const size_t elem = dtype_size(t.dtype());
  for (int64_t at = 0; at < t.numel(); at += kMaxChunk) {
    const int n = static_cast<int>(std::min(kMaxChunk, t.numel() - at));
    LAT_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, base + static_cast<size_t>(at) * elem, n, type, MPI_SUM, MPI_COMM_WORLD));
  }
}

// MPI's blocking calls busy-poll; on a CPU run the communication thread would take a core from backward for
// as long as the slower rank keeps it waiting. Here the thread tests a non-blocking all-reduce and sleeps in
// between (each MPI_Test also progresses it).
void MpiCommunicator::all_reduce_sum_background(Tensor& t) {
  LAT_CHECK(t.device().is_cpu() && t.is_contiguous(), "MPI all-reduce needs a contiguous CPU tensor, got ", t.str());
  if (kBackgroundPollMicroseconds < 0) return all_reduce_sum(t);  // LAT_MPI_POLL_US=-1: blocking (spins)
  auto scope = watchdog_.scope(describe("all_reduce_sum (gradient bucket)", t));
  const MPI_Datatype type = mpi_type(t);
  char* base = static_cast<char*>(t.raw_data());
  const size_t elem = dtype_size(t.dtype());
  for (int64_t at = 0; at < t.numel(); at += kMaxChunk) {
    const int n = static_cast<int>(std::min(kMaxChunk, t.numel() - at));
    MPI_Request request;
    LAT_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, base + static_cast<size_t>(at) * elem, n, type, MPI_SUM,
                                 MPI_COMM_WORLD, &request));
    for (;;) {
      int done = 0;
      LAT_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
      if (done) break;
      if (kBackgroundPollMicroseconds == 0) std::this_thread::yield();
      else std::this_thread::sleep_for(std::chrono::microseconds(kBackgroundPollMicroseconds));
    }
  }
}

namespace {

// MPI_Iallreduce requests in flight on one tensor (one per int-sized chunk). MPI_THREAD_SERIALIZED: only
// the starting thread tests them, so the watchdog only times them (begin / end), it never polls.
class MpiPendingAllReduce final : public PendingCollective {
 public:
  MpiPendingAllReduce(Tensor t, Watchdog& watchdog, uint64_t watch_id)
      : t_(std::move(t)), watchdog_(watchdog), watch_id_(watch_id) {}
  ~MpiPendingAllReduce() override {
    if (!done_) new Tensor(t_);  // never finished (the job is being aborted): MPI may still write into it
    if (watch_id_) watchdog_.end(watch_id_);
  }
  std::vector<MPI_Request> requests;

  bool test() override {
    if (done_) return true;
    int flag = 0;
    LAT_MPI_CHECK(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &flag, MPI_STATUSES_IGNORE));
    if (flag) finished();
    return done_;
  }
  void wait() override {
    if (done_) return;
    LAT_MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
    finished();
  }

 private:
  void finished() {
    done_ = true;
    if (watch_id_) watchdog_.end(watch_id_);
    watch_id_ = 0;
  }
  Tensor t_;
  Watchdog& watchdog_;
  uint64_t watch_id_;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<PendingCollective> MpiCommunicator::start_all_reduce_sum(Tensor& t) {
  LAT_CHECK(t.device().is_cpu() && t.is_contiguous(), "MPI all-reduce needs a contiguous CPU tensor, got ", t.str());
  const uint64_t id = watchdog_.enabled() ? watchdog_.begin(describe("all_reduce_sum (gradient bucket, started)", t)) : 0;
  auto pending = std::make_unique<MpiPendingAllReduce>(t, watchdog_, id);
  const MPI_Datatype type = mpi_type(t);
  char* base = static_cast<char*>(t.raw_data());
  const size_t elem = dtype_size(t.dtype());
  for (int64_t at = 0; at < t.numel(); at += kMaxChunk) {
    const int n = static_cast<int>(std::min(kMaxChunk, t.numel() - at));
    MPI_Request request;
    LAT_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, base + static_cast<size_t>(at) * elem, n, type, MPI_SUM,
                                 MPI_COMM_WORLD, &request));
    pending->requests.push_back(request);
  }
  return pending;
}

void MpiCommunicator::broadcast(Tensor& t, int root) {
  LAT_CHECK(t.device().is_cpu() && t.is_contiguous(), "MPI broadcast needs a contiguous CPU tensor, got ", t.str());
  auto scope = watchdog_.scope(describe("broadcast", t));
  const MPI_Datatype type = mpi_type(t);
  char* base = static_cast<char*>(t.raw_data());
  const size_t elem = dtype_size(t.dtype());
  for (int64_t at = 0; at < t.numel(); at += kMaxChunk) {
    const int n = static_cast<int>(std::min(kMaxChunk, t.numel() - at));
    LAT_MPI_CHECK(MPI_Bcast(base + static_cast<size_t>(at) * elem, n, type, root, MPI_COMM_WORLD));
  }
}

void MpiCommunicator::broadcast_bytes(void* data, size_t bytes, int root) {
  auto scope = watchdog_.scope("broadcast of " + std::to_string(bytes) + " bytes");
  LAT_CHECK(bytes <= static_cast<size_t>(INT_MAX), "broadcast_bytes: ", bytes, " bytes is too many");
  LAT_MPI_CHECK(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD));
}

double MpiCommunicator::all_reduce_sum(double value) {
  auto scope = watchdog_.scope("all_reduce_sum of one f64 (loss, stop flag or metric)");
  double out = 0;
  LAT_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
  return out;
}

void MpiCommunicator::barrier() {
  auto scope = watchdog_.scope("barrier");
  LAT_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

[[noreturn]] void MpiCommunicator::abort(const std::string& message) {
  std::fprintf(stderr, "lat: rank %d of %d failed: %s\n", rank_, world_, message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}
#endif  // LAT_HAVE_MPI

}  // namespace detail

namespace {

class SingleCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string name() const override { return "single"; }
  void all_reduce_sum(Tensor&) override {}
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

}  // namespace lat::trainers
