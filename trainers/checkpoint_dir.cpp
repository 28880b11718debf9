// The checkpoints/ folder: file names, listing (stray names ignored, never parsed unsafely), saving with
// pruning, and the scan behind `--resume auto`.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "trainers/checkpoint.h"

namespace lat {
namespace fs = std::filesystem;

std::string checkpoint_path(const std::string& dir, int64_t step) {
  if (step < 0) LAT_THROW("checkpoint step must be >= 0, got ", step);
  char name[40];
  std::snprintf(name, sizeof(name), "step_%08lld.h5", static_cast<long long>(step));
  return (fs::path(dir) / name).string();
}

std::optional<int64_t> checkpoint_step(const std::string& filename) {
  const std::string prefix = "step_", suffix = ".h5";
  if (filename.size() <= prefix.size() + suffix.size() || filename.rfind(prefix, 0) != 0 ||
      filename.compare(filename.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::nullopt;
  const char* begin = filename.data() + prefix.size();
  const char* end = filename.data() + filename.size() - suffix.size();
  if (!std::all_of(begin, end, [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  int64_t step = 0;
  const auto [stop, error] = std::from_chars(begin, end, step);
  if (error != std::errc() || stop != end) return std::nullopt;
  return step;
}

std::vector<std::string> list_checkpoints(const std::string& dir, std::vector<std::string>* ignored) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step_", 0) != 0 || entry.path().extension() != ".h5" || !entry.is_regular_file(ec))
      continue;
    if (const auto step = checkpoint_step(name))
      found.emplace_back(*step, entry.path().string());
    else if (ignored)
      ignored->push_back(entry.path().string());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second > b.second;
  });
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::string save_checkpoint(const Checkpoint& ckpt, const std::string& dir, int64_t keep_last,
                            const std::string& keep) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    LAT_THROW("checkpoint directory '", dir, "' cannot be created: ", ec.message());
  std::string path = checkpoint_path(dir, ckpt.step);
  write_checkpoint(ckpt, path);
  if (keep_last > 0) {
    int64_t kept = 0;
    for (const std::string& old : list_checkpoints(dir)) {
      if (old == path || kept < keep_last) {
        ++kept;
        continue;
      }
      if (!keep.empty() && fs::equivalent(old, keep, ec)) continue;
      fs::remove(old, ec);
      if (ec) log_warn("could not prune old checkpoint {}: {}", old, ec.message());
    }
  }
  return path;
}

CheckpointScan scan_checkpoints(const std::string& dir) {
  CheckpointScan scan;
  const std::vector<std::string> files = list_checkpoints(dir, &scan.ignored);
  for (const std::string& path : files) {
    try {
      read_checkpoint(path);
      scan.latest = path;
      break;
    } catch (const Error& e) {
      scan.damaged.push_back(e.what());
    }
  }
  return scan;
}

}  // namespace lat
