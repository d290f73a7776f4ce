// Rendering the shards' counters for /stats (JSON) and /metrics (Prometheus text).
#include "engine/stats.h"

#include "engine/ring.h"

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

const char* counter_name(Counter c) { return kInfo[static_cast<size_t>(c)].name; }

StatsTotals sum_stats(const ShardStats* shards, uint32_t count) {
  StatsTotals t;
  for (uint32_t s = 0; s < count; ++s)
    for (size_t i = 0; i < kCounterCount; ++i) t.values[i] += shards[s].values[i].load(std::memory_order_relaxed);
  return t;
}

std::string stats_json(const StatsTotals& t, const Ring& ring, uint32_t shards) {
  std::string out = "{";
  auto field = [&out](const char* name, int64_t v) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += name;
    out += "\":";
    out += std::to_string(v);
  };
  // go-push gateway names, so existing dashboards keep working.
  field("onlineConnections", t.get(Counter::ws_open));
  field("roomCount", t.get(Counter::rooms));
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
  out += '}';
  return out;
}

std::string stats_prometheus(const ShardStats* shards, uint32_t count, const Ring& ring) {
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
  out += "# HELP ringcast_ring_capacity_bytes broadcast ring capacity\n# TYPE ringcast_ring_capacity_bytes gauge\n";
  out += "ringcast_ring_capacity_bytes " + std::to_string(ring.capacity()) + "\n";
  out += "# HELP ringcast_ring_used_bytes bytes held by consumers\n# TYPE ringcast_ring_used_bytes gauge\n";
  out += "ringcast_ring_used_bytes " + std::to_string(ring.used_bytes()) + "\n";
  return out;
}

}  // namespace ringcast
