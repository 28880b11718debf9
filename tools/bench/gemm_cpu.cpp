// lat-bench gemm-cpu: GFLOP/s of lat's own CPU GEMM (kernels/cpu/gemm.cpp) against OpenBLAS, for square
// row-major problems C[N,N] = A[N,N] · B[N,N]. Each backend gets one warm-up call, then the best of --repeat
// timed calls is reported (best-of filters out noise from other processes on shared machines), along with the
// max relative difference between the two results. Threads: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS.
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "bench/registry.h"
#include "tools/cli.h"
#include "core/error.h"
#include "core/random.h"
#include "core/tensor.h"
#include "core/timer.h"
#include "kernels/cpu/gemm.h"

namespace lat::bench {
namespace {

struct GemmCpuOptions {
  std::vector<int64_t> sizes{512, 2048};
  int repeat = 5;
  std::string dtype = "f32";
  std::string backend = "both";
};

template <class T>
void run_size(int64_t n, int repeat, const std::string& which) {
  using kernels::cpu::GemmBackend;
  Tensor a = Tensor::empty(Shape{n, n}, dtype_of<T>), b = Tensor::empty(Shape{n, n}, dtype_of<T>);
  fill_uniform(a, 1, 0, -1, 1);
  fill_uniform(b, 2, 0, -1, 1);
  const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  std::vector<Tensor> results;
  std::printf("%-6s %6lld", dtype_name(dtype_of<T>), static_cast<long long>(n));
  for (GemmBackend backend : {GemmBackend::Own, GemmBackend::OpenBLAS}) {
    if (which != "both" && which != kernels::cpu::gemm_backend_name(backend)) continue;
    if (!kernels::cpu::gemm_backend_available(backend)) {
      std::printf("  %9s %10s", kernels::cpu::gemm_backend_name(backend), "n/a");
      continue;
    }
    Tensor c = Tensor::empty(Shape{n, n}, dtype_of<T>);
    double best = 1e30;
    for (int r = 0; r <= repeat; ++r) {
      Timer timer;
      kernels::cpu::gemm_with<T>(backend, false, false, n, n, n, T(1), a.data<T>(), n, b.data<T>(), n, T(0),
                                 c.data<T>(), n);
      if (r > 0) best = std::min(best, timer.seconds());  // r == 0 warms caches, pages and thread pools
    }
    std::printf("  %9s %7.1f GF/s", kernels::cpu::gemm_backend_name(backend), flops / best * 1e-9);
    results.push_back(c);
  }
  if (results.size() == 2) {
    const T* x = results[0].data<T>();
    const T* y = results[1].data<T>();
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < n * n; ++i) {
      diff = std::max(diff, std::abs(static_cast<double>(x[i]) - static_cast<double>(y[i])));
      scale = std::max(scale, std::abs(static_cast<double>(y[i])));
    }
    std::printf("  max rel diff %.1e", diff / scale);
  }
  std::printf("\n");
  std::fflush(stdout);
}

void run(const GemmCpuOptions& options) {
  LAT_CHECK(options.repeat >= 1, "gemm-cpu: --repeat must be at least 1, got ", options.repeat);
  std::printf("lat-bench gemm-cpu: C = A·B, N×N×N, best of %d, %d OpenMP threads\n", options.repeat,
              omp_get_max_threads());
  const DType dtype = parse_dtype(options.dtype);
  for (int64_t n : options.sizes) {
    LAT_CHECK(n >= 1, "gemm-cpu: --size must be positive, got ", n);
    if (dtype == DType::F32)
      run_size<float>(n, options.repeat, options.backend);
    else if (dtype == DType::F64)
      run_size<double>(n, options.repeat, options.backend);
    else
      LAT_THROW("gemm-cpu: --dtype must be f32 or f64, got ", options.dtype);
  }
}

const Subcommand gemm_cpu("gemm-cpu", "GFLOP/s of lat's own CPU GEMM vs OpenBLAS", [](CLI::App& sub) {
  auto options = std::make_shared<GemmCpuOptions>();
  sub.add_option("--size", options->sizes, "matrix size N, repeatable (default: 512 and 2048)")
      ->check(tools::kPositiveInteger)
      ->capture_default_str();
  sub.add_option("--repeat", options->repeat, "timed calls per backend (best is reported)")
      ->check(tools::kPositiveInteger)
      ->capture_default_str();
  sub.add_option("--dtype", options->dtype, "f32 or f64")->capture_default_str();
  sub.add_option("--backend", options->backend, "own, openblas or both")
      ->check(CLI::IsMember({"own", "openblas", "both"}))
      ->capture_default_str();
  sub.callback([options] { run(*options); });
});

}  // namespace
}  // namespace lat::bench
