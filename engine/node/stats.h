// Counters, one block per shard in the shared region: each shard is the only writer of its block
// (plain relaxed stores, no read-modify-write), and /stats or /metrics sums the blocks on demand.
// Names follow go-push's /stats where go-push has the counter, ours otherwise.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace ringcast {

class Ring;
class RoomTable;
struct ClusterState;

enum class Counter : uint16_t {
  conns_accepted,         // TCP connections accepted (client and API ports)
  conns_refused,          // refused because the shard was full (503)
  ws_open,                // gauge: open WebSocket connections      (go-push onlineConnections)
  handshakes_failed,      // upgrade requests answered with an HTTP error
  handshake_timeouts,     // upgrade request not complete in time (408)
  heartbeat_timeouts,     // clients closed for silence
  close_protocol_error,   // we closed with 1002
  close_invalid_payload,  // 1007 (bad UTF-8, malformed JSON command)
  close_too_big,          // 1009
  close_slow_consumer,    // 1008: backlog over out_queue_bytes_max
  close_going_away,       // 1001 at shutdown
  rooms,                  // gauge: rooms with members on this shard (go-push roomCount, summed)
  joins,
  joins_refused,  // over rooms_per_conn_max or rooms_max, bad room name, not granted
  leaves,
  commands_in,  // client commands handled
  api_requests,
  api_errors,       // answered 4xx/5xx
  pushes_accepted,  // publishes committed to the ring by this shard's API
  items_accepted,
  publish_refused_full,  // 503: ring full
  entries_consumed,      // ring entries this shard drained
  frames_built,          // coalesced PUSH frames this shard built (one per room per batch)
  frames_queued,         // PUSH frames queued to connections (go-push sendMessageTotal)
  frames_dropped,        // PUSH frames discarded on purpose: slow consumer or closing connection
                         // (go-push sendMessageFail)
  items_delivered,       // items queued to connections
  bytes_in,
  bytes_out,
  sends,                    // send operations completed
  frames_sent,              // PUSH frames handed to the kernel whole (delivered)
  frames_dropped_slow,      // of frames_dropped: discarded because their connection was a slow consumer
  frames_dropped_closing,   // of frames_dropped: discarded because their connection was closing or gone
  demo_requests,            // --demo: HTTP requests on the client port (page, script, /demo/*)
  demo_publishes,           // --demo: comments published through POST /demo/publish
  demo_publish_limited,     // --demo: comments refused by the rate limit (429)
  publish_refused_cluster,  // 503: cluster mode and no NATS connection
  api_conns_refused,        // API connections refused: api_conns_per_shard_max open on the shard (503)
  api_unauthorized,         // API requests without the api_token (401)
  origin_refused,           // upgrades from a browser Origin not in allowed_origins (403)
  token_refused,            // upgrades without a valid connect token (401)
  joins_forbidden,          // of joins_refused: rooms outside the connect token's grant
  recoveries,               // JOINs with `since` answered {"recovered":true}
  recoveries_failed,        // JOINs with `since` answered {"recovered":false} (gone, expired, too many)
  items_replayed,           // items replayed to recovering clients
  hook_messages,            // client messages handed to the application's handlers (Engine hooks)
  binds,                    // connections bound to a user id (connect token or BIND)
  binds_refused,            // BIND commands refused (not enabled, already bound, bad uid)
  presence_queries,         // GET /rooms and /rooms/{room} answered (or timed out) by this shard's API
  presence_timeouts,        // of those: a shard did not answer within presence_timeout_ms (503)
  presence_events,          // presence_events: join/leave event items published into the ring
  presence_events_refused,  // presence_events: events the ring refused (full, or cluster down)
  nano_notifies_dropped,    // Pomelo notifies refused (no handler, not in a room, not JSON, publish refused):
                            // a notify has no response to carry the error
  deflate_negotiated,       // upgrades that agreed on permessage-deflate
  deflate_frames,           // compressed frames built (once per shard per frame, shared by its members)
  deflate_bytes_in,         // payload bytes of those frames before compression
  deflate_bytes_out,        // ... and after
  deflate_skipped,          // frames deflate members got plain: under compression_min_bytes, or no smaller
  inflate_messages,         // compressed client messages inflated
  inflate_bytes_in,         // their bytes as received
  inflate_bytes_out,        // ... and inflated
  handshake_deadlines_deferred,  // handshake deadlines moved on: the request sat unread on our side
  sse_open,                      // gauge: open Server-Sent Events streams (subscribers like WebSockets)
  stream_open,                   // gauge: open NDJSON streams
  streams_opened,                // SSE and NDJSON subscriptions answered 200
  tls_handshakes,                // TLS handshakes completed (either listener)
  tls_resumed,                   // of those: resumed sessions (a ticket from an earlier connection)
  tls_handshakes_failed,   // TLS handshakes refused: not TLS, bad or oversized ClientHello, no shared cipher
  tls_handshake_timeouts,  // TLS handshakes not finished within handshake_timeout_ms
  tls_plaintext_refused,   // plain HTTP sent to a TLS port (answered 400 in plain HTTP)
  tls_record_errors,       // TLS connections ended by a record that did not decrypt or a fatal alert
  tls_open,                // gauge: TLS connections past their handshake
  tls_own_records,         // gauge: of those, run by our record layer (keys taken, SSL freed)
  tls_key_updates,         // TLS 1.3 KeyUpdates received (and answered when asked)
  tls_kernel_tx,           // gauge: TLS connections whose sending keys the kernel holds (kTLS)
  tls_kernel_errors,       // kTLS: sending keys the kernel refused (encrypted in user space instead),
                           // or a KeyUpdate it could not take (the connection ended)
  recv_buffers_exhausted,  // receives the kernel ended for want of a free provided buffer (re-armed in turn)
  kCount
};

constexpr size_t kCounterCount = static_cast<size_t>(Counter::kCount);

const char* counter_name(Counter c);

// Publish -> flush latency: from a ring entry's publish_ns to the send that hands its frame to the
// kernel, in fixed buckets (upper bounds in ns; the last bucket is +Inf). Counts are per bucket, not
// cumulative; /metrics makes them cumulative.
constexpr int64_t kLatencyBoundsNs[] = {
    50'000,      100'000,       250'000,       500'000,       1'000'000,      2'500'000,
    5'000'000,   10'000'000,    25'000'000,    50'000'000,    100'000'000,    250'000'000,
    500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000,
};
constexpr size_t kLatencyBuckets = sizeof(kLatencyBoundsNs) / sizeof(kLatencyBoundsNs[0]) + 1;

struct alignas(64) ShardStats {
  std::atomic<int64_t> values[kCounterCount];
  std::atomic<int64_t> latency_counts[kLatencyBuckets];
  std::atomic<int64_t> latency_sum_ns;

  // Single writer: a relaxed load and store, which compiles to plain moves (no locked instruction).
  void add(Counter c, int64_t n = 1) {
    auto& v = values[static_cast<size_t>(c)];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  int64_t get(Counter c) const { return values[static_cast<size_t>(c)].load(std::memory_order_relaxed); }
  // One frame's publish -> flush latency. Most are short, so the scan from the low end stops early.
  void observe_latency(int64_t ns) {
    if (ns < 0) ns = 0;  // a publish stamped by another process's clock read just after ours
    size_t i = 0;
    while (i < kLatencyBuckets - 1 && ns > kLatencyBoundsNs[i]) ++i;
    latency_counts[i].store(latency_counts[i].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    latency_sum_ns.store(latency_sum_ns.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
  }
  void clear() {
    for (auto& v : values) v.store(0, std::memory_order_relaxed);
    for (auto& v : latency_counts) v.store(0, std::memory_order_relaxed);
    latency_sum_ns.store(0, std::memory_order_relaxed);
  }
};

struct StatsTotals {
  int64_t values[kCounterCount] = {};
  int64_t get(Counter c) const { return values[static_cast<size_t>(c)]; }
};

StatsTotals sum_stats(const ShardStats* shards, uint32_t count);

// Open client connections of every transport (go-push's onlineConnections): WebSockets, SSE and
// NDJSON streams.
inline int64_t online_connections(const StatsTotals& t) {
  return t.get(Counter::ws_open) + t.get(Counter::sse_open) + t.get(Counter::stream_open);
}

// Node-wide values that are not per-shard counters: the room table (the exact roomCount) and the
// cluster state. Either may be absent (then roomCount is the sum over shards, and no cluster fields).
struct NodeView {
  const RoomTable* rooms = nullptr;
  const ClusterState* cluster = nullptr;
};

// The /stats document: go-push's names first, then ours, then the ring, then the cluster.
std::string stats_json(const StatsTotals& totals, const Ring& ring, uint32_t shards,
                       const NodeView& node = {});

// The /metrics document (Prometheus text format 0.0.4).
std::string stats_prometheus(const ShardStats* shards, uint32_t count, const Ring& ring,
                             const NodeView& node = {});

}  // namespace ringcast
