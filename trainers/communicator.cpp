#include "trainers/communicator.h"

#include <cstdio>
#include <cstdlib>

#include "core/error.h"

#ifdef LAT_HAVE_MPI
// The C API only: keep OpenMPI/MPICH from pulling in their deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace lat::trainers {
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

#ifdef LAT_HAVE_MPI
#define LAT_MPI_CHECK(expr)                                                               \
  do {                                                                                   \
    int lat_mpi_status_ = (expr);                                                        \
    if (lat_mpi_status_ != MPI_SUCCESS) {                                                \
      char text[MPI_MAX_ERROR_STRING];                                                   \
      int len = 0;                                                                       \
      MPI_Error_string(lat_mpi_status_, text, &len);                                     \
      LAT_THROW("MPI error in ", #expr, ": ", std::string(text, static_cast<size_t>(len))); \
    }                                                                                    \
  } while (0)

MPI_Datatype mpi_type(const Tensor& t) {
  switch (t.dtype()) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I32: return MPI_INT;
    default: LAT_THROW("MPI communicator: unsupported dtype ", dtype_name(t.dtype()));
  }
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      LAT_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided));
      owns_mpi_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    LAT_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    LAT_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_));
    MPI_Comm node;
    LAT_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
    LAT_MPI_CHECK(MPI_Comm_rank(node, &local_rank_));
    MPI_Comm_free(&node);
  }
  ~MpiCommunicator() override {
    if (owns_mpi_) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "mpi"; }

  void all_reduce_sum(Tensor& t) override {
    LAT_CHECK(t.device().is_cpu() && t.is_contiguous(), "MPI all-reduce needs a contiguous CPU tensor, got ", t.str());
    LAT_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), static_cast<int>(t.numel()), mpi_type(t), MPI_SUM,
                                MPI_COMM_WORLD));
  }
  void broadcast(Tensor& t, int root) override {
    LAT_CHECK(t.device().is_cpu() && t.is_contiguous(), "MPI broadcast needs a contiguous CPU tensor, got ", t.str());
    LAT_MPI_CHECK(MPI_Bcast(t.raw_data(), static_cast<int>(t.numel()), mpi_type(t), root, MPI_COMM_WORLD));
  }
  double all_reduce_sum(double value) override {
    double out = 0;
    LAT_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    return out;
  }
  void barrier() override { LAT_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); }
  [[noreturn]] void abort(const std::string& message) override {
    std::fprintf(stderr, "lat: rank %d of %d failed: %s\n", rank_, world_, message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

 private:
  int rank_ = 0, world_ = 1, local_rank_ = 0;
  bool owns_mpi_ = false;
};
#endif

}  // namespace

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(var) != nullptr) return true;
  return false;
}

std::unique_ptr<Communicator> make_communicator() {
  if (launched_by_mpi()) {
#ifdef LAT_HAVE_MPI
    return std::make_unique<MpiCommunicator>();
#else
    LAT_THROW("lat-train was started by an MPI launcher but this build has no MPI support (configure with -DLAT_MPI=ON)");
#endif
  }
  return std::make_unique<SingleCommunicator>();
}

}  // namespace lat::trainers
