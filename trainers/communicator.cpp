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

struct MpiCommunicator::PointToPoint {
  MPI_Comm comm = MPI_COMM_NULL;
};

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
  p2p_ = std::make_unique<PointToPoint>();
  LAT_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &p2p_->comm));
  MPI_Comm_set_errhandler(p2p_->comm, MPI_ERRORS_RETURN);
}

MpiCommunicator::~MpiCommunicator() {
  if (p2p_ && p2p_->comm != MPI_COMM_NULL) MPI_Comm_free(&p2p_->comm);
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

namespace {

// MPI_Iallreduce of t in place, in chunks of at most kMaxChunk elements (MPI counts are int).
std::vector<MPI_Request> start_iallreduce(Tensor& t) {
  const MPI_Datatype type = mpi_type(t);
  char* base = static_cast<char*>(t.raw_data());
  const size_t elem = dtype_size(t.dtype());
  std::vector<MPI_Request> requests;
  for (int64_t at = 0; at < t.numel(); at += kMaxChunk) {
    const int n = static_cast<int>(std::min(kMaxChunk, t.numel() - at));
    MPI_Request request;
    LAT_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, base + static_cast<size_t>(at) * elem, n, type, MPI_SUM,
                                 MPI_COMM_WORLD, &request));
    requests.push_back(request);
  }
  return requests;
}

}  // namespace

// MPI's blocking calls busy-poll; on a CPU run the communication thread would take a core from backward for
// as long as the slower rank keeps it waiting. Here the thread tests a non-blocking all-reduce and sleeps in
// between (each MPI_Test also progresses it).
void MpiCommunicator::all_reduce_sum_background(Tensor& t) {
  LAT_CHECK(t.device().is_cpu() && t.is_contiguous(), "MPI all-reduce needs a contiguous CPU tensor, got ", t.str());
  if (kBackgroundPollMicroseconds < 0) return all_reduce_sum(t);  // LAT_MPI_POLL_US=-1: blocking (spins)
  auto scope = watchdog_.scope(describe("all_reduce_sum (gradient bucket)", t));
  std::vector<MPI_Request> requests = start_iallreduce(t);
  for (;;) {
    int done = 0;
    LAT_MPI_CHECK(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE));
    if (done) break;
    if (kBackgroundPollMicroseconds == 0) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(kBackgroundPollMicroseconds));
  }
}

namespace {

// Finishing a started all-reduce (wait()): test, and yield the core between tests, so that on an
// oversubscribed node the rank we are waiting for (or anyone else) gets the CPU instead of a spinning poll.
template <class Test>
void wait_yielding(Test&& test) {
  static const bool spin = [] {
    const char* v = std::getenv("LAT_MPI_WAIT");
    return v != nullptr && std::string(v) == "spin";
  }();
  while (!test())
    if (!spin) std::this_thread::yield();
}

// MPI_Iallreduce requests in flight on one tensor (one per int-sized chunk): the general case.
// MPI_THREAD_SERIALIZED: only the starting thread tests them, so the watchdog only times them (begin / end).
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
    wait_yielding([this] { return test(); });
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

// Power-of-two world sizes: recursive halving (reduce-scatter) then recursive doubling (all-gather) with
// point-to-point messages, as a state machine advanced by test(). Each rank moves and adds only its share
// (at 2 ranks: sends half, adds half, sends its reduced half back), each round is one message per partner
// (one single-copy transfer on shared memory), and the additions happen inside test(), i.e. between
// backward's nodes. At two ranks every element is a + b computed once, so the result is bit-identical to
// MPI_Allreduce's; at 4 and more the summation order may differ from MPI's.
class HalvingAllReduce final : public PendingCollective {
 public:
  HalvingAllReduce(Tensor t, MPI_Comm comm, int rank, int world, int tag_base, Watchdog& watchdog, uint64_t watch_id)
      : t_(std::move(t)), comm_(comm), rank_(rank), world_(world), tag_base_(tag_base), watchdog_(watchdog),
        watch_id_(watch_id), type_(mpi_type(t_)), elem_(dtype_size(t_.dtype())) {
    ranges_.push_back({0, t_.numel()});
    scratch_.reset(new char[static_cast<size_t>(t_.numel() / 2 + 1) * elem_]);
    post();
  }
  ~HalvingAllReduce() override {
    if (!done_) {  // the job is being aborted: MPI may still read or write these buffers
      new Tensor(t_);
      scratch_.release();
    }
    if (watch_id_) watchdog_.end(watch_id_);
  }

  bool test() override {
    while (!done_) {
      int flag = 0;
      LAT_MPI_CHECK(MPI_Testall(2, requests_, &flag, MPI_STATUSES_IGNORE));
      if (!flag) return false;
      complete_round();
      if (!done_) post();
    }
    return true;
  }
  void wait() override {
    wait_yielding([this] { return test(); });
  }

 private:
  struct Range {
    int64_t lo, hi;
  };
  int rounds() const {
    int k = 0;
    while ((1 << k) < world_) ++k;
    return k;
  }
  char* at(int64_t i) const { return static_cast<char*>(t_.raw_data()) + static_cast<size_t>(i) * elem_; }

  // Round r < k halves: with mask m = 2^r the lower-bit rank keeps the lower half and sends the upper half.
  // Round k + j (j < k) gathers, in the reverse order: send what I own, receive the partner's sibling range.
  void post() {
    const int k = rounds();
    const int tag = tag_base_ + round_;
    if (round_ < k) {
      const int mask = 1 << round_;
      const int partner = rank_ ^ mask;
      const Range cur = ranges_.back();
      const int64_t mid = cur.lo + (cur.hi - cur.lo) / 2;
      const bool lower = (rank_ & mask) == 0;
      const Range keep = lower ? Range{cur.lo, mid} : Range{mid, cur.hi};
      const Range give = lower ? Range{mid, cur.hi} : Range{cur.lo, mid};
      ranges_.push_back(keep);
      LAT_MPI_CHECK(MPI_Irecv(scratch_.get(), static_cast<int>(keep.hi - keep.lo), type_, partner, tag, comm_, &requests_[0]));
      LAT_MPI_CHECK(MPI_Isend(at(give.lo), static_cast<int>(give.hi - give.lo), type_, partner, tag, comm_, &requests_[1]));
    } else {
      const int j = round_ - k;
      const int mask = 1 << (k - 1 - j);
      const int partner = rank_ ^ mask;
      const Range mine = ranges_[static_cast<size_t>(k - j)], parent = ranges_[static_cast<size_t>(k - j - 1)];
      const Range theirs = mine.lo == parent.lo ? Range{mine.hi, parent.hi} : Range{parent.lo, mine.lo};
      LAT_MPI_CHECK(MPI_Irecv(at(theirs.lo), static_cast<int>(theirs.hi - theirs.lo), type_, partner, tag, comm_, &requests_[0]));
      LAT_MPI_CHECK(MPI_Isend(at(mine.lo), static_cast<int>(mine.hi - mine.lo), type_, partner, tag, comm_, &requests_[1]));
    }
  }
  void complete_round() {
    const int k = rounds();
    if (round_ < k) {  // add the partner's copy of the half I keep
      const Range keep = ranges_.back();
      const int64_t n = keep.hi - keep.lo;
      if (t_.dtype() == DType::F32) add_into(reinterpret_cast<float*>(at(keep.lo)), reinterpret_cast<const float*>(scratch_.get()), n);
      else add_into(reinterpret_cast<double*>(at(keep.lo)), reinterpret_cast<const double*>(scratch_.get()), n);
    }
    if (++round_ == 2 * k) {
      done_ = true;
      if (watch_id_) watchdog_.end(watch_id_);
      watch_id_ = 0;
    }
  }
  template <class T>
  static void add_into(T* __restrict y, const T* __restrict x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = y[i] + x[i];
  }

  Tensor t_;
  MPI_Comm comm_;
  int rank_, world_, tag_base_;
  Watchdog& watchdog_;
  uint64_t watch_id_;
  MPI_Datatype type_;
  size_t elem_;
  std::unique_ptr<char[]> scratch_;
  std::vector<Range> ranges_;
  MPI_Request requests_[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  int round_ = 0;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<PendingCollective> MpiCommunicator::start_all_reduce_sum(Tensor& t) {
  LAT_CHECK(t.device().is_cpu() && t.is_contiguous(), "MPI all-reduce needs a contiguous CPU tensor, got ", t.str());
  const uint64_t id = watchdog_.enabled() ? watchdog_.begin(describe("all_reduce_sum (gradient bucket, started)", t)) : 0;
  const uint64_t seq = started_++;  // the same on every rank: collectives are started in one order
  // LAT_MPI_IALLREDUCE=mpi: always MPI_Iallreduce (for comparisons).
  static const bool force_mpi = [] {
    const char* v = std::getenv("LAT_MPI_IALLREDUCE");
    return v != nullptr && std::string(v) == "mpi";
  }();
  const bool power_of_two = world_ > 1 && (world_ & (world_ - 1)) == 0;
  if (!force_mpi && power_of_two && t.numel() <= kMaxChunk && (t.dtype() == DType::F32 || t.dtype() == DType::F64)) {
    // Tags: 64 per started all-reduce (rounds), cycling within the 32767 every MPI guarantees.
    const int tag_base = static_cast<int>((seq % 512) * 64);
    return std::make_unique<HalvingAllReduce>(t, p2p_->comm, rank_, world_, tag_base, watchdog_, id);
  }
  auto pending = std::make_unique<MpiPendingAllReduce>(t, watchdog_, id);
  pending->requests = start_iallreduce(t);
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

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<SingleCommunicator>(); }

}  // namespace lat::trainers
