// lat-bench allreduce: bandwidth of lat's gradient all-reduce, reported the way nccl-tests does.
//
//   mpirun -np 2 lat-bench allreduce [--size-mb 0.0625 --size-mb 1 ...] [--bucket-mb 25] [--iters 20]
//
// For each size S (bytes of f32 gradient): "raw" times one Communicator::all_reduce_sum of S bytes; "bucketed"
// times the GradientReducer path the trainer uses (S bytes of gradients in 16 parameters, packed into
// buckets of --bucket-mb (the first one --first-bucket-mb), all-reduced in order, averaged and unpacked; no
// backward to overlap with, so this is the cost overlap has to hide). Times are the mean over --iters after
// --warmup, averaged over ranks; "started" times Communicator::start_all_reduce_sum + wait() of S bytes (the
// inline overlap's collective: on MPI with a power-of-two world size, recursive halving/doubling over
// point-to-point messages; otherwise MPI_Iallreduce); algbw = S / time, busbw = algbw * 2 (n - 1) / n (the bytes each rank's
// link carries in a ring all-reduce, comparable across world sizes). On the CPU the communicator is MPI;
// --device cuda (CUDA builds, NCCL) reduces device buffers.
#include <cstdio>
#include <memory>
#include <vector>

#include "autograd/nn/module.h"
#include "bench/registry.h"
#include "core/error.h"
#include "core/random.h"
#include "core/tensor.h"
#include "core/timer.h"
#include "trainers/communicator.h"
#include "trainers/gradient_reducer.h"
#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#endif

namespace lat::bench {
namespace {

struct AllreduceOptions {
  std::vector<double> sizes_mb{0.0625, 1, 4, 16, 64};
  double bucket_mb = 25;
  double first_bucket_mb = 1;
  int iters = 20;
  int warmup = 3;
  std::string device = "cpu";
};

void sync(Device device) {
#ifdef LAT_HAVE_CUDA
  if (device.is_cuda()) cuda::synchronize();
#else
  (void)device;
#endif
}

void run(const AllreduceOptions& o) {
  const Device device = o.device == "cuda" ? Device::cuda(0) : Device::cpu();
  LAT_CHECK(o.device == "cpu" || o.device == "cuda", "--device must be cpu or cuda, got '", o.device, "'");
  auto comm = trainers::make_communicator(device);
  const int n = comm->world_size();
  const bool root = comm->is_root();
  if (root) {
    std::printf("# lat-bench allreduce: %d rank%s, communicator %s, device %s, f32, bucket %.3g MB (first %.3g MB), "
                "%d iterations after %d warm-up\n",
                n, n > 1 ? "s" : "", comm->name().c_str(), device.str().c_str(), o.bucket_mb, o.first_bucket_mb,
                o.iters, o.warmup);
    if (n == 1) std::printf("# world size 1: nothing to reduce (run under mpirun -np 2 or more)\n");
    std::printf("# %12s %12s | %10s %10s %10s | %11s %10s | %10s %10s %10s %7s\n", "size(B)", "count", "raw(us)",
                "algbw", "busbw", "started(us)", "busbw", "bucket(us)", "algbw", "busbw", "buckets");
  }
  const double bus_factor = n > 1 ? 2.0 * (n - 1) / n : 0.0;
  for (double mb : o.sizes_mb) {
    const int64_t count = std::max<int64_t>(16, static_cast<int64_t>(mb * 1024 * 1024 / 4) / 16 * 16);
    const double bytes = static_cast<double>(count) * 4;

    // Raw: one all-reduce of the whole buffer.
    Tensor flat = Tensor::empty(Shape{count}, DType::F32, device);
    fill_uniform(flat, 1, 0, -1, 1);
    for (int i = 0; i < o.warmup; ++i) comm->all_reduce_sum(flat);
    sync(device);
    comm->barrier();
    Timer timer;
    for (int i = 0; i < o.iters; ++i) comm->all_reduce_sum(flat);
    sync(device);
    const double raw_s = comm->all_reduce_sum(timer.seconds() / o.iters) / n;

    // Started: the non-blocking path the inline overlap uses, waited for at once.
    for (int i = 0; i < o.warmup; ++i) comm->start_all_reduce_sum(flat)->wait();
    sync(device);
    comm->barrier();
    timer.reset();
    for (int i = 0; i < o.iters; ++i) comm->start_all_reduce_sum(flat)->wait();
    sync(device);
    const double started_s = comm->all_reduce_sum(timer.seconds() / o.iters) / n;

    // Bucketed: the trainer's reducer over 16 parameters of count/16 elements.
    std::vector<autograd::nn::NamedParameter> params;
    for (int k = 0; k < 16; ++k) {
      Tensor data = Tensor::zeros(Shape{count / 16}, DType::F32, device);
      char name[16];
      std::snprintf(name, sizeof name, "p%d", k);  // (not "p" + to_string: GCC 12's -Wrestrict false positive)
      autograd::nn::NamedParameter p{name, autograd::Variable(data, true), true};
      p.variable.grad() = Tensor::empty(Shape{count / 16}, DType::F32, device);
      fill_uniform(p.variable.grad(), 2, static_cast<uint64_t>(k) * static_cast<uint64_t>(count), -1, 1);
      params.push_back(std::move(p));
    }
    trainers::GradientReducer reducer(params, *comm, o.bucket_mb, /*overlap=*/false, o.first_bucket_mb);
    auto reduce = [&] {
      reducer.arm();
      reducer.finish();
    };
    for (int i = 0; i < o.warmup; ++i) reduce();
    sync(device);
    comm->barrier();
    timer.reset();
    for (int i = 0; i < o.iters; ++i) reduce();
    sync(device);
    const double bucket_s = comm->all_reduce_sum(timer.seconds() / o.iters) / n;

    if (root)
      std::printf("  %12.0f %12lld | %10.1f %10.2f %10.2f | %11.1f %10.2f | %10.1f %10.2f %10.2f %7zu\n", bytes,
                  static_cast<long long>(count), raw_s * 1e6, bytes / raw_s * 1e-9, bytes / raw_s * 1e-9 * bus_factor,
                  started_s * 1e6, bytes / started_s * 1e-9 * bus_factor, bucket_s * 1e6, bytes / bucket_s * 1e-9, bytes / bucket_s * 1e-9 * bus_factor, reducer.num_buckets());
  }
  if (root) std::printf("# algbw, busbw in GB/s (10^9 bytes/s); busbw = algbw * 2(n-1)/n\n");
}

const Subcommand allreduce("allreduce", "bus bandwidth of the bucketed gradient all-reduce (run under mpirun)",
                           [](CLI::App& sub) {
                             auto o = std::make_shared<AllreduceOptions>();
                             sub.add_option("--size-mb", o->sizes_mb, "buffer sizes in MiB (repeatable)")->take_all();
                             sub.add_option("--bucket-mb", o->bucket_mb, "gradient bucket size (distributed.bucket_mb)");
                             sub.add_option("--first-bucket-mb", o->first_bucket_mb, "size of the first bucket");
                             sub.add_option("--iters", o->iters, "timed iterations per size");
                             sub.add_option("--warmup", o->warmup, "untimed iterations per size");
                             sub.add_option("--device", o->device, "cpu (MPI) or cuda (NCCL)");
                             sub.callback([o] { run(*o); });
                           });

}  // namespace
}  // namespace lat::bench
