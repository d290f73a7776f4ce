// One line per notable event (start, listen addresses, limits hit, restarts), never one per message.
// printf-style, to stderr, with a UTC timestamp and the level; thread-safe because each line is one
// write().
#pragma once

#include <string_view>

namespace ringcast {

enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };

void set_log_level(std::string_view level);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace ringcast

#define RC_LOG(level, ...)                                                        \
  do {                                                                            \
    if (::ringcast::log_enabled(level)) ::ringcast::log_line(level, __VA_ARGS__); \
  } while (0)
#define LOG_ERROR(...) RC_LOG(::ringcast::LogLevel::error, __VA_ARGS__)
#define LOG_WARN(...) RC_LOG(::ringcast::LogLevel::warn, __VA_ARGS__)
#define LOG_INFO(...) RC_LOG(::ringcast::LogLevel::info, __VA_ARGS__)
#define LOG_DEBUG(...) RC_LOG(::ringcast::LogLevel::debug, __VA_ARGS__)
