// ZeRO-1's collectives (Communicator::reduce_scatter_sum, start_reduce_scatter_sum, all_gather) against a
// direct computation. The worker case runs in every rank of `mpirun -np N lat_mpi_tests -tc=<worker>` (the
// MPI communicator); run alone, as CTest also runs it, it checks the single-process communicator. The
// launcher case starts it at 2 and 3 ranks (3: chunks that are not a power-of-two split).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "support/shell.h"
#include "trainers/communicator.h"

using namespace lat;

namespace {

// Rank r's input element i, exact in f32 for the sizes below; its sum over ranks is exact too.
double input(int r, int64_t i) {
  return 1000.0 * (r + 1) + static_cast<double>(i);
}
double gathered(int r, int64_t i) {
  return -0.5 * (r + 1) - 3.0 * static_cast<double>(i);
}

Tensor filled(DType dtype, int64_t numel, const std::vector<double>& values) {
  Tensor t = Tensor::empty(Shape{numel}, DType::F64, Device::cpu());
  for (int64_t i = 0; i < numel; ++i) t.data<double>()[i] = values[static_cast<size_t>(i)];
  return t.to(dtype).contiguous();
}

std::string self_exe() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  REQUIRE(n > 0);
  return std::string(path, static_cast<size_t>(n));
}

}  // namespace

TEST_CASE("collectives worker: reduce-scatter and all-gather of every rank equal a direct computation") {
  static std::unique_ptr<trainers::Communicator> comm =
      trainers::make_communicator();  // MPI_Init once per process
  const int world = comm->world_size(), rank = comm->rank();
  int checked = 0;
  for (const DType dtype : {DType::F32, DType::F64}) {
    for (const int64_t n : {int64_t{1}, int64_t{3}, int64_t{1000}}) {  // elements per chunk
      const int64_t numel = n * world;
      CAPTURE(dtype_name(dtype));
      CAPTURE(n);
      for (const bool started : {false, true}) {
        CAPTURE(started);
        std::vector<double> mine(static_cast<size_t>(numel));
        for (int64_t i = 0; i < numel; ++i) mine[static_cast<size_t>(i)] = input(rank, i);
        Tensor t = filled(dtype, numel, mine);
        if (started)
          comm->start_reduce_scatter_sum(t)->wait();
        else
          comm->reduce_scatter_sum(t);
        const std::vector<double> out = t.to(DType::F64).to_vector<double>();
        for (int64_t i = rank * n; i < (rank + 1) * n; ++i) {
          double expected = 0;
          for (int r = 0; r < world; ++r) expected += input(r, i);
          CHECK(out[static_cast<size_t>(i)] == expected);
        }
        ++checked;
      }
      // All-gather: only this rank's chunk is meaningful on input (the others hold NaN).
      std::vector<double> mine(static_cast<size_t>(numel), std::numeric_limits<double>::quiet_NaN());
      for (int64_t i = rank * n; i < (rank + 1) * n; ++i) mine[static_cast<size_t>(i)] = gathered(rank, i);
      Tensor t = filled(dtype, numel, mine);
      comm->all_gather(t);
      const std::vector<double> out = t.to(DType::F64).to_vector<double>();
      for (int64_t i = 0; i < numel; ++i)
        CHECK(out[static_cast<size_t>(i)] == gathered(static_cast<int>(i / n), i));
      ++checked;
    }
  }
  // A tensor that does not split into one chunk per rank is refused, naming the collective.
  if (world > 1) {
    Tensor odd = Tensor::zeros(Shape{world + 1}, DType::F32, Device::cpu());
    CHECK_THROWS_WITH_AS(comm->reduce_scatter_sum(odd), doctest::Contains("equal chunks"), lat::Error);
    CHECK_THROWS_WITH_AS(comm->all_gather(odd), doctest::Contains("equal chunks"), lat::Error);
  }
  std::printf("collectives: rank %d of %d (%s): %d reduce-scatters and all-gathers match\n", rank, world,
              comm->name().c_str(), checked);
  CHECK(checked == 18);
}

TEST_CASE("reduce-scatter and all-gather under mpirun -np 2 and -np 3 match a direct computation") {
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  for (const int ranks : {2, 3}) {
    CAPTURE(ranks);
    const std::string command = "timeout 60 " + std::string(LAT_MPIRUN) + " -np " + std::to_string(ranks) +
                                " --oversubscribe --bind-to none " + self_exe() +
                                " '-tc=collectives worker*' --no-intro";
    const testing::ShellResult r = testing::run_shell(command);
    MESSAGE("$ " << command << "\n" << r.output);
    CHECK(r.exit_code == 0);
    for (int rank = 0; rank < ranks; ++rank) {
      CAPTURE(rank);
      const std::string line = "collectives: rank " + std::to_string(rank) + " of " + std::to_string(ranks) +
                               " (mpi): 18 reduce-scatters and all-gathers match";
      CHECK(r.output.find(line) != std::string::npos);
    }
  }
}
