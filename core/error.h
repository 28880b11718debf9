// lat::Error and the LAT_CHECK family: every failure on user input is an exception whose message is one
// sentence naming the offending value. CUDA-clean (no fmt), so .cu files may include it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace lat {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {

template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

[[noreturn]] void throw_check_failure(const char* file, int line, const char* condition, const std::string& message);

}  // namespace detail
}  // namespace lat

// LAT_CHECK(cond, parts...): throws lat::Error("parts..." + " [file:line]") when cond is false.
#define LAT_CHECK(cond, ...)                                                                        \
  do {                                                                                             \
    if (!(cond)) ::lat::detail::throw_check_failure(__FILE__, __LINE__, #cond, ::lat::detail::concat(__VA_ARGS__)); \
  } while (0)

// LAT_THROW(parts...): unconditional lat::Error with the concatenated message (no location: for user errors).
#define LAT_THROW(...) throw ::lat::Error(::lat::detail::concat(__VA_ARGS__))
