// Every tunable and every limit of the engine, in one place, with its default. Filled from embedded
// defaults, then a JSON file (our snake_case keys or go-push's gateway.json/logic.json keys), then
// command-line flags; validate() checks the relations between them before anything starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast {

struct Endpoint {
  std::string host;
  uint16_t port = 0;    // 0: let the kernel pick (tests); the chosen port is logged
  bool enabled = true;  // "none" disables a listener (e.g. an API-only or push-only node)
};

struct Hooks;

struct Config {
  // Listeners. The WebSocket endpoint is GET <ws_path> on `listen`; the push API is on `api`.
  Endpoint listen{"0.0.0.0", 7777, true};
  Endpoint api{"127.0.0.1", 7799, true};
  std::string ws_path = "/connect";
  uint32_t threads = 0;  // shards per process; 0 means one per online CPU
  uint32_t workers = 0;  // worker processes under a supervisor; 0 means a single process

  // Client protocol limits.
  size_t max_message_bytes = 64 * 1024;   // assembled client message (go-push has none) -> 1009
  size_t handshake_bytes_max = 8 * 1024;  // upgrade request head -> 431
  uint32_t handshake_timeout_ms = 5000;   // whole upgrade request must arrive in this time -> 408
  uint32_t heartbeat_timeout_ms = 60000;  // silence from a client longer than this closes it
  uint32_t close_timeout_ms = 2000;       // wait for the peer's close frame after ours
  uint32_t rooms_per_conn_max = 5;        // go-push maxJoinRoom
  size_t room_name_bytes_max = 128;
  uint32_t conns_per_shard_max = 0;        // beyond: 503 and close; 0: what the open-files limit allows
  std::string room_name_charset = "utf8";  // utf8 (no control characters) or ascii (0x21..0x7E)

  // Coalescing (go-push's merger). 0 ms: only what one loop iteration drains together is merged,
  // which adds no latency; a window trades latency for fewer, larger frames.
  uint32_t merge_window_ms = 0;               // go-push maxMergerDelay
  uint32_t merge_batch_items_max = 100;       // go-push maxMergerBatchSize: items per PUSH frame
  size_t merge_frame_bytes_max = 256 * 1024;  // a coalesced frame is cut before it grows past this

  // Sending.
  size_t out_queue_bytes_max = 4 * 1024 * 1024;      // backlog beyond this: slow consumer, 1008
  size_t send_bytes_per_iteration_max = 256 * 1024;  // fairness cap per connection per loop turn

  // permessage-deflate (RFC 7692, docs/protocol.md): a frame for many members is compressed once per
  // shard and shared by every member that agreed to it; replies to one connection stay plain.
  bool compression = true;             // accept clients' permessage-deflate offers
  size_t compression_min_bytes = 128;  // smaller payloads go plain (RSV1 clear): deflate does not pay
  uint32_t compression_level = 6;      // zlib level 1 (fastest) .. 9 (smallest)

  // The broadcast ring (shared memory): capacity in bytes, a power of two.
  size_t ring_bytes = 64 * 1024 * 1024;

  // Recovery (JOIN with `since`): the ring doubles as history. A client is replayed what it missed in
  // a room only if all of it is still in the ring, at most this many items, none older than the TTL;
  // otherwise it is told {"recovered":false} and refetches.
  uint32_t history_items_max = 10000;  // per JOIN; 0 turns recovery off (always recovered:false)
  uint32_t history_ttl_ms = 300000;    // 0: as long as the ring holds it

  // Push API.
  size_t api_body_bytes_max = 1024 * 1024;  // -> 413
  size_t api_head_bytes_max = 8 * 1024;     // -> 431
  uint32_t api_idle_timeout_ms = 60000;     // keep-alive connection with nothing to do
  uint32_t api_conns_per_shard_max = 256;   // open API connections per shard -> 503 and close

  // Access control (docs/security.md). Secrets are given directly or, better (not visible in ps or
  // in a config file others may read), as a file holding them, read by parse_command_line (a program
  // embedding the engine sets api_token and token_secret itself).
  std::string api_token;  // non-empty: the push API wants "Authorization: Bearer <it>" -> 401
  std::string api_token_file;
  bool metrics_public = false;  // with api_token: GET /metrics and /stats answer without it
  std::string allowed_origins;  // comma-separated browser Origins allowed to upgrade -> 403; empty: any
  std::string token_secret;     // non-empty: an upgrade needs an HS256 connect token -> 401
  std::string token_secret_file;

  // TLS on the listeners (docs/security.md): PEM certificate chain and key files. tls_cert_file and
  // tls_key_file serve both listeners; a listener's own pair (client_/api_) serves it alone and wins.
  // go-push's serverPem/serverKey are the API pair (go-push serves its push API over TLS with them).
  // SIGHUP reloads the files: new connections get the new certificate, open ones keep theirs.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string client_tls_cert_file;
  std::string client_tls_key_file;
  std::string api_tls_cert_file;
  std::string api_tls_key_file;
  bool tls_kernel = true;  // hand sending keys to the kernel (kTLS) where it offers the tls ULP

  // Receive buffers (a provided-buffer ring per shard; connections own no read buffer). The kernel
  // takes them in ring order, so every buffer is soon touched and resident: 512 x 2 KiB is 1 MiB per
  // shard (55 bytes per connection at 19,000; 4 MiB was 220). A burst that finds none free ends those
  // connections' multishot recv with -ENOBUFS, and they are re-armed: slower, never lost.
  uint32_t recv_buffer_bytes = 2048;
  uint32_t recv_buffer_count = 512;  // a power of two

  // Shutdown: how long SIGTERM waits for close handshakes and API answers.
  uint32_t shutdown_drain_ms = 3000;

  std::string log_level = "info";  // error, warn, info, debug

  // The demo (off by default): GET / on the client port serves a page embedded in the binary (a live
  // room, a comment box) plus /ringcast.js, GET /demo/stats and POST /demo/publish. Comments are
  // limited in size and rate: a token bucket per connection and one per shard (the overall bound,
  // which opening more connections does not raise).
  bool demo = false;
  uint32_t demo_text_bytes_max = 280;      // one comment's text -> 400 beyond
  uint32_t demo_publish_per_s = 5;         // per connection: sustained comments/s (burst: 2x)
  uint32_t demo_shard_publish_per_s = 50;  // per shard, all connections together

  // Rooms with members on the node, all shards (and workers) together: the size of the node-wide
  // room table (room_table.h) that the NATS bridge subscribes from and roomCount is read from. A JOIN
  // that would create one more is refused with an ERROR frame.
  uint32_t rooms_max = 65536;

  // Per-user push and presence (docs/protocol.md). A connection binds a user id from its connect
  // token ("uid", else "sub") or, when user_bind_command is on, with {"type":"BIND"}; a BIND is then
  // trusted as the client says it, so leave it off where user ids must be proven (use tokens).
  bool user_bind_command = false;
  size_t user_id_bytes_max = 128;       // longest user id (BIND, token, POST /push/user)
  uint32_t presence_timeout_ms = 1000;  // GET /rooms...: wait this long for every shard (503 beyond)
  // JOIN, LEAVE and closes push a presence event item to the room's members (every shard and node).
  // Off by default: a connect storm into one room would cost members x joins deliveries.
  bool presence_events = false;

  // Cluster (docs/cluster.md): NATS server URLs, comma-separated (nats://host:port,...); empty runs
  // a single node. Pushes go to <prefix>.r.<room> / <prefix>.all; each node subscribes to the rooms
  // it has members in. While NATS is unreachable the push API answers 503.
  std::string nats;
  std::string nats_subject_prefix = "ringcast";
  uint32_t node_id = 0;                        // 0: a random id at start (logged)
  uint32_t nats_reconnect_wait_ms = 100;       // first retry after NATS is lost; doubles per round...
  uint32_t nats_reconnect_wait_max_ms = 2000;  // ...up to this (plus jitter)
  // TLS to the NATS servers (nats_tls.h): on with tls:// URLs, a CA file or a client certificate. The
  // servers' certificates and host names are always verified; a client certificate is for servers
  // that require one.
  std::string nats_tls_ca_file;    // PEM CA(s) trusted for the servers' certificates, besides the system's
  std::string nats_tls_cert_file;  // PEM client certificate (chain), with nats_tls_key_file
  std::string nats_tls_key_file;   // PEM private key, without a passphrase

  // One history for the cluster (docs/cluster.md, "JetStream"): with `nats`, room items go through a
  // JetStream stream, which gives every item its cluster-wide position (the PUSH `seq`) and keeps what
  // any node replays to a client that resumes there. Off: positions are each node's own (its ring).
  bool jetstream = false;
  std::string jetstream_storage = "file";        // file or memory (the stream's storage on the servers)
  uint32_t jetstream_replicas = 1;               // copies of the stream across NATS servers
  size_t jetstream_max_msgs = 0;                 // stream limits: items kept, all rooms (0: no limit)...
  size_t jetstream_max_bytes = size_t{1} << 30;  // ...bytes kept (0: no limit); age is history_ttl_ms
  uint32_t jetstream_ack_timeout_ms = 2000;      // a publish not acknowledged in this time is sent again
  uint32_t jetstream_replay_timeout_ms = 5000;   // a JOIN with since waits this long for its replay
  size_t jetstream_window_bytes = 64u << 20;     // recent items per room kept for local replays, all rooms

  // Nano/Pomelo clients (docs/nano.md): a second WebSocket path on the client port speaking Pomelo's
  // binary packets. "" or "none" turns it off. The route dictionary (codes 1..N in this order) is sent
  // at the handshake; pushes from the API reach Pomelo clients as `nano_push_route`.
  std::string nano_path = "/nano";
  uint32_t nano_heartbeat_s = 30;  // heartbeat interval told to clients; silent 3x this -> kick
  std::string nano_routes = "room.join,room.message,onMembers,onNewUser,onMessage,onPush";
  std::string nano_push_route = "onPush";  // route of a push carrying a PUSH's data object

  // One-way HTTP transports on the client port (docs/protocol.md): GET <sse_path>?room=r answers a
  // Server-Sent Events stream, GET <stream_path>?room=r an NDJSON stream, both chunked, with the
  // rooms, limits, tokens, Origin checks and recovery of WebSocket members. "" or "none" turns one off.
  std::string sse_path = "/sse";
  std::string stream_path = "/stream";
  // A heartbeat (an SSE comment, an NDJSON HEARTBEAT line) goes down each stream this often, so
  // proxies and load balancers that close idle connections keep it open.
  uint32_t stream_heartbeat_ms = 15000;

  // Not a setting: the embedding application's hooks (hooks.h), set by Engine::start(); none in the
  // server.
  const Hooks* hooks = nullptr;
};

// Checks each value's range and the relations between values. Returns an empty string when the
// configuration is usable, else a message naming the offending key.
std::string validate(const Config& config);

// True when the Nano/Pomelo path is on (nano_path neither "" nor "none").
bool nano_enabled(const Config& config);
// True when an HTTP stream path (sse_path, stream_path) is on: neither "" nor "none".
bool path_enabled(const std::string& path);

// A comma-separated list (allowed_origins, nano_routes, nats) as trimmed, non-empty entries.
std::vector<std::string> split_list(std::string_view csv);

// Parses "host:port", ":port", "port" or "none" into an Endpoint. False when malformed.
bool parse_endpoint(std::string_view text, Endpoint& out);

// Applies a JSON configuration file over `config`. Keys are ours (as in docs/configuration.md) or
// go-push's (wsPort, wsHeartbeatInterval, maxMergerDelay, maxMergerBatchSize, maxJoinRoom,
// servicePort, ...). go-push keys that have no meaning here are accepted and ignored; unknown keys
// are reported in `warnings`. On error returns false with a message naming the key.
bool load_config_file(const std::string& path, Config& config, std::string& error, std::string& warnings);

enum class CliAction { run, help, error };

// Parses argv: finds --config first and loads it, then applies the flags over it, so flags win.
// On error `message` names the flag or key; on help it holds the usage text.
CliAction parse_command_line(int argc, char** argv, Config& config, std::string& message,
                             std::string& warnings);

std::string usage_text();

// The certificate and key a listener serves (empty: the listener speaks plain TCP).
struct TlsFiles {
  std::string cert;
  std::string key;
  bool on() const { return !cert.empty(); }
};
TlsFiles client_tls_files(const Config& config);
TlsFiles api_tls_files(const Config& config);

// "clients ws://host:port/path, push API http://host:port[, Nano/Pomelo ws://host:port/nano]" for the
// start-up line (wss:// and https:// on a TLS listener); an endpoint configured as none says so (the
// Nano path is left out when off).
std::string serving_addresses(const Config& config, unsigned client_port, unsigned api_port);

}  // namespace ringcast
