// Limits hit (slow consumers cut, frames dropped, 503s, 429s, refused upgrades and API requests, Nano
// notifies dropped), summarised per shard in one log line: the first as soon as the shard's periodic
// check sees it, then at most one per limits::kLimitLogNs with the counts in between. The counts come
// from the shard's stats block, so the events themselves cost nothing extra: an overload never becomes
// a line per event.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/node/stats.h"

namespace ringcast {

class LimitLog {
 public:
  LimitLog(const ShardStats& stats, uint32_t shard_index) : stats_(stats), shard_index_(shard_index) {}

  // Takes the current counts as the base (a restarted worker's shard finds its stats block as the
  // dead one left it: count from there).
  void rebase();
  // Logs what was hit since the last line, unless a line was written less than kLimitLogNs ago.
  void report(int64_t now_ns);

 private:
  static constexpr size_t kLimits = 10;
  bool take(bool log, int64_t now_ns);

  const ShardStats& stats_;
  uint32_t shard_index_;
  int64_t logged_ns_ = 0;  // when the last line was written (0: never)
  int64_t seen_[kLimits] = {};
};

}  // namespace ringcast
