// The NCCL communicator: device tensors through NCCL on lat::cuda::stream(), everything else (host scalars,
// CPU tensors, barriers, the bootstrap) through the MPI communicator it wraps. Compiled to nothing unless
// LAT_HAVE_NCCL (CUDA, MPI and NCCL found; trainers/CMakeLists.txt).
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
  }
  ~NcclCommunicator() override {
    if (comm_) {
      cudaStreamSynchronize(cuda::stream());
      ncclCommDestroy(comm_);
    }
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
    watch("ncclAllReduce", t);
  }
  void broadcast(Tensor& t, int root) override {
    if (t.device().is_cpu()) return mpi_->broadcast(t, root);
    LAT_CHECK(t.is_contiguous(), "NCCL broadcast needs a contiguous tensor, got ", t.str());
    LAT_CUDA_CHECK(cudaSetDevice(device_));
    LAT_NCCL_CHECK(ncclBroadcast(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t), root,
                                 comm_, cuda::stream()));
    watch("ncclBroadcast", t);
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
  // Asynchronous collectives: the watchdog polls an event recorded after the collective and the
  // communicator's asynchronous error state.
  void watch(const char* op, const Tensor& t) {
    if (!watchdog_.enabled()) return;
    cudaEvent_t event = nullptr;
    LAT_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    LAT_CUDA_CHECK(cudaEventRecord(event, cuda::stream()));
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
  int device_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<MpiCommunicator> mpi) {
  return std::make_unique<NcclCommunicator>(std::move(mpi));
}

}  // namespace lat::trainers::detail

#endif  // LAT_HAVE_NCCL
