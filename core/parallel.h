// Exceptions and OpenMP: an exception that leaves an OpenMP region calls std::terminate (an uncaught
// std::bad_alloc, no message). Loops that can throw (they allocate, or call code that checks its input) run
// each iteration's body through ParallelErrors::run and call rethrow() after the region:
//
//   ParallelErrors errors;
//   #pragma omp parallel for
//   for (int64_t i = 0; i < n; ++i) errors.run([&] { ... });
//   errors.rethrow();
#pragma once

#include <exception>
#include <mutex>

namespace lat {

class ParallelErrors {
 public:
  // Runs f(); the first exception any thread throws is kept, later ones are dropped.
  template <class F>
  void run(F&& f) noexcept {
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
    }
  }
  // Outside the region: throws the kept exception, if any.
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr first_;
};

}  // namespace lat
