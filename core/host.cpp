#include "core/host.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

namespace lat {

double host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  double bytes = pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
  // cgroup v2: "max" or a number of bytes.
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string limit;
  if (in >> limit && limit != "max") {
    char* end = nullptr;
    const double cg = std::strtod(limit.c_str(), &end);
    if (end != limit.c_str() && cg > 0 && (bytes == 0 || cg < bytes)) bytes = cg;
  }
  return bytes;
}

std::string format_bytes(double bytes) {
  char buf[64];
  if (!std::isfinite(bytes) || bytes >= 1e21) {
    std::snprintf(buf, sizeof buf, "%.2g bytes", bytes);
    return buf;
  }
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%.0f bytes", bytes);
    return buf;
  }
  if (bytes < 1024.0 * 1024 * 1024 * 1024) {
    const char* units[] = {"KiB", "MiB", "GiB"};
    int u = 0;
    double x = bytes / 1024;
    while (x >= 1024 && u < 2) x /= 1024, ++u;
    std::snprintf(buf, sizeof buf, x < 10 ? "%.1f %s" : "%.0f %s", x, units[u]);
    return buf;
  }
  const char* units[] = {"TB", "PB", "EB"};
  int u = 0;
  double x = bytes / 1e12;
  while (x >= 1000 && u < 2) x /= 1000, ++u;
  std::snprintf(buf, sizeof buf, x < 10 ? "%.1f %s" : "%.0f %s", x, units[u]);
  return buf;
}

}  // namespace lat
