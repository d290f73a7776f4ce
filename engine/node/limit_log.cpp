// The per-shard summary of limits hit (see limit_log.h).
#include "engine/node/limit_log.h"

#include <iterator>
#include <string>

#include "engine/base/log.h"
#include "engine/limits.h"

namespace ringcast {
namespace {

struct Limit {
  Counter counter;
  const char* what;
};

constexpr Limit kWatched[] = {
    {Counter::close_slow_consumer, "slow consumers closed (1008)"},
    {Counter::frames_dropped, "PUSH frames dropped (slow or closing connections)"},
    {Counter::publish_refused_full, "publishes refused: ring full (503)"},
    {Counter::conns_refused, "connections refused: shard full (503)"},
    {Counter::api_conns_refused, "push API connections refused: api_conns_per_shard_max (503)"},
    {Counter::demo_publish_limited, "demo comments rate-limited (429)"},
    {Counter::token_refused, "upgrades refused: connect token (401)"},
    {Counter::origin_refused, "upgrades refused: origin not allowed (403)"},
    {Counter::api_unauthorized, "push API requests refused: api_token (401)"},
    {Counter::nano_notifies_dropped, "Nano notifies dropped (refused; a notify has no answer)"},
};

}  // namespace

void LimitLog::rebase() {
  take(false, 0);
}

void LimitLog::report(int64_t now_ns) {
  if (logged_ns_ != 0 && now_ns - logged_ns_ < limits::kLimitLogNs) return;
  take(true, now_ns);
}

bool LimitLog::take(bool log, int64_t now_ns) {
  static_assert(std::size(kWatched) == kLimits);
  std::string line;
  for (size_t i = 0; i < kLimits; ++i) {
    const int64_t now = stats_.get(kWatched[i].counter);
    const int64_t delta = now - seen_[i];
    seen_[i] = now;
    if (delta <= 0 || !log) continue;
    if (!line.empty()) line += ", ";
    line += std::to_string(delta) + " " + kWatched[i].what;
  }
  if (line.empty()) return false;
  logged_ns_ = now_ns;
  LOG_WARN("shard %u: limits hit: %s (next summary in %lld s at the earliest)", shard_index_, line.c_str(),
           static_cast<long long>(limits::kLimitLogNs / 1000000000));
  return true;
}

}  // namespace ringcast
