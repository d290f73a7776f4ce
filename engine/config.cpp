// Configuration: defaults live in config.h; this file reads the JSON file and the command line into a
// Config and checks it. Every key is described once, in kKeys, so the file, the flags and the help
// text cannot disagree.
#include "engine/config.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "engine/base/json.h"
#include "engine/limits.h"

namespace ringcast {

std::vector<std::string> split_list(std::string_view csv) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  std::vector<std::string> out;
  while (!csv.empty()) {
    const size_t comma = csv.find(',');
    const std::string_view item = trim(csv.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    csv = comma == std::string_view::npos ? std::string_view() : csv.substr(comma + 1);
  }
  return out;
}

namespace {

// `list` is a text of comma-separated items; in a JSON file it may also be an array of strings.
enum class Kind { u32, size, text, endpoint, seconds_as_ms, port, boolean, list };

// One configurable key. `field` points into a Config instance through a member accessor so the
// table can be applied to any Config.
struct Key {
  const char* name;     // our JSON key; the flag is --name with '_' as '-'
  const char* go_push;  // go-push's key for the same thing, or nullptr
  Kind kind;
  uint64_t min;
  uint64_t max;
  std::function<void*(Config&)> field;
  const char* help;
};

template <class T>
std::function<void*(Config&)> member(T Config::*m) {
  return [m](Config& c) -> void* { return &(c.*m); };
}

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
       "provided receive buffers per shard (power of two)"},
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

// go-push keys that configure machinery ringcast does not have (Go channels, worker pools, its
// gateway tier). A go-push config file carries them; they are accepted and have no effect.
constexpr const char* kGoPushIgnored[] = {
    "wsReadTimeout",          "wsWriteTimeout",      "wsInChannelSize",     "wsOutChannelSize",
    "mergerWorkerCount",      "MergerWorkerCount",   "mergerChannelSize",   "bucketCount",
    "bucketWorkerCount",      "dispatchChannelSize", "dispatchWorkerCount", "bucketJobChannelSize",
    "bucketJobWorkerCount",   "serviceReadTimeout",  "serviceWriteTimeout", "gatewayList",
    "gatewayMaxPendingCount", "gatewayPushRetry",
};

// "true"/"false" and the usual spellings of them.
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

// Applies one value, given as text (flags) or as a JSON number/string (file), to the key. Errors name
// the key as the user wrote it (`shown`: a go-push key, or the flag), not our canonical name.
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

}  // namespace

bool parse_endpoint(std::string_view text, Endpoint& out) {
  if (text == "none" || text == "off") {
    out.enabled = false;
    return true;
  }
  std::string_view host;
  std::string_view port_text = text;
  size_t colon = text.rfind(':');
  if (colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  }
  uint64_t port = 0;
  if (!parse_u64(port_text, port) || port > 65535) return false;
  out.port = static_cast<uint16_t>(port);
  if (colon != std::string_view::npos) out.host = host.empty() ? "0.0.0.0" : std::string(host);
  out.enabled = true;
  return true;
}

// Reads a secret from a file (api_token_file, token_secret_file): the whole file, less trailing
// whitespace (a newline from `echo` or an editor).
static bool read_secret_file(const char* key, const std::string& path, std::string& secret,
                             std::string& error) {
  if (path.empty()) return true;
  if (!secret.empty()) {
    error = std::string("give '") + key + "' or '" + key + "_file', not both";
    return false;
  }
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path).get(text)) {
    error = std::string("'") + key + "_file': cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::string_view value(text.data(), text.size());
  while (!value.empty() &&
         (value.back() == '\n' || value.back() == '\r' || value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  if (value.empty()) {
    error = std::string("'") + key + "_file': '" + path + "' is empty";
    return false;
  }
  secret.assign(value);
  return true;
}

bool load_config_file(const std::string& path, Config& config, std::string& error, std::string& warnings) {
  simdjson::dom::parser parser;
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path).get(text)) {
    error = "cannot read config file '" + path + "': " + std::strerror(errno);
    return false;
  }
  simdjson::dom::element root;
  if (auto err = parser.parse(text).get(root)) {
    error = "config file '" + path + "' is not valid JSON: " + simdjson::error_message(err);
    return false;
  }
  simdjson::dom::object object;
  if (root.get_object().get(object)) {
    error = "config file '" + path + "' must hold a JSON object";
    return false;
  }
  std::string unknown;  // reported in one line: go-push samples carry many comment keys
  for (auto [name, value] : object) {
    bool ignored = false;
    for (const char* g : kGoPushIgnored) ignored |= (name == g);
    if (ignored) continue;
    const Key* key = find_key(name, nullptr);
    if (!key) {
      // Not an error: go-push's sample configs document themselves with keys such as
      // "websocket监听端口": "..."; but a typo must be visible, so every unknown key is named.
      unknown += unknown.empty() ? "'" : ", '";
      unknown += std::string(name) + "'";
      continue;
    }
    std::string as_text;
    simdjson::dom::array list;
    if (key->kind == Kind::list && !value.get_array().get(list)) {
      for (simdjson::dom::element item : list) {
        std::string_view text;
        if (item.get_string().get(text) || text.find(',') != std::string_view::npos) {
          error = "config key '" + std::string(name) + "': expected an array of strings without commas";
          return false;
        }
        if (!as_text.empty()) as_text += ',';
        as_text += text;
      }
    } else if (value.is_string()) {
      as_text = std::string(std::string_view(value.get_string().value_unsafe()));
      if (key->kind != Kind::text && key->kind != Kind::list && key->kind != Kind::endpoint &&
          key->kind != Kind::boolean) {
        error = "config key '" + std::string(name) + "': expected a number, got a string";
        return false;
      }
    } else if (value.is_bool() && key->kind == Kind::boolean) {
      as_text = value.get_bool().value_unsafe() ? "true" : "false";
    } else if (value.is_uint64()) {
      as_text = std::to_string(value.get_uint64().value_unsafe());
    } else if (value.is_int64()) {
      error = "config key '" + std::string(name) + "': must not be negative";
      return false;
    } else {
      error = "config key '" + std::string(name) + "': expected a number or a string";
      return false;
    }
    std::string why;
    if (!apply_text(*key, name, as_text, config, why)) {
      error = "config key " + why;
      return false;
    }
  }
  if (!unknown.empty()) warnings += "config: unknown keys ignored: " + unknown + "\n";
  return true;
}

std::string value_text(const Key& key, Config& config) {
  void* field = key.field(config);
  switch (key.kind) {
    case Kind::text:
    case Kind::list:
      return *static_cast<std::string*>(field);
    case Kind::endpoint: {
      auto* ep = static_cast<Endpoint*>(field);
      return ep->enabled ? ep->host + ":" + std::to_string(ep->port) : "none";
    }
    case Kind::port:
      return std::to_string(static_cast<Endpoint*>(field)->port);
    case Kind::u32:
      return std::to_string(*static_cast<uint32_t*>(field));
    case Kind::size:
      return std::to_string(*static_cast<size_t*>(field));
    case Kind::seconds_as_ms:
      return std::to_string(*static_cast<uint32_t*>(field) / 1000);
    case Kind::boolean:
      return *static_cast<bool*>(field) ? "true" : "false";
  }
  return {};
}

std::string usage_text() {
  std::string u =
      "usage: ringcast [--config FILE] [--NAME VALUE ...]\n"
      "\n"
      "A WebSocket push server: clients connect to ws://LISTEN/connect and JOIN rooms; your backend\n"
      "POSTs to http://API/push/room (room=R&items=[...]) or /push/all. Flags override the config\n"
      "file, which overrides the defaults shown.\n\n"
      "  --config FILE                          JSON file: the keys below without '--' and with '_'\n"
      "                                         for '-', or go-push's gateway.json keys\n"
      "  --help                                 this text\n\n"
      "  flag and default                       meaning\n";
  Config defaults;
  for (const Key& k : keys()) {
    std::string flag = std::string("--") + k.name;
    for (char& ch : flag)
      if (ch == '_') ch = '-';
    std::string line = "  " + flag + " " + value_text(k, defaults);
    if (line.size() < 40) line.resize(40, ' ');
    line += ' ';
    line += k.help;
    if (k.go_push) line += std::string(" [go-push: ") + k.go_push + "]";
    u += line + "\n";
  }
  return u;
}

CliAction parse_command_line(int argc, char** argv, Config& config, std::string& message,
                             std::string& warnings) {
  // The file first, so that flags given before or after --config both win over it.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      message = usage_text();
      return CliAction::help;
    }
    std::string_view path;
    if (arg == "--config") {
      if (i + 1 >= argc) {
        message = "--config needs a file";
        return CliAction::error;
      }
      path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      path = arg.substr(9);
    } else {
      continue;
    }
    if (!load_config_file(std::string(path), config, message, warnings)) return CliAction::error;
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--config") {
      ++i;
      continue;
    }
    if (arg.rfind("--config=", 0) == 0) continue;
    if (arg.rfind("--", 0) != 0) {
      message = "unexpected argument '" + std::string(arg) + "' (see --help)";
      return CliAction::error;
    }
    std::string name(arg.substr(2));
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    for (char& ch : name)
      if (ch == '-') ch = '_';
    const Key* key = find_key(name, nullptr);
    if (!key) {
      message = "unknown flag '" + std::string(arg) + "' (see --help)";
      return CliAction::error;
    }
    bool ignored = false;
    if (!has_value && key->kind == Kind::boolean) {
      // A switch: "--demo" alone turns it on; a following true/false (or 1/0, yes/no) is its value.
      has_value = true;
      value = "true";
      if (i + 1 < argc && parse_bool(argv[i + 1], ignored)) value = argv[++i];
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        message = "flag '" + std::string(arg) + "' needs a value";
        return CliAction::error;
      }
      value = argv[++i];
    }
    std::string why;
    if (!apply_text(*key, arg.substr(0, arg.find('=')), value, config, why)) {
      message = "flag " + why;
      return CliAction::error;
    }
  }
  if (!read_secret_file("api_token", config.api_token_file, config.api_token, message) ||
      !read_secret_file("token_secret", config.token_secret_file, config.token_secret, message)) {
    message = "invalid configuration: " + message;
    return CliAction::error;
  }
  if (std::string problem = validate(config); !problem.empty()) {
    message = "invalid configuration: " + problem;
    return CliAction::error;
  }
  return CliAction::run;
}

namespace {

// A listener's pair: its own when it has one, else the shared one.
TlsFiles tls_files(const std::string& cert, const std::string& key, const Config& config) {
  if (!cert.empty() || !key.empty()) return TlsFiles{cert, key};
  return TlsFiles{config.tls_cert_file, config.tls_key_file};
}

}  // namespace

TlsFiles client_tls_files(const Config& config) {
  return tls_files(config.client_tls_cert_file, config.client_tls_key_file, config);
}

TlsFiles api_tls_files(const Config& config) {
  return tls_files(config.api_tls_cert_file, config.api_tls_key_file, config);
}

std::string serving_addresses(const Config& config, unsigned client_port, unsigned api_port) {
  const bool client_tls = client_tls_files(config).on();
  const std::string ws = client_tls ? "wss://" : "ws://";
  const std::string http = client_tls ? "https://" : "http://";
  const std::string client = config.listen.host + ":" + std::to_string(client_port);
  std::string out = "clients ";
  out += config.listen.enabled ? ws + client + config.ws_path : std::string("none (API only)");
  out += ", push API ";
  out += config.api.enabled ? (api_tls_files(config).on() ? "https://" : "http://") + config.api.host + ":" +
                                  std::to_string(api_port)
                            : std::string("none");
  if (config.listen.enabled && nano_enabled(config)) out += ", Nano/Pomelo " + ws + client + config.nano_path;
  if (config.listen.enabled && path_enabled(config.sse_path))
    out += ", SSE " + http + client + config.sse_path;
  if (config.listen.enabled && path_enabled(config.stream_path))
    out += ", NDJSON " + http + client + config.stream_path;
  return out;
}

}  // namespace ringcast
