// The configuration's key table and applying one value to a Config (see config_keys.h).
#include "engine/config_keys.h"

#include <charconv>
#include <string>

#include "engine/limits.h"

namespace ringcast::config_keys {

namespace {

template <class T>
std::function<void*(Config&)> member(T Config::*m) {
  return [m](Config& c) -> void* { return &(c.*m); };
}

}  // namespace

const std::vector<Key>& keys() {
  static const std::vector<Key> k = {
      {"listen", nullptr, Kind::endpoint, 0, 0, member(&Config::listen),
       "client address host:port (WebSocket at GET /connect), or none"},
      {"ws_port", "wsPort", Kind::port, 0, 65535, member(&Config::listen), "client port only"},
      {"api", nullptr, Kind::endpoint, 0, 0, member(&Config::api), "push API address host:port, or none"},
      {"api_port", "servicePort", Kind::port, 0, 65535, member(&Config::api), "push API port only"},
      {"ws_path", nullptr, Kind::text, 0, 0, member(&Config::ws_path), "WebSocket path"},
      {"threads", nullptr, Kind::u32, 0, 1024, member(&Config::threads),
       "shards per process (0: one per core)"},
      {"workers", nullptr, Kind::u32, 0, 256, member(&Config::workers),
       "worker processes under a supervisor (0: one process); for more connections than one process may "
       "open"},
      {"max_message", nullptr, Kind::size, 126, 64u << 20, member(&Config::max_message_bytes),
       "largest client message in bytes (1009 beyond)"},
      {"handshake_bytes_max", nullptr, Kind::size, 512, 1u << 20, member(&Config::handshake_bytes_max),
       "largest upgrade request head"},
      {"handshake_timeout_ms", nullptr, Kind::u32, 100, 3600000, member(&Config::handshake_timeout_ms),
       "time allowed for the upgrade request"},
      {"heartbeat_timeout_ms", nullptr, Kind::u32, 1000, 86400000, member(&Config::heartbeat_timeout_ms),
       "close a client silent for longer than this"},
      {"heartbeat_timeout_s", "wsHeartbeatInterval", Kind::seconds_as_ms, 1, 86400,
       member(&Config::heartbeat_timeout_ms), "same, in seconds (go-push)"},
      {"close_timeout_ms", nullptr, Kind::u32, 10, 600000, member(&Config::close_timeout_ms),
       "wait for the peer's close frame"},
      {"rooms_per_conn_max", "maxJoinRoom", Kind::u32, 1, 65535, member(&Config::rooms_per_conn_max),
       "rooms one connection may join"},
      {"room_name_bytes_max", nullptr, Kind::size, 1, 65535, member(&Config::room_name_bytes_max),
       "longest room name"},
      {"conns_per_shard_max", nullptr, Kind::u32, 0, 16u << 20, member(&Config::conns_per_shard_max),
       "connections one shard holds (503 beyond; 0: as the open-files limit allows)"},
      {"room_name_charset", nullptr, Kind::text, 0, 0, member(&Config::room_name_charset),
       "room name characters: utf8 (no control characters) or ascii (printable, no space)"},
      {"merge_window_ms", "maxMergerDelay", Kind::u32, 0, 60000, member(&Config::merge_window_ms),
       "coalescing window per room (0: no added delay)"},
      {"merge_batch_items_max", "maxMergerBatchSize", Kind::u32, 1, 1000000,
       member(&Config::merge_batch_items_max), "items per coalesced PUSH frame"},
      {"merge_frame_bytes_max", nullptr, Kind::size, 1024, 64u << 20, member(&Config::merge_frame_bytes_max),
       "bytes per coalesced PUSH frame"},
      {"out_queue_bytes_max", nullptr, Kind::size, 4096, limits::kOutQueueBytesMaxLimit,
       member(&Config::out_queue_bytes_max), "backlog that makes a client a slow consumer (1008)"},
      {"send_bytes_per_iteration_max", nullptr, Kind::size, 1024, 1u << 30,
       member(&Config::send_bytes_per_iteration_max), "bytes per client per loop turn"},
      {"compression", nullptr, Kind::boolean, 0, 1, member(&Config::compression),
       "accept permessage-deflate: each frame for many members is compressed once and shared"},
      {"compression_min_bytes", nullptr, Kind::size, 0, 1u << 30, member(&Config::compression_min_bytes),
       "frames with a smaller payload go to deflate members uncompressed"},
      {"compression_level", nullptr, Kind::u32, 1, 9, member(&Config::compression_level),
       "zlib compression level, 1 (fastest) to 9 (smallest)"},
      {"ring_bytes", nullptr, Kind::size, 1u << 16, 1ull << 34, member(&Config::ring_bytes),
       "broadcast ring capacity (power of two)"},
      {"history_items_max", nullptr, Kind::u32, 0, 1000000, member(&Config::history_items_max),
       "items one JOIN with since may replay (0: recovery off)"},
      {"history_ttl_ms", nullptr, Kind::u32, 0, 86400000, member(&Config::history_ttl_ms),
       "items older than this are not replayed (0: while the ring holds them)"},
      {"api_body_bytes_max", nullptr, Kind::size, 64, 1u << 30, member(&Config::api_body_bytes_max),
       "largest push API body (413 beyond)"},
      {"api_head_bytes_max", nullptr, Kind::size, 512, 1u << 20, member(&Config::api_head_bytes_max),
       "largest push API request head (431 beyond)"},
      {"api_idle_timeout_ms", nullptr, Kind::u32, 100, 86400000, member(&Config::api_idle_timeout_ms),
       "close an idle API connection after this"},
      {"api_conns_per_shard_max", nullptr, Kind::u32, 1, 1u << 20, member(&Config::api_conns_per_shard_max),
       "open push API connections per shard, apart from clients' (503 beyond)"},
      {"api_token", nullptr, Kind::text, 0, 0, member(&Config::api_token),
       "push API requests need Authorization: Bearer TOKEN (401 otherwise; empty: open)"},
      {"api_token_file", nullptr, Kind::text, 0, 0, member(&Config::api_token_file),
       "file holding api_token (not visible in ps)"},
      {"metrics_public", nullptr, Kind::boolean, 0, 1, member(&Config::metrics_public),
       "with api_token: GET /metrics and /stats answer without it"},
      {"allowed_origins", nullptr, Kind::list, 0, 0, member(&Config::allowed_origins),
       "browser Origins allowed to upgrade, comma-separated; https://*.example.com for subdomains (403 "
       "otherwise; empty: any)"},
      {"token_secret", nullptr, Kind::text, 0, 0, member(&Config::token_secret),
       "upgrades need an HS256 connect token signed with this (401 otherwise; empty: none needed)"},
      {"token_secret_file", nullptr, Kind::text, 0, 0, member(&Config::token_secret_file),
       "file holding token_secret (not visible in ps)"},
      {"tls_cert_file", nullptr, Kind::text, 0, 0, member(&Config::tls_cert_file),
       "PEM certificate chain: both listeners speak TLS (wss://, https://) unless one has its own"},
      {"tls_key_file", nullptr, Kind::text, 0, 0, member(&Config::tls_key_file),
       "PEM private key of tls_cert_file"},
      {"client_tls_cert_file", nullptr, Kind::text, 0, 0, member(&Config::client_tls_cert_file),
       "the client listener's own certificate (TLS there only)"},
      {"client_tls_key_file", nullptr, Kind::text, 0, 0, member(&Config::client_tls_key_file), "its key"},
      {"api_tls_cert_file", "serverPem", Kind::text, 0, 0, member(&Config::api_tls_cert_file),
       "the push API's own certificate (TLS there only)"},
      {"api_tls_key_file", "serverKey", Kind::text, 0, 0, member(&Config::api_tls_key_file), "its key"},
      {"tls_kernel", nullptr, Kind::boolean, 0, 1, member(&Config::tls_kernel),
       "where the kernel offers kTLS (the tls ULP), it encrypts TLS connections' sends (false: user space "
       "does)"},
      {"recv_buffer_bytes", nullptr, Kind::u32, 512, 1u << 20, member(&Config::recv_buffer_bytes),
       "size of each provided receive buffer"},
      {"recv_buffer_count", nullptr, Kind::u32, 16, 32768, member(&Config::recv_buffer_count),
       "provided receive buffers per shard (power of two); a burst that finds none waits its turn "
       "(recvBuffersExhausted)"},
      {"shutdown_drain_ms", nullptr, Kind::u32, 0, 600000, member(&Config::shutdown_drain_ms),
       "time SIGTERM gives close handshakes"},
      {"log_level", nullptr, Kind::text, 0, 0, member(&Config::log_level), "error, warn, info or debug"},
      {"demo", nullptr, Kind::boolean, 0, 1, member(&Config::demo),
       "serve the demo page (GET /), /ringcast.js and /demo/* on the client port"},
      {"demo_text_bytes_max", nullptr, Kind::u32, 1, 4096, member(&Config::demo_text_bytes_max),
       "longest demo comment (400 beyond)"},
      {"demo_publish_per_s", nullptr, Kind::u32, 1, 10000, member(&Config::demo_publish_per_s),
       "demo comments per second per connection (burst 2x; 429 beyond)"},
      {"demo_shard_publish_per_s", nullptr, Kind::u32, 1, 100000, member(&Config::demo_shard_publish_per_s),
       "demo comments per second per shard, all connections together"},
      {"rooms_max", nullptr, Kind::u32, 16, 16u << 20, member(&Config::rooms_max),
       "rooms with members on the node, all shards together (JOINs creating more are refused)"},
      {"user_bind_command", nullptr, Kind::boolean, 0, 1, member(&Config::user_bind_command),
       "clients may bind a user id with the BIND command (trusted as sent; off: only connect tokens bind)"},
      {"user_id_bytes_max", nullptr, Kind::size, 1, 1024, member(&Config::user_id_bytes_max),
       "longest user id (BIND, connect token uid/sub, POST /push/user)"},
      {"presence_timeout_ms", nullptr, Kind::u32, 10, 60000, member(&Config::presence_timeout_ms),
       "GET /rooms and /rooms/{room}: wait this long for every shard's answer (503 beyond)"},
      {"presence_events", nullptr, Kind::boolean, 0, 1, member(&Config::presence_events),
       "JOIN, LEAVE and closes push a presence event item to the room's members"},
      {"nats", nullptr, Kind::text, 0, 0, member(&Config::nats),
       "join a cluster: NATS server URLs nats://host:port[,...] or tls://... (empty: a single node)"},
      {"nats_subject_prefix", nullptr, Kind::text, 0, 0, member(&Config::nats_subject_prefix),
       "first tokens of the cluster's NATS subjects"},
      {"node_id", nullptr, Kind::u32, 0, UINT32_MAX, member(&Config::node_id),
       "this node's id in the cluster (0: random at start)"},
      {"nats_reconnect_wait_ms", nullptr, Kind::u32, 10, 600000, member(&Config::nats_reconnect_wait_ms),
       "first delay before reconnecting to NATS (doubles per round)"},
      {"nats_reconnect_wait_max_ms", nullptr, Kind::u32, 10, 600000,
       member(&Config::nats_reconnect_wait_max_ms), "longest delay between NATS reconnect rounds"},
      {"nats_tls_ca_file", nullptr, Kind::text, 0, 0, member(&Config::nats_tls_ca_file),
       "PEM file of the CA that signed the NATS servers' certificates; turns TLS to NATS on"},
      {"nats_tls_cert_file", nullptr, Kind::text, 0, 0, member(&Config::nats_tls_cert_file),
       "PEM client certificate for NATS servers that verify clients (with nats_tls_key_file)"},
      {"nats_tls_key_file", nullptr, Kind::text, 0, 0, member(&Config::nats_tls_key_file),
       "PEM private key of nats_tls_cert_file"},
      {"jetstream", nullptr, Kind::boolean, 0, 1, member(&Config::jetstream),
       "with nats: room items get cluster-wide positions from a JetStream stream, and any node replays "
       "them to a client that resumes there"},
      {"jetstream_storage", nullptr, Kind::text, 0, 0, member(&Config::jetstream_storage),
       "where the stream keeps the history: file or memory"},
      {"jetstream_replicas", nullptr, Kind::u32, 1, 5, member(&Config::jetstream_replicas),
       "copies of the stream across the NATS servers"},
      {"jetstream_max_msgs", nullptr, Kind::size, 0, UINT64_MAX >> 1, member(&Config::jetstream_max_msgs),
       "items the stream keeps, all rooms together (0: no limit)"},
      {"jetstream_max_bytes", nullptr, Kind::size, 0, UINT64_MAX >> 1, member(&Config::jetstream_max_bytes),
       "bytes the stream keeps (0: no limit); items older than history_ttl_ms go too"},
      {"jetstream_ack_timeout_ms", nullptr, Kind::u32, 50, limits::kJsAckTimeoutMaxMs,
       member(&Config::jetstream_ack_timeout_ms),
       "a publish the stream has not acknowledged in this time is sent again (same message id)"},
      {"jetstream_replay_timeout_ms", nullptr, Kind::u32, 100, 600000,
       member(&Config::jetstream_replay_timeout_ms),
       "a JOIN with since waits this long for its replay, then is told recovered:false"},
      {"jetstream_window_bytes", nullptr, Kind::size, 0, 1ull << 40, member(&Config::jetstream_window_bytes),
       "recent items kept per room for replays without asking the stream, all rooms together"},
      {"nano_path", nullptr, Kind::text, 0, 0, member(&Config::nano_path),
       "WebSocket path for Nano/Pomelo clients (binary Pomelo packets); none: off"},
      {"nano_heartbeat_s", nullptr, Kind::u32, 1, 3600, member(&Config::nano_heartbeat_s),
       "Nano/Pomelo heartbeat interval in whole seconds; a client silent for 3 times this is kicked"},
      {"nano_routes", nullptr, Kind::list, 0, 0, member(&Config::nano_routes),
       "Nano/Pomelo route dictionary sent at the handshake, codes 1..N in order, comma-separated"},
      {"nano_push_route", nullptr, Kind::text, 0, 0, member(&Config::nano_push_route),
       "route of the Pomelo push that carries a push API message"},
      {"sse_path", nullptr, Kind::text, 0, 0, member(&Config::sse_path),
       "path of the Server-Sent Events subscription (GET ?room=r); none: off"},
      {"stream_path", nullptr, Kind::text, 0, 0, member(&Config::stream_path),
       "path of the NDJSON streaming subscription (GET ?room=r); none: off"},
      {"stream_heartbeat_ms", nullptr, Kind::u32, 100, 3600000, member(&Config::stream_heartbeat_ms),
       "interval of the heartbeats sent down SSE and NDJSON streams"},
  };
  return k;
}

namespace {

// go-push keys that configure machinery ringcast does not have (Go channels, worker pools, its
// gateway tier). A go-push config file carries them; they are accepted and have no effect.
constexpr const char* kGoPushIgnored[] = {
    "wsReadTimeout",          "wsWriteTimeout",      "wsInChannelSize",     "wsOutChannelSize",
    "mergerWorkerCount",      "MergerWorkerCount",   "mergerChannelSize",   "bucketCount",
    "bucketWorkerCount",      "dispatchChannelSize", "dispatchWorkerCount", "bucketJobChannelSize",
    "bucketJobWorkerCount",   "serviceReadTimeout",  "serviceWriteTimeout", "gatewayList",
    "gatewayMaxPendingCount", "gatewayPushRetry",
};

}  // namespace

std::span<const char* const> go_push_ignored() {
  return kGoPushIgnored;
}

bool parse_bool(std::string_view text, bool& out) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") {
    out = true;
    return true;
  }
  if (text == "false" || text == "0" || text == "no" || text == "off") {
    out = false;
    return true;
  }
  return false;
}

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

bool apply_text(const Key& key, std::string_view shown, std::string_view text, Config& config,
                std::string& error) {
  void* field = key.field(config);
  switch (key.kind) {
    case Kind::text:
    case Kind::list:
      *static_cast<std::string*>(field) = std::string(text);
      return true;
    case Kind::endpoint:
      if (!parse_endpoint(text, *static_cast<Endpoint*>(field))) {
        error = std::string("'").append(shown) + "': expected host:port, :port, port or none, got '" +
                std::string(text) + "'";
        return false;
      }
      return true;
    case Kind::boolean:
      if (!parse_bool(text, *static_cast<bool*>(field))) {
        error = std::string("'").append(shown) + "': expected true or false, got '" + std::string(text) + "'";
        return false;
      }
      return true;
    default:
      break;
  }
  uint64_t value = 0;
  if (!parse_u64(text, value)) {
    error = std::string("'").append(shown) + "': expected a non-negative integer, got '" + std::string(text) +
            "'";
    return false;
  }
  if (value < key.min || value > key.max) {
    error = std::string("'").append(shown) + "': " + std::to_string(value) + " is outside " +
            std::to_string(key.min) + ".." + std::to_string(key.max);
    return false;
  }
  switch (key.kind) {
    case Kind::u32:
      *static_cast<uint32_t*>(field) = static_cast<uint32_t>(value);
      break;
    case Kind::size:
      *static_cast<size_t*>(field) = static_cast<size_t>(value);
      break;
    case Kind::seconds_as_ms:
      *static_cast<uint32_t*>(field) = static_cast<uint32_t>(value * 1000);
      break;
    case Kind::port: {
      auto* ep = static_cast<Endpoint*>(field);
      ep->port = static_cast<uint16_t>(value);
      ep->enabled = true;
      break;
    }
    default:
      break;
  }
  return true;
}

const Key* find_key(std::string_view name, bool* is_go_push) {
  for (const Key& k : keys()) {
    if (name == k.name) {
      if (is_go_push) *is_go_push = false;
      return &k;
    }
    if (k.go_push && name == k.go_push) {
      if (is_go_push) *is_go_push = true;
      return &k;
    }
  }
  return nullptr;
}

}  // namespace ringcast::config_keys
