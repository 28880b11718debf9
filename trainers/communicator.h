// Communicator: how the ranks of a data-parallel job talk.
//
//   single  world size 1, no MPI needed at run time.
//   mpi     CPU tensors and host scalars through MPI_Allreduce / MPI_Bcast (MPI_Reduce_scatter_block,
//           MPI_Allgather for ZeRO-1).
//   nccl    device tensors through NCCL on lat::cuda::stream(); bootstrapped by MPI (rank 0 creates the
//           ncclUniqueId, MPI_Bcast shares it, the node-local rank selects the GPU), which also carries host
//           scalars, CPU tensors and barriers. Built when CUDA, MPI and NCCL are all found (LAT_HAVE_NCCL).
//
// make_communicator(device) picks: single unless the process was started by an MPI launcher; under one, nccl
// when the training device is CUDA (also at world size 1: `mpirun -np 1` measures the bucket path), else mpi.
// Collectives are called by every rank in the same order; MPI ones block, NCCL ones are ordered on the compute
// stream (start_all_reduce_sum: on a communication stream, after the compute stream's work so far).
//
// Watchdog: set_watchdog(seconds) makes a collective that has not finished after `seconds` print
// "lat: rank R of N failed: watchdog: <collective> has not finished after S s ..." and abort the whole job
// (MPI_Abort / ncclCommAbort), instead of hanging forever when a peer died or diverged.
#pragma once

#include <memory>
#include <string>

#include "core/device.h"
#include "core/tensor.h"

namespace lat::trainers {

// A collective started by Communicator::start_all_reduce_sum that may not have finished yet. Only the thread
// that started it calls test() / wait(); its tensor must stay alive and untouched until it has finished.
// Destroying an unfinished one (an exception mid-backward, the job about to be aborted) leaks its buffer
// rather than letting the library write into freed memory.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Advances the collective (MPI moves data only inside MPI calls) and says whether it has finished.
  virtual bool test() = 0;
  // Blocks until it has finished (NCCL: makes the compute stream wait for it instead of the host).
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;  // rank among the processes on this node (selects the GPU)
  virtual std::string name() const = 0;
  // In-place sum over ranks of a contiguous tensor: f32/f64 on the CPU (MPI), f32/f64/bf16 on CUDA (NCCL).
  virtual void all_reduce_sum(Tensor& t) = 0;
  // The same, called from a communication thread that shares the cores with compute (the gradient reducer's,
  // with overlap on): waits without spinning so that backward keeps the core (MPI: MPI_Iallreduce polled
  // with short sleeps). Collectives are still issued in one order on every rank.
  virtual void all_reduce_sum_background(Tensor& t) { all_reduce_sum(t); }
  // The same, started now and finished later, for the thread that keeps computing in between (the gradient
  // reducer's inline overlap): test() now and then advances it, wait() finishes it. Collectives started this
  // way and blocking ones must still be issued in one order on every rank. Default: all_reduce_sum now. NCCL:
  // on the communication stream, after what the compute stream has enqueued so far; wait() makes the compute
  // stream (not the host) wait for it.
  virtual std::unique_ptr<PendingCollective> start_all_reduce_sum(Tensor& t);
  // ZeRO-1's collectives (docs/distributed.md), in place on a contiguous tensor of world_size() equal chunks
  // (numel a multiple of the world size): chunk r is elements [r·n, (r + 1)·n), n = numel / world_size().
  // reduce_scatter_sum: afterwards chunk rank() holds the element-wise sum over ranks of everyone's chunk rank();
  // the other chunks are left unspecified (the library may use them as scratch). f32/f64 on the CPU (MPI),
  // f32/f64/bf16 on CUDA (NCCL).
  virtual void reduce_scatter_sum(Tensor& t) = 0;
  // The same, started now and finished later, as start_all_reduce_sum (MPI: MPI_Ireduce_scatter_block; NCCL: on
  // the communication stream). Default: reduce_scatter_sum now.
  virtual std::unique_ptr<PendingCollective> start_reduce_scatter_sum(Tensor& t);
  // all_gather: afterwards every rank's chunk r holds rank r's chunk r (what the other chunks held is ignored).
  virtual void all_gather(Tensor& t) = 0;
  // CPUs this process has to itself: those it may run on (its affinity mask), each divided by the number of
  // this node's ranks that may also run on it. 8 for two unbound ranks on 16 cores, 1 for two ranks on 2.
  virtual double cpus_per_rank() const;
  // Rank `root`'s tensor is copied into every rank's `t` (same shape and dtype everywhere).
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual double all_reduce_sum(double value) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job now with `message` (printed with the rank); never returns.
  [[noreturn]] virtual void abort(const std::string& message) = 0;
  // A collective still unfinished after `seconds` aborts the job with a message naming it; 0 turns it off.
  virtual void set_watchdog(double seconds) { (void)seconds; }

  bool is_root() const { return rank() == 0; }
};

// True when this process was launched by an MPI launcher (mpirun, srun with PMI/PMIx).
bool launched_by_mpi();
// `device` is the training device: CUDA under an MPI launcher chooses the NCCL communicator.
std::unique_ptr<Communicator> make_communicator(Device device = Device::cpu());
// World size 1 whatever launched the process: for work each rank does on its own (lat-study's runs).
std::unique_ptr<Communicator> make_single_communicator();

}  // namespace lat::trainers
