// Logging: format into a stack buffer, write it in one call.
#include "engine/base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace ringcast {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
constexpr const char* kNames[] = {"error", "warn", "info", "debug"};

}  // namespace

void set_log_level(std::string_view level) {
  for (int i = 0; i < 4; ++i)
    if (level == kNames[i]) g_level.store(i, std::memory_order_relaxed);
}

bool log_enabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed); }

void log_line(LogLevel level, const char* format, ...) {
  char line[1024];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  int n = std::snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ringcast[%d]: ",
                        utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                        ts.tv_nsec / 1000000, kNames[static_cast<int>(level)], static_cast<int>(getpid()));
  va_list args;
  va_start(args, format);
  int m = std::vsnprintf(line + n, sizeof(line) - n - 1, format, args);
  va_end(args);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof(line) - 2) len = sizeof(line) - 2;
  line[len++] = '\n';
  [[maybe_unused]] ssize_t w = write(STDERR_FILENO, line, len);
}

}  // namespace ringcast
