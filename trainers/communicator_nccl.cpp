// The NCCL communicator: device tensors through NCCL, everything else (host scalars, CPU tensors, barriers, the
// bootstrap) through the MPI communicator it wraps. all_reduce_sum and broadcast are enqueued on the compute stream
// (lat::cuda::stream()), as are ZeRO-1's reduce_scatter_sum and all_gather; start_all_reduce_sum and
// start_reduce_scatter_sum run on a communication stream of their own, after the compute stream's work so far (an
// event), so that backward goes on while a gradient bucket is reduced; their wait() makes the compute stream, not
// the host, wait for them. Compiled to nothing unless LAT_HAVE_NCCL (CUDA, MPI and NCCL
// found; trainers/CMakeLists.txt).
#ifdef LAT_HAVE_NCCL

#include <nccl.h>

#include <cstdio>
#include <sstream>

#include "core/cuda_context.h"
#include "core/error.h"
#include "trainers/communicator_detail.h"

#define LAT_NCCL_CHECK(expr)                                                                 \
  do {                                                                                      \
    ncclResult_t lat_nccl_status_ = (expr);                                                 \
    if (lat_nccl_status_ != ncclSuccess)                                                    \
      LAT_THROW("NCCL error in ", #expr, ": ", ncclGetErrorString(lat_nccl_status_), " (", \
                ncclGetLastError(nullptr), ")");                                            \
  } while (0)

namespace lat::trainers::detail {
namespace {

// A collective (all-reduce, reduce-scatter) in flight on the communication stream: test() asks its event, wait()
// orders the compute stream after it. The buffer stays untouched until then (the gradient reducer's flat buckets
// live as long as it does).
class NcclPendingCollective final : public PendingCollective {
 public:
  NcclPendingCollective(cudaEvent_t done, int device) : done_(done), device_(device) {}
  ~NcclPendingCollective() override {
    if (done_ != nullptr) cudaEventDestroy(done_);  // released by the driver once the event has completed
  }
  bool test() override {
    if (finished_) return true;
    LAT_CUDA_CHECK(cudaSetDevice(device_));
    const cudaError_t status = cudaEventQuery(done_);
    if (status == cudaErrorNotReady) return false;
    LAT_CUDA_CHECK(status);
    finished_ = true;
    return true;
  }
  void wait() override {
    LAT_CUDA_CHECK(cudaSetDevice(device_));
    LAT_CUDA_CHECK(cudaStreamWaitEvent(cuda::stream(), done_, 0));
  }

 private:
  cudaEvent_t done_ = nullptr;
  int device_ = 0;
  bool finished_ = false;
};

ncclDataType_t nccl_type(const Tensor& t) {
  switch (t.dtype()) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::BF16: return ncclBfloat16;
    case DType::I32: return ncclInt32;
  }
  LAT_THROW("NCCL communicator: unsupported dtype ", dtype_name(t.dtype()));
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(std::unique_ptr<MpiCommunicator> mpi)
      : mpi_(std::move(mpi)), watchdog_([this](const std::string& m) { abort(m); }) {
    // One process per GPU: the node-local rank selects the device before NCCL (or anything else) touches it.
    device_ = mpi_->local_rank();
    const int visible = cuda::device_count();
    LAT_CHECK(device_ < visible, "rank ", mpi_->rank(), " is local rank ", device_, " on its node but only ",
              visible, " CUDA devices are visible: start at most one rank per GPU (mpirun -npernode ", visible, ")");
    cuda::init(device_);
    ncclUniqueId id{};
    if (mpi_->rank() == 0) LAT_NCCL_CHECK(ncclGetUniqueId(&id));
    mpi_->broadcast_bytes(&id, sizeof id, 0);
    {
      auto scope = mpi_->watchdog().scope("ncclCommInitRank");
      LAT_NCCL_CHECK(ncclCommInitRank(&comm_, mpi_->world_size(), id, mpi_->rank()));
    }
    int least = 0, greatest = 0;  // the communication stream at the highest priority: its kernels go first
    LAT_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    LAT_CUDA_CHECK(cudaStreamCreateWithPriority(&comm_stream_, cudaStreamNonBlocking, greatest));
  }
  ~NcclCommunicator() override {
    if (comm_) {
      cudaStreamSynchronize(comm_stream_);
      cudaStreamSynchronize(cuda::stream());
      ncclCommDestroy(comm_);
    }
    if (comm_stream_) cudaStreamDestroy(comm_stream_);
  }

  int rank() const override { return mpi_->rank(); }
  int world_size() const override { return mpi_->world_size(); }
  int local_rank() const override { return mpi_->local_rank(); }
  std::string name() const override { return "nccl"; }

  void all_reduce_sum(Tensor& t) override {
    if (t.device().is_cpu()) return mpi_->all_reduce_sum(t);
    LAT_CHECK(t.is_contiguous(), "NCCL all-reduce needs a contiguous tensor, got ", t.str());
    LAT_CUDA_CHECK(cudaSetDevice(device_));  // the gradient reducer calls from its own thread
    LAT_NCCL_CHECK(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t), ncclSum,
                                 comm_, cuda::stream()));
    watch("ncclAllReduce", t, cuda::stream());
  }
  std::unique_ptr<PendingCollective> start_all_reduce_sum(Tensor& t) override {
    if (t.device().is_cpu()) return mpi_->start_all_reduce_sum(t);
    LAT_CHECK(t.is_contiguous(), "NCCL all-reduce needs a contiguous tensor, got ", t.str());
    return start_on_comm_stream([&] {
      LAT_NCCL_CHECK(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t), ncclSum,
                                   comm_, comm_stream_));
      watch("ncclAllReduce", t, comm_stream_);
    });
  }
  // ZeRO-1 (communicator.h): in place, as NCCL defines it: the reduce-scatter's output is chunk rank of its input,
  // the all-gather's input is chunk rank of its output.
  void reduce_scatter_sum(Tensor& t) override {
    if (t.device().is_cpu()) return mpi_->reduce_scatter_sum(t);
    check_chunked("NCCL reduce-scatter", t, world_size());
    LAT_CUDA_CHECK(cudaSetDevice(device_));
    enqueue_reduce_scatter(t, cuda::stream());
  }
  std::unique_ptr<PendingCollective> start_reduce_scatter_sum(Tensor& t) override {
    if (t.device().is_cpu()) return mpi_->start_reduce_scatter_sum(t);
    check_chunked("NCCL reduce-scatter", t, world_size());
    return start_on_comm_stream([&] { enqueue_reduce_scatter(t, comm_stream_); });
  }
  void all_gather(Tensor& t) override {
    if (t.device().is_cpu()) return mpi_->all_gather(t);
    check_chunked("NCCL all-gather", t, world_size());
    LAT_CUDA_CHECK(cudaSetDevice(device_));
    const size_t n = static_cast<size_t>(t.numel() / world_size());
    char* base = static_cast<char*>(t.raw_data());
    LAT_NCCL_CHECK(ncclAllGather(base + static_cast<size_t>(rank()) * n * dtype_size(t.dtype()), base, n, nccl_type(t),
                                 comm_, cuda::stream()));
    watch("ncclAllGather", t, cuda::stream());
  }
  void broadcast(Tensor& t, int root) override {
    if (t.device().is_cpu()) return mpi_->broadcast(t, root);
    LAT_CHECK(t.is_contiguous(), "NCCL broadcast needs a contiguous tensor, got ", t.str());
    LAT_CUDA_CHECK(cudaSetDevice(device_));
    LAT_NCCL_CHECK(ncclBroadcast(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t), root,
                                 comm_, cuda::stream()));
    watch("ncclBroadcast", t, cuda::stream());
  }
  double all_reduce_sum(double value) override { return mpi_->all_reduce_sum(value); }
  void barrier() override { mpi_->barrier(); }
  void set_watchdog(double seconds) override {
    mpi_->set_watchdog(seconds);
    watchdog_.set_timeout(seconds);
  }

  [[noreturn]] void abort(const std::string& message) override {
    std::string text = message;
    if (comm_) {
      ncclResult_t async = ncclSuccess;
      if (ncclCommGetAsyncError(comm_, &async) == ncclSuccess && async != ncclSuccess)
        text += std::string(" (NCCL asynchronous error: ") + ncclGetErrorString(async) + ")";
      ncclCommAbort(comm_);  // unblocks kernels waiting on peers that will never come
      comm_ = nullptr;
    }
    mpi_->abort(text);
  }

 private:
  // Runs `enqueue` (a collective on comm_stream_) after the compute stream's work so far (an event), and returns
  // the pending collective whose wait() orders the compute stream after it.
  template <class Enqueue>
  std::unique_ptr<PendingCollective> start_on_comm_stream(Enqueue&& enqueue) {
    LAT_CUDA_CHECK(cudaSetDevice(device_));
    cudaEvent_t ready = nullptr, done = nullptr;
    LAT_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    LAT_CUDA_CHECK(cudaEventRecord(ready, cuda::stream()));  // the tensor as the compute stream has written it so far
    LAT_CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, ready, 0));
    LAT_CUDA_CHECK(cudaEventDestroy(ready));
    enqueue();
    LAT_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    LAT_CUDA_CHECK(cudaEventRecord(done, comm_stream_));
    return std::make_unique<NcclPendingCollective>(done, device_);
  }
  void enqueue_reduce_scatter(Tensor& t, cudaStream_t stream) {
    const size_t n = static_cast<size_t>(t.numel() / world_size());
    char* base = static_cast<char*>(t.raw_data());
    LAT_NCCL_CHECK(ncclReduceScatter(base, base + static_cast<size_t>(rank()) * n * dtype_size(t.dtype()), n,
                                     nccl_type(t), ncclSum, comm_, stream));
    watch("ncclReduceScatter", t, stream);
  }
  // Asynchronous collectives: the watchdog polls an event recorded after the collective (on its stream) and the
  // communicator's asynchronous error state.
  void watch(const char* op, const Tensor& t, cudaStream_t stream) {
    if (!watchdog_.enabled()) return;
    cudaEvent_t event = nullptr;
    LAT_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    LAT_CUDA_CHECK(cudaEventRecord(event, stream));
    std::ostringstream what;
    what << op << " of " << t.numel() << " " << dtype_name(t.dtype()) << " (" << t.nbytes() << " bytes)";
    ncclComm_t comm = comm_;
    const int device = device_;
    watchdog_.begin(what.str(), [event, comm, device]() {
      ncclResult_t async = ncclSuccess;
      if (ncclCommGetAsyncError(comm, &async) == ncclSuccess && async != ncclSuccess)
        LAT_THROW("NCCL asynchronous error: ", ncclGetErrorString(async));
      cudaSetDevice(device);
      const cudaError_t status = cudaEventQuery(event);
      if (status == cudaErrorNotReady) return false;
      cudaEventDestroy(event);
      if (status != cudaSuccess) LAT_THROW("CUDA error: ", cudaGetErrorString(status));
      return true;
    });
  }

  std::unique_ptr<MpiCommunicator> mpi_;
  Watchdog watchdog_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t comm_stream_ = nullptr;  // start_all_reduce_sum's and start_reduce_scatter_sum's collectives
  int device_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<MpiCommunicator> mpi) {
  return std::make_unique<NcclCommunicator>(std::move(mpi));
}

}  // namespace lat::trainers::detail

#endif  // LAT_HAVE_NCCL
