#include "core/error.h"

#include <cstring>

namespace lat::detail {

void throw_check_failure(const char* file, int line, const char* condition, const std::string& message) {
  const char* base = std::strrchr(file, '/');
  std::string where = std::string(base ? base + 1 : file) + ":" + std::to_string(line);
  if (message.empty()) throw Error("check failed: " + std::string(condition) + " [" + where + "]");
  throw Error(message + " [" + where + "]");
}

}  // namespace lat::detail
