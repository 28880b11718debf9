// Communicator: how the ranks of a data-parallel job talk. Single (world size 1, no MPI needed at run
// time), MPI (CPU tensors through MPI_Allreduce / MPI_Bcast; bootstraps NCCL later). Chosen by
// make_communicator(): MPI when the process was started by mpirun (OMPI_/PMI_/PMIX_ environment), else
// single. Collectives are blocking and called by every rank in the same order.
#pragma once

#include <memory>
#include <string>

#include "core/tensor.h"

namespace lat::trainers {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;  // rank among the processes on this node (selects the GPU)
  virtual std::string name() const = 0;
  // In-place sum over ranks of a contiguous f32/f64 tensor.
  virtual void all_reduce_sum(Tensor& t) = 0;
  // Rank `root`'s tensor is copied into every rank's `t` (same shape and dtype everywhere).
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual double all_reduce_sum(double value) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job now with `message`; never returns.
  [[noreturn]] virtual void abort(const std::string& message) = 0;

  bool is_root() const { return rank() == 0; }
};

// True when this process was launched by an MPI launcher.
bool launched_by_mpi();
std::unique_ptr<Communicator> make_communicator();

}  // namespace lat::trainers
