// Recovery's reader of the broadcast ring's history: the PUSH frames that replay one room's items in a
// range of sequence numbers, read from entries no consumer holds any more (so a producer may overwrite
// them while they are read: every read is checked after the copy). Used by a shard for a JOIN with
// `since`; no I/O, so it is unit-tested and benchmarked on its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/broadcast/ring.h"

namespace ringcast {

struct ReplayLimits {
  uint32_t items_max = 10000;       // more items than this in the range: not replayed
  int64_t ttl_ns = 0;               // an item of the room older than this: not replayed (0: no limit)
  size_t frame_bytes_max = 256 * 1024;  // replay frames are cut like coalesced ones
};

// A complete server frame and the number of items in it.
using ReplayFrame = std::pair<std::string, uint32_t>;

// Appends to `frames` the room's items with sequence numbers in (since, until], as PUSH frames each
// ending with the suffix of its last entry (so with that entry's seq and room). True when every entry
// of the range was still in the ring and the limits held; false otherwise (then `frames` holds partial
// output the caller discards). `now_ns` is CLOCK_MONOTONIC, the clock of RingEntry::publish_ns.
// `scratch` is reused between calls.
bool collect_replay(const Ring& ring, std::string_view room, uint64_t since, uint64_t until, const ReplayLimits& limits,
                    int64_t now_ns, std::vector<ReplayFrame>& frames, std::string& scratch);

}  // namespace ringcast
