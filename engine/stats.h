// Counters, one block per shard in the shared region: each shard is the only writer of its block
// (plain relaxed stores, no read-modify-write), and /stats or /metrics sums the blocks on demand.
// Names follow go-push's /stats where go-push has the counter, ours otherwise.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace ringcast {

class Ring;

enum class Counter : uint16_t {
  conns_accepted,          // TCP connections accepted (client and API ports)
  conns_refused,           // refused because the shard was full (503)
  ws_open,                 // gauge: open WebSocket connections      (go-push onlineConnections)
  handshakes_failed,       // upgrade requests answered with an HTTP error
  handshake_timeouts,      // upgrade request not complete in time (408)
  heartbeat_timeouts,      // clients closed for silence
  close_protocol_error,    // we closed with 1002
  close_invalid_payload,   // 1007 (bad UTF-8, malformed JSON command)
  close_too_big,           // 1009
  close_slow_consumer,     // 1008: backlog over out_queue_bytes_max
  close_going_away,        // 1001 at shutdown
  rooms,                   // gauge: rooms with members on this shard (go-push roomCount, summed)
  joins,
  joins_refused,           // over rooms_per_conn_max, bad room name
  leaves,
  commands_in,             // client commands handled
  api_requests,
  api_errors,              // answered 4xx/5xx
  pushes_accepted,         // publishes committed to the ring by this shard's API
  items_accepted,
  publish_refused_full,    // 503: ring full
  entries_consumed,        // ring entries this shard drained
  frames_built,            // coalesced PUSH frames this shard built (one per room per batch)
  frames_queued,           // PUSH frames queued to connections (go-push sendMessageTotal)
  frames_dropped,          // PUSH frames discarded on purpose: slow consumer or closing connection
                           // (go-push sendMessageFail)
  items_delivered,         // items queued to connections
  bytes_in,
  bytes_out,
  sends,                   // send operations completed
  kCount
};

constexpr size_t kCounterCount = static_cast<size_t>(Counter::kCount);

const char* counter_name(Counter c);

struct alignas(64) ShardStats {
  std::atomic<int64_t> values[kCounterCount];

  // Single writer: a relaxed load and store, which compiles to plain moves (no locked instruction).
  void add(Counter c, int64_t n = 1) {
    auto& v = values[static_cast<size_t>(c)];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  int64_t get(Counter c) const { return values[static_cast<size_t>(c)].load(std::memory_order_relaxed); }
  void clear() {
    for (auto& v : values) v.store(0, std::memory_order_relaxed);
  }
};

struct StatsTotals {
  int64_t values[kCounterCount] = {};
  int64_t get(Counter c) const { return values[static_cast<size_t>(c)]; }
};

StatsTotals sum_stats(const ShardStats* shards, uint32_t count);

// The /stats document: go-push's names first, then ours, then the ring.
std::string stats_json(const StatsTotals& totals, const Ring& ring, uint32_t shards);

// The /metrics document (Prometheus text format 0.0.4).
std::string stats_prometheus(const ShardStats* shards, uint32_t count, const Ring& ring);

}  // namespace ringcast
