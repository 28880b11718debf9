#include "trainers/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "trainers/checkpoint.h"

namespace lat::trainers {
namespace fs = std::filesystem;

namespace {

constexpr const char* kMetricsFile = "metrics.jsonl";

// The step of a metrics row ({"step": 120, ...}); std::nullopt for a torn or foreign line.
std::optional<int64_t> row_step(const std::string& line) {
  const std::string prefix = "{\"step\": ";
  if (line.rfind(prefix, 0) != 0 || line.back() != '}') return std::nullopt;
  int64_t step = 0;
  const char* begin = line.data() + prefix.size();
  const auto [end, error] = std::from_chars(begin, line.data() + line.size(), step);
  if (error != std::errc() || end == begin || *end != ',' || step < 0) return std::nullopt;
  return step;
}

bool has_rows(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) return true;
  return false;
}

}  // namespace

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) LAT_THROW("cannot write '", tmp, "': ", std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd), ::unlink(tmp.c_str());
      LAT_THROW("cannot write '", tmp, "': ", std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!synced) {
    ::unlink(tmp.c_str());
    LAT_THROW("cannot sync '", tmp, "' to disk: ", std::strerror(err));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    LAT_THROW("cannot rename '", tmp, "' to '", path, "': ", ec.message());
  }
}

void prepare_run_dir(const std::string& run_dir, const std::string& checkpoint_dir) {
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) LAT_THROW("run directory '", run_dir, "' cannot be created: ", ec.message());
  const std::string probe = (fs::path(run_dir) / ".lat_write_probe").string();
  std::FILE* f = std::fopen(probe.c_str(), "w");
  if (!f) LAT_THROW("run directory '", run_dir, "' is not writable: ", std::strerror(errno));
  std::fclose(f);
  fs::remove(probe, ec);

  std::vector<fs::path> stale = {fs::path(run_dir) / (std::string(kMetricsFile) + ".tmp"),
                                 fs::path(run_dir) / "recipe.toml.tmp"};
  if (fs::is_directory(checkpoint_dir, ec))
    for (const auto& entry : fs::directory_iterator(checkpoint_dir, ec)) {
      const std::string name = entry.path().filename().string();
      const std::string real = name.size() > 4 ? name.substr(0, name.size() - 4) : "";
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0 && checkpoint_step(real))
        stale.push_back(entry.path());
    }
  for (const fs::path& p : stale)
    if (fs::is_regular_file(fs::symlink_status(p, ec))) {
      fs::remove(p, ec);
      if (!ec) log_info("removed {}, left by an interrupted write", p.string());
    }
}

void claim_for_fresh_run(const std::string& run_dir, const std::string& checkpoint_dir, bool overwrite) {
  std::vector<std::string> previous = list_checkpoints(checkpoint_dir);
  const std::string metrics = (fs::path(run_dir) / kMetricsFile).string();
  if (has_rows(metrics)) previous.push_back(metrics);
  if (previous.empty()) return;
  if (!overwrite) {
    std::string what = "'" + previous.front() + "'";
    if (previous.size() > 1) what += " and " + std::to_string(previous.size() - 1) + " more";
    LAT_THROW(
        "run directory '", run_dir, "' already holds a run (", what,
        "); continue it with --resume auto, or pass --overwrite to delete its checkpoints and metrics and "
        "start over");
  }
  for (const std::string& file : previous) {
    std::error_code ec;
    fs::remove(file, ec);
    if (ec) LAT_THROW("--overwrite: cannot delete '", file, "': ", ec.message());
  }
  log_info("--overwrite: deleted {} file{} of the previous run in {}", previous.size(),
           previous.size() == 1 ? "" : "s", run_dir);
}

void refuse_newer_checkpoints(const std::string& checkpoint_dir, const std::string& resume_file,
                              int64_t resumed_step) {
  std::vector<std::string> newer;
  for (const std::string& path : list_checkpoints(checkpoint_dir)) {
    const auto step = checkpoint_step(fs::path(path).filename().string());
    std::error_code ec;
    if (step && *step > resumed_step && !fs::equivalent(path, resume_file, ec)) newer.push_back(path);
  }
  if (newer.empty()) return;
  const std::string more = newer.size() > 1 ? " and " + std::to_string(newer.size() - 1) + " more" : "";
  LAT_THROW("--resume ", resume_file, " continues from step ", resumed_step, ", but this run's '", newer.front(),
            "'", more, " is newer: continuing would write a second history beside it; move the newer checkpoints "
            "out of '", checkpoint_dir, "', or resume into another --run-dir");
}

void keep_metrics_through(const std::string& path, int64_t last_step) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  std::stringstream whole;
  whole << in.rdbuf();
  if (in.bad()) LAT_THROW("cannot read metrics file '", path, "'");
  const std::string text = whole.str();
  std::istringstream lines(text);
  std::string line, kept;
  int64_t previous = 0;
  size_t dropped = 0;
  while (std::getline(lines, line)) {
    const auto step = row_step(line);
    if (step && *step > previous && *step <= last_step) {
      kept += line + "\n";
      previous = *step;
    } else if (!line.empty()) {
      ++dropped;
    }
  }
  if (kept == text) return;
  write_text_file(path, kept);
  log_info("{}: kept the rows up to step {}, dropped {} (later steps, repeats or a torn last line)", path,
           last_step, dropped);
}

}  // namespace lat::trainers
