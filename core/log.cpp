#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "core/error.h"

namespace lat {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
int g_rank = 0, g_world = 1;
std::mutex g_mutex;
}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

LogLevel parse_log_level(const std::string& text) {
  if (text == "debug") return LogLevel::Debug;
  if (text == "info") return LogLevel::Info;
  if (text == "warn") return LogLevel::Warn;
  if (text == "error") return LogLevel::Error;
  if (text == "off") return LogLevel::Off;
  LAT_THROW("unknown log level '", text, "' (expected debug, info, warn, error or off)");
}

void set_log_rank(int rank, int world_size) {
  g_rank = rank;
  g_world = world_size;
}

void log_message(LogLevel level, std::string_view message) {
  static const char* names[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lock(g_mutex);
  FILE* out = level >= LogLevel::Warn ? stderr : stdout;
  std::string prefix = g_world > 1 ? fmt::format("[rank {}] ", g_rank) : std::string();
  if (level != LogLevel::Info) prefix += fmt::format("{}: ", names[static_cast<int>(level)]);
  fmt::print(out, "{}{}\n", prefix, message);
  std::fflush(out);
}

}  // namespace lat
