// The MPI communicator (MpiCommunicator, communicator_detail.h): CPU tensors, host scalars and barriers over
// MPI_COMM_WORLD, the non-blocking all-reduces the gradient reducer starts, and the bootstrap the NCCL
// communicator is built on. Compiled to nothing unless LAT_HAVE_MPI.
#ifdef LAT_HAVE_MPI

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

#include <sched.h>

#include "core/error.h"
#include "trainers/communicator_detail.h"

// The C API only: keep OpenMPI/MPICH from pulling in their deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

namespace lat::trainers::detail {
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

// Non-blocking MPI requests in flight on one tensor (MPI_Iallreduce: one per int-sized chunk; or one
// MPI_Ireduce_scatter_block), with `on_finish` run once they have completed. MPI_THREAD_SERIALIZED: only the
// starting thread tests them, so the watchdog only times them (begin / end).
class MpiPendingRequests final : public PendingCollective {
 public:
  MpiPendingRequests(Tensor t, Watchdog& watchdog, uint64_t watch_id, std::function<void()> on_finish = {})
      : t_(std::move(t)), watchdog_(watchdog), watch_id_(watch_id), on_finish_(std::move(on_finish)) {}
  ~MpiPendingRequests() override {
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
    if (on_finish_) on_finish_();
    if (watch_id_) watchdog_.end(watch_id_);
    watch_id_ = 0;
  }
  Tensor t_;
  Watchdog& watchdog_;
  uint64_t watch_id_;
  std::function<void()> on_finish_;
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
  auto pending = std::make_unique<MpiPendingRequests>(t, watchdog_, id);
  pending->requests = start_iallreduce(t);
  return pending;
}

// --- ZeRO-1's collectives -------------------------------------------------------------------------------

namespace {

// The chunk size of a ZeRO-1 collective on t (communicator.h): an int, as MPI's counts are.
int chunk_count(const char* op, const Tensor& t, int world) {
  LAT_CHECK(t.device().is_cpu(), "MPI ", op, " needs a CPU tensor, got ", t.str());
  check_chunked(op, t, world);
  const int64_t n = t.numel() / world;
  LAT_CHECK(n <= kMaxChunk, "MPI ", op, ": chunks of ", n, " elements are more than this communicator sends at once (",
            kMaxChunk, "); use smaller distributed.bucket_mb");
  return static_cast<int>(n);
}

// MPI_Reduce_scatter_block with MPI_IN_PLACE leaves this rank's sum at the start of the buffer; the contract
// (communicator.h) puts it at chunk rank.
void move_first_chunk_to(Tensor& t, int rank, int n) {
  if (rank == 0 || n == 0) return;
  const size_t bytes = static_cast<size_t>(n) * dtype_size(t.dtype());
  char* base = static_cast<char*>(t.raw_data());
  std::memmove(base + static_cast<size_t>(rank) * bytes, base, bytes);
}

}  // namespace

void MpiCommunicator::reduce_scatter_sum(Tensor& t) {
  const int n = chunk_count("reduce-scatter", t, world_);
  auto scope = watchdog_.scope(describe("reduce_scatter_sum", t));
  LAT_MPI_CHECK(MPI_Reduce_scatter_block(MPI_IN_PLACE, t.raw_data(), n, mpi_type(t), MPI_SUM, MPI_COMM_WORLD));
  move_first_chunk_to(t, rank_, n);
}

std::unique_ptr<PendingCollective> MpiCommunicator::start_reduce_scatter_sum(Tensor& t) {
  const int n = chunk_count("reduce-scatter", t, world_);
  const uint64_t id =
      watchdog_.enabled() ? watchdog_.begin(describe("reduce_scatter_sum (gradient bucket, started)", t)) : 0;
  const int rank = rank_;
  auto pending = std::make_unique<MpiPendingRequests>(t, watchdog_, id,
                                                      [t, rank, n]() mutable { move_first_chunk_to(t, rank, n); });
  MPI_Request request;
  LAT_MPI_CHECK(
      MPI_Ireduce_scatter_block(MPI_IN_PLACE, t.raw_data(), n, mpi_type(t), MPI_SUM, MPI_COMM_WORLD, &request));
  pending->requests.push_back(request);
  return pending;
}

void MpiCommunicator::all_gather(Tensor& t) {
  const int n = chunk_count("all-gather", t, world_);
  auto scope = watchdog_.scope(describe("all_gather", t));
  LAT_MPI_CHECK(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, t.raw_data(), n, mpi_type(t), MPI_COMM_WORLD));
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

}  // namespace lat::trainers::detail

#endif  // LAT_HAVE_MPI
