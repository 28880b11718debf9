// Facts about the host that limits are checked against: how much memory this process may use, and a
// human-readable byte count for the messages that refuse a run ("about 3.2 TB").
#pragma once

#include <cstdint>
#include <string>

namespace lat {

// Physical memory, or the cgroup's memory.max when that is lower (a container's limit).
double host_memory_bytes();
// "812 bytes", "3.4 MiB", "23 GiB", "3.2 TB" ... up to EB, then "1.2e+25 bytes". Binary units below 1 TiB,
// decimal above (machines are sold in TB), as the figures in messages are read.
std::string format_bytes(double bytes);

}  // namespace lat
