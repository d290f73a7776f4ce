// Rendering the shards' counters for /stats (JSON) and /metrics (Prometheus text).
#include "engine/node/stats.h"

#include <cstdio>
#include <utility>

#include "engine/broadcast/ring.h"
#include "engine/codec/json_writer.h"
#include "engine/node/cluster_state.h"
#include "engine/node/room_table.h"

namespace ringcast {
namespace {

struct CounterInfo {
  const char* name;
  const char* help;
  bool gauge;
};

constexpr CounterInfo kInfo[kCounterCount] = {
    {"connsAccepted", "TCP connections accepted", false},
    {"connsRefused", "connections refused because a shard was full (503)", false},
    {"wsOpen", "open WebSocket connections", true},
    {"handshakesFailed", "upgrade requests answered with an HTTP error", false},
    {"handshakeTimeouts", "upgrade requests not complete in time", false},
    {"heartbeatTimeouts", "clients closed for silence", false},
    {"closeProtocolError", "connections closed with 1002", false},
    {"closeInvalidPayload", "connections closed with 1007", false},
    {"closeTooBig", "connections closed with 1009", false},
    {"closeSlowConsumer", "slow consumers closed with 1008", false},
    {"closeGoingAway", "connections closed with 1001 at shutdown", false},
    {"rooms", "rooms with members, summed over shards", true},
    {"joins", "room joins", false},
    {"joinsRefused", "room joins refused", false},
    {"leaves", "room leaves", false},
    {"commandsIn", "client commands handled", false},
    {"apiRequests", "push API requests", false},
    {"apiErrors", "push API requests answered with an error", false},
    {"pushesAccepted", "publishes accepted into the ring", false},
    {"itemsAccepted", "items accepted into the ring", false},
    {"publishRefusedFull", "publishes refused because the ring was full (503)", false},
    {"entriesConsumed", "ring entries drained, summed over shards", false},
    {"framesBuilt", "coalesced PUSH frames built", false},
    {"framesQueued", "PUSH frames queued to connections", false},
    {"framesDropped", "PUSH frames dropped on purpose (slow consumer, closing)", false},
    {"itemsDelivered", "items queued to connections", false},
    {"bytesIn", "bytes received", false},
    {"bytesOut", "bytes sent", false},
    {"sends", "send operations completed", false},
    {"framesSent", "PUSH frames handed to the kernel whole (delivered)", false},
    {"framesDroppedSlow", "PUSH frames dropped because their connection was a slow consumer", false},
    {"framesDroppedClosing", "PUSH frames dropped because their connection was closing or gone", false},
    {"demoRequests", "HTTP requests to the demo on the client port", false},
    {"demoPublishes", "comments published through POST /demo/publish", false},
    {"demoPublishLimited", "demo comments refused by the rate limit (429)", false},
    {"publishRefusedCluster", "publishes refused because the node had no NATS connection (503)", false},
    {"apiConnsRefused", "push API connections refused: api_conns_per_shard_max open (503)", false},
    {"apiUnauthorized", "push API requests refused for a missing or wrong api_token (401)", false},
    {"originRefused", "upgrades refused for a browser Origin not in allowed_origins (403)", false},
    {"tokenRefused", "upgrades refused for a missing, invalid or expired connect token (401)", false},
    {"joinsForbidden", "JOINs refused because the connect token does not grant the room", false},
    {"recoveries", "JOINs with since whose missed items were all replayed", false},
    {"recoveriesFailed", "JOINs with since told recovered:false (items gone, expired or too many)", false},
    {"itemsReplayed", "items replayed to recovering clients", false},
    {"hookMessages", "client messages handed to the embedding application's handlers", false},
    {"binds", "connections bound to a user id (connect token or BIND)", false},
    {"bindsRefused", "BIND commands refused (not enabled, already bound, bad uid)", false},
    {"presenceQueries", "presence queries (GET /rooms, /rooms/{room}) answered by this shard's API", false},
    {"presenceTimeouts", "presence queries answered 503 because a shard did not answer in time", false},
    {"presenceEvents", "presence event items (join/leave) published into the ring", false},
    {"presenceEventsRefused", "presence event items the ring refused (full, or cluster down)", false},
    {"nanoNotifiesDropped", "Pomelo notifies refused, which have no response to carry the error", false},
    {"deflateNegotiated", "upgrades that agreed on permessage-deflate", false},
    {"deflateFrames", "compressed frames built, once per shard per frame", false},
    {"deflateBytesIn", "payload bytes of compressed frames before compression", false},
    {"deflateBytesOut", "payload bytes of compressed frames after compression", false},
    {"deflateSkipped", "frames sent plain to deflate members (under compression_min_bytes, or no smaller)",
     false},
    {"inflateMessages", "compressed client messages inflated", false},
    {"inflateBytesIn", "bytes of compressed client messages as received", false},
    {"inflateBytesOut", "bytes of compressed client messages once inflated", false},
    {"handshakeDeadlinesDeferred",
     "handshake deadlines moved on because the client's bytes were waiting unread on our side", false},
    {"sseOpen", "open Server-Sent Events streams", true},
    {"streamOpen", "open NDJSON streams", true},
    {"streamsOpened", "SSE and NDJSON subscriptions answered 200", false},
    {"tlsHandshakes", "TLS handshakes completed", false},
    {"tlsResumed", "TLS handshakes that resumed a session (ticket)", false},
    {"tlsHandshakesFailed",
     "TLS handshakes refused (not TLS, bad or oversized ClientHello, no shared cipher)", false},
    {"tlsHandshakeTimeouts", "TLS handshakes not finished within handshake_timeout_ms", false},
    {"tlsPlaintextRefused", "plain HTTP sent to a TLS port (answered 400)", false},
    {"tlsRecordErrors", "TLS connections ended by a record that did not decrypt or a fatal alert", false},
    {"tlsOpen", "TLS connections past their handshake", true},
    {"tlsOwnRecords", "TLS connections whose records ringcast seals and opens itself (SSL freed)", true},
    {"tlsKeyUpdates", "TLS 1.3 KeyUpdates received from clients", false},
    {"tlsKernelTx", "TLS connections whose sends the kernel encrypts (kTLS)", true},
    {"tlsKernelErrors",
     "kTLS: sending keys the kernel refused (user space encrypts instead) or a KeyUpdate it could not take "
     "(connection ended)",
     false},
    {"recvBuffersExhausted",
     "receives the kernel ended because every provided receive buffer was in use; the connection is "
     "re-armed in its turn (raise recv_buffer_count if this grows outside connect storms)",
     false},
};

// Prometheus wants snake_case: wsOpen -> ws_open.
std::string snake(const char* camel) {
  std::string out;
  for (const char* p = camel; *p; ++p) {
    if (*p >= 'A' && *p <= 'Z') {
      out += '_';
      out += static_cast<char>(*p - 'A' + 'a');
    } else {
      out += *p;
    }
  }
  return out;
}

}  // namespace

const char* counter_name(Counter c) {
  return kInfo[static_cast<size_t>(c)].name;
}

StatsTotals sum_stats(const ShardStats* shards, uint32_t count) {
  StatsTotals t;
  for (uint32_t s = 0; s < count; ++s)
    for (size_t i = 0; i < kCounterCount; ++i)
      t.values[i] += shards[s].values[i].load(std::memory_order_relaxed);
  return t;
}

namespace {

// The cluster's numbers, by /stats name, Prometheus name, kind and help.
struct ClusterField {
  const char* json;
  const char* metric;
  bool gauge;
  const char* help;
  int64_t (*get)(const ClusterState&);
};

const ClusterField kClusterFields[] = {
    {"clusterConnected", "ringcast_cluster_connected", true, "1 while the node's NATS connection is up",
     [](const ClusterState& c) -> int64_t { return c.connected.load(std::memory_order_relaxed); }},
    {"clusterNodeId", "ringcast_cluster_node_id", true, "this node's id in the cluster",
     [](const ClusterState& c) -> int64_t { return c.node_id.load(std::memory_order_relaxed); }},
    {"clusterSubscriptions", "ringcast_cluster_subscriptions", true,
     "NATS subjects subscribed: rooms with members here, plus push/all",
     [](const ClusterState& c) -> int64_t { return c.subscriptions.load(std::memory_order_relaxed); }},
    {"clusterPublished", "ringcast_cluster_published_total", false, "local pushes forwarded to NATS",
     [](const ClusterState& c) -> int64_t { return c.published.load(std::memory_order_relaxed); }},
    {"clusterPublishFailed", "ringcast_cluster_publish_failed_total", false,
     "local pushes NATS did not take (delivered here only)",
     [](const ClusterState& c) -> int64_t { return c.publish_failed.load(std::memory_order_relaxed); }},
    {"clusterReceived", "ringcast_cluster_received_total", false, "pushes from other nodes put into the ring",
     [](const ClusterState& c) -> int64_t { return c.received.load(std::memory_order_relaxed); }},
    {"clusterReceiveFailed", "ringcast_cluster_receive_failed_total", false,
     "pushes from other nodes the ring could not take (full)",
     [](const ClusterState& c) -> int64_t { return c.receive_failed.load(std::memory_order_relaxed); }},
    {"clusterRejected", "ringcast_cluster_rejected_total", false, "NATS messages that were not valid pushes",
     [](const ClusterState& c) -> int64_t { return c.rejected.load(std::memory_order_relaxed); }},
    {"clusterDropped", "ringcast_cluster_dropped_total", false,
     "messages the NATS client dropped before delivery (slow consumer)",
     [](const ClusterState& c) -> int64_t { return c.dropped.load(std::memory_order_relaxed); }},
    {"clusterDisconnects", "ringcast_cluster_disconnects_total", false, "NATS connections lost",
     [](const ClusterState& c) -> int64_t { return c.disconnects.load(std::memory_order_relaxed); }},
    {"clusterReconnects", "ringcast_cluster_reconnects_total", false, "NATS connections re-established",
     [](const ClusterState& c) -> int64_t { return c.reconnects.load(std::memory_order_relaxed); }},
    {"clusterBridgeRestarts", "ringcast_cluster_bridge_restarts_total", false,
     "bridge processes restarted (--workers)",
     [](const ClusterState& c) -> int64_t { return c.bridge_restarts.load(std::memory_order_relaxed); }},
    {"clusterPresenceAsked", "ringcast_cluster_presence_asked_total", false,
     "presence queries this node asked of the other nodes",
     [](const ClusterState& c) -> int64_t { return c.presence_asked.load(std::memory_order_relaxed); }},
    {"clusterPresencePartial", "ringcast_cluster_presence_partial_total", false,
     "presence answers that were partial (a node heard of did not answer)",
     [](const ClusterState& c) -> int64_t { return c.presence_partial.load(std::memory_order_relaxed); }},
    {"clusterPresenceAnswered", "ringcast_cluster_presence_answered_total", false,
     "other nodes' presence questions this node answered",
     [](const ClusterState& c) -> int64_t { return c.presence_answered.load(std::memory_order_relaxed); }},
    {"clusterPresenceRefused", "ringcast_cluster_presence_refused_total", false,
     "other nodes' presence questions not answered (too many waiting)",
     [](const ClusterState& c) -> int64_t { return c.presence_refused.load(std::memory_order_relaxed); }},
    // JetStream (docs/cluster.md): the stream's acks, gaps filled, replays by source.
    {"jsEnabled", "ringcast_js_enabled", true,
     "1 when room items go through the JetStream stream (config jetstream)",
     [](const ClusterState& c) -> int64_t { return c.jetstream.load(std::memory_order_relaxed); }},
    {"jsHistoryOk", "ringcast_js_history_ok", true, "1 while the stream answers (0: room pushes answer 503)",
     [](const ClusterState& c) -> int64_t { return c.history_ok.load(std::memory_order_relaxed); }},
    {"jsAcked", "ringcast_js_acked_total", false, "room pushes the stream acknowledged (stored, numbered)",
     [](const ClusterState& c) -> int64_t { return c.js_acked.load(std::memory_order_relaxed); }},
    {"jsPublishRetries", "ringcast_js_publish_retries_total", false,
     "room pushes sent to the stream again after an ack timeout or error",
     [](const ClusterState& c) -> int64_t { return c.js_publish_retries.load(std::memory_order_relaxed); }},
    {"jsPublishFailed", "ringcast_js_publish_failed_total", false,
     "room pushes given up after every attempt: delivered nowhere",
     [](const ClusterState& c) -> int64_t { return c.js_publish_failed.load(std::memory_order_relaxed); }},
    {"jsDuplicates", "ringcast_js_duplicates_total", false,
     "republished items that were already committed here (skipped)",
     [](const ClusterState& c) -> int64_t { return c.js_duplicates.load(std::memory_order_relaxed); }},
    {"jsGaps", "ringcast_js_gaps_total", false, "gaps in a room's positions this node filled from the stream",
     [](const ClusterState& c) -> int64_t { return c.js_gaps.load(std::memory_order_relaxed); }},
    {"jsCatchupItems", "ringcast_js_catchup_items_total", false, "items fetched from the stream to fill gaps",
     [](const ClusterState& c) -> int64_t { return c.js_catchup_items.load(std::memory_order_relaxed); }},
    {"jsCatchupMissed", "ringcast_js_catchup_missed_total", false,
     "gaps the stream could not fill (its limits had removed the items)",
     [](const ClusterState& c) -> int64_t { return c.js_catchup_missed.load(std::memory_order_relaxed); }},
    {"jsCatchupPending", "ringcast_js_catchup_pending", true,
     "rooms still to check against the stream after a reconnect",
     [](const ClusterState& c) -> int64_t { return c.js_catchup_pending.load(std::memory_order_relaxed); }},
    {"jsReplaysWindow", "ringcast_js_replays_window_total", false,
     "JOINs with since replayed from this node's window of recent items",
     [](const ClusterState& c) -> int64_t { return c.js_replays_window.load(std::memory_order_relaxed); }},
    {"jsReplaysStream", "ringcast_js_replays_stream_total", false,
     "JOINs with since that needed items fetched from the stream",
     [](const ClusterState& c) -> int64_t { return c.js_replays_stream.load(std::memory_order_relaxed); }},
    {"jsReplaysFailed", "ringcast_js_replays_failed_total", false,
     "JOINs with since the bridge answered recovered:false",
     [](const ClusterState& c) -> int64_t { return c.js_replays_failed.load(std::memory_order_relaxed); }},
    {"jsReplayItemsStream", "ringcast_js_replay_items_stream_total", false,
     "items fetched from the stream for replays",
     [](const ClusterState& c) -> int64_t {
       return c.js_replay_items_stream.load(std::memory_order_relaxed);
     }},
    {"jsWindowBytes", "ringcast_js_window_bytes", true,
     "bytes of the rooms' windows of recent items (jetstream_window_bytes)",
     [](const ClusterState& c) -> int64_t { return c.js_window_bytes.load(std::memory_order_relaxed); }},
    {"jsPublishAckUsAvg", "ringcast_js_publish_ack_microseconds_avg", true,
     "mean time from a room push's acceptance to the stream's ack",
     [](const ClusterState& c) -> int64_t {
       const int64_t n = c.js_acked.load(std::memory_order_relaxed);
       return n ? c.js_ack_ns_sum.load(std::memory_order_relaxed) / n / 1000 : 0;
     }},
    {"jsPublishAckUsMax", "ringcast_js_publish_ack_microseconds_max", true,
     "longest time from a room push's acceptance to the stream's ack",
     [](const ClusterState& c) -> int64_t { return c.js_ack_ns_max.load(std::memory_order_relaxed) / 1000; }},
};

}  // namespace

std::string stats_json(const StatsTotals& t, const Ring& ring, uint32_t shards, const NodeView& node) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  auto field = [&json](const char* name, int64_t v) { json.key(name).number(v); };
  // go-push gateway names, so existing dashboards keep working.
  field("onlineConnections", online_connections(t));
  // Exact with the node-wide room table; the per-shard gauges count a room once per shard it is on.
  field("roomCount", node.rooms ? static_cast<int64_t>(node.rooms->live()) : t.get(Counter::rooms));
  field("sendMessageTotal", t.get(Counter::frames_queued));
  field("sendMessageFail", t.get(Counter::frames_dropped));
  field("dispatchPending", 0);
  field("pushJobPending", 0);
  field("mergerPending", 0);
  field("dispatchFail", t.get(Counter::publish_refused_full));
  for (size_t i = 0; i < kCounterCount; ++i) field(kInfo[i].name, t.values[i]);
  field("shards", shards);
  field("ringCapacityBytes", static_cast<int64_t>(ring.capacity()));
  field("ringUsedBytes", static_cast<int64_t>(ring.used_bytes()));
  if (node.rooms) field("roomsRefused", static_cast<int64_t>(node.rooms->refused()));
  const bool cluster = node.cluster && node.cluster->enabled.load(std::memory_order_relaxed);
  field("clusterEnabled", cluster ? 1 : 0);
  if (cluster)
    for (const ClusterField& f : kClusterFields) field(f.json, f.get(*node.cluster));
  json.end_object();
  return out;
}

namespace {

// Seconds for a bucket bound given in ns, as Prometheus writes `le` ("0.00005", "2.5", "10").
std::string seconds_text(int64_t ns) {
  std::string s = std::to_string(ns / 1000000000) + ".";
  std::string frac = std::to_string(1000000000 + ns % 1000000000).substr(1);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return frac.empty() ? s.substr(0, s.size() - 1) : s + frac;
}

void header(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string stats_prometheus(const ShardStats* shards, uint32_t count, const Ring& ring,
                             const NodeView& node) {
  std::string out;
  for (size_t i = 0; i < kCounterCount; ++i) {
    std::string name = "ringcast_" + snake(kInfo[i].name) + (kInfo[i].gauge ? "" : "_total");
    out += "# HELP " + name + " " + kInfo[i].help + "\n";
    out += "# TYPE " + name + (kInfo[i].gauge ? " gauge\n" : " counter\n");
    for (uint32_t s = 0; s < count; ++s) {
      out += name + "{shard=\"" + std::to_string(s) + "\"} " +
             std::to_string(shards[s].values[i].load(std::memory_order_relaxed)) + "\n";
    }
  }
  // Why PUSH messages did not reach a client, one family with a reason label: frames discarded for a
  // slow consumer or a closing connection, and publishes refused because the ring was full (503).
  header(out, "ringcast_messages_dropped_total", "counter",
         "messages not delivered, by reason (slow_consumer, closing: PUSH frames; ring_full: publishes "
         "refused)");
  const std::pair<const char*, Counter> reasons[] = {{"slow_consumer", Counter::frames_dropped_slow},
                                                     {"closing", Counter::frames_dropped_closing},
                                                     {"ring_full", Counter::publish_refused_full},
                                                     {"cluster_down", Counter::publish_refused_cluster}};
  for (auto [reason, counter] : reasons)
    for (uint32_t s = 0; s < count; ++s)
      out += "ringcast_messages_dropped_total{shard=\"" + std::to_string(s) + "\",reason=\"" + reason +
             "\"} " + std::to_string(shards[s].get(counter)) + "\n";

  header(out, "ringcast_publish_flush_latency_seconds", "histogram",
         "time from a ring entry's publish to the send that hands its frame to the kernel, per delivered "
         "frame");
  for (uint32_t s = 0; s < count; ++s) {
    const std::string shard = "shard=\"" + std::to_string(s) + "\"";
    int64_t cumulative = 0;
    for (size_t b = 0; b < kLatencyBuckets; ++b) {
      cumulative += shards[s].latency_counts[b].load(std::memory_order_relaxed);
      const std::string le = b + 1 < kLatencyBuckets ? seconds_text(kLatencyBoundsNs[b]) : "+Inf";
      out += "ringcast_publish_flush_latency_seconds_bucket{" + shard + ",le=\"" + le + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    const int64_t sum_ns = shards[s].latency_sum_ns.load(std::memory_order_relaxed);
    out += "ringcast_publish_flush_latency_seconds_sum{" + shard + "} " +
           std::to_string(sum_ns / 1000000000) + "." +
           std::to_string(1000000000 + sum_ns % 1000000000).substr(1) + "\n";
    out += "ringcast_publish_flush_latency_seconds_count{" + shard + "} " + std::to_string(cumulative) + "\n";
  }

  uint64_t head_pos = 0, next_seq = 0;
  ring.read_head(head_pos, next_seq);
  header(out, "ringcast_ring_entries_total", "counter",
         "entries published into the broadcast ring (node-wide)");
  out += "ringcast_ring_entries_total " + std::to_string(next_seq > 0 ? next_seq - 1 : 0) + "\n";
  header(out, "ringcast_ring_publish_refused_total", "counter",
         "publishes refused because the ring was full, by any producer (node-wide)");
  out += "ringcast_ring_publish_refused_total " +
         std::to_string(ring.control()->publish_refused.load(std::memory_order_relaxed)) + "\n";
  header(out, "ringcast_ring_capacity_bytes", "gauge", "broadcast ring capacity");
  out += "ringcast_ring_capacity_bytes " + std::to_string(ring.capacity()) + "\n";
  const uint64_t used = ring.used_bytes();
  header(out, "ringcast_ring_used_bytes", "gauge", "bytes held by consumers");
  out += "ringcast_ring_used_bytes " + std::to_string(used) + "\n";
  header(out, "ringcast_ring_occupancy_ratio", "gauge",
         "ring_used_bytes / ring_capacity_bytes (publishes fail at 1)");
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.6f",
                static_cast<double>(used) / static_cast<double>(ring.capacity()));
  out += std::string("ringcast_ring_occupancy_ratio ") + ratio + "\n";
  // Each shard's share: the bytes between the oldest position it still references and the head. The
  // shard with the largest is the one a full ring waits for.
  header(out, "ringcast_ring_held_bytes", "gauge", "bytes of the ring a shard still references");
  for (uint32_t s = 0; s < count; ++s) {
    const ConsumerSlot& slot = ring.control()->consumers[s];
    const uint64_t held = slot.held_pos.load(std::memory_order_acquire);
    const bool active = slot.active.load(std::memory_order_acquire) != 0;
    out += "ringcast_ring_held_bytes{shard=\"" + std::to_string(s) + "\"} " +
           std::to_string(active && head_pos > held ? head_pos - held : 0) + "\n";
  }
  if (node.rooms) {
    header(out, "ringcast_room_count", "gauge",
           "rooms with members on the node (exact, all shards together)");
    out += "ringcast_room_count " + std::to_string(node.rooms->live()) + "\n";
    header(out, "ringcast_rooms_refused_total", "counter", "JOINs refused because rooms_max rooms were live");
    out += "ringcast_rooms_refused_total " + std::to_string(node.rooms->refused()) + "\n";
  }
  if (node.cluster && node.cluster->enabled.load(std::memory_order_relaxed)) {
    for (const ClusterField& f : kClusterFields) {
      header(out, f.metric, f.gauge ? "gauge" : "counter", f.help);
      out += std::string(f.metric) + " " + std::to_string(f.get(*node.cluster)) + "\n";
    }
  }
  return out;
}

}  // namespace ringcast
