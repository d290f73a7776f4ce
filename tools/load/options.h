// ringcast-load's command line: every option, its default, the --help text, and the checks that
// keep a run within the machine's limits (loopback only, open files per process, ports per source
// address). The parent parses once before fork; every child reads the same Options.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::load {

enum class Protocol : uint8_t { gopush, raw, sse };
const char* protocol_name(Protocol protocol);
enum class PublishTarget : uint8_t { rooms, also };
// What fills an item after its numbers: 'x' padding to --payload bytes, or a chat message
// (danmaku: uid, name, text, color, ts; 50-300 bytes, drawn from the room and seq).
enum class PayloadKind : uint8_t { padding, danmaku };

// A loopback endpoint with a path that may hold the {room} placeholder.
struct Endpoint {
  std::string url;       // as given
  uint32_t ip_host = 0;  // IPv4 in host byte order, inside 127.0.0.0/8
  uint16_t port = 0;
  bool tls = false;         // wss:// or https://: the byte stream is TLS (tools/load/tls.h)
  std::string host;         // as given in the URL: the TLS server name (SNI) and the name checked
  std::string host_header;  // host[:port] as given in the URL
  std::string path_before;  // path up to {room} (the whole path when there is none)
  std::string path_after;   // path after {room}
  bool has_room = false;
  std::string path(std::string_view room) const;
};

// Limits of this machine and of the tool, named once.
constexpr uint32_t kOpenFilesPerProcessMax = 20000;   // RLIMIT_NOFILE hard limit here, root included
constexpr uint32_t kFilesReservedPerProcess = 64;     // io_uring, memfd, stdio, /proc reads
constexpr uint32_t kEphemeralPortsPerSource = 28000;  // ip_local_port_range 32768-60999, per destination
constexpr uint32_t kRoomNameBytesMax = 128;           // ringcast's default room-name-bytes-max
constexpr uint32_t kPayloadBytesMax = 1 << 20;        // one item; ringcast's API body limit is 1 MiB

struct Options {
  std::vector<Endpoint> urls;
  uint32_t connections = 1000;
  double connect_rate = 5000;  // connections per second, all processes together; 0 = no pacing
  uint32_t per_proc = 19000;
  uint32_t source_base = 0x7F000002;  // 127.0.0.2, host byte order
  uint32_t per_source = 25000;

  uint32_t rooms = 1;
  std::string room_prefix = "r";
  std::string also_room;  // empty: none

  Protocol protocol = Protocol::gopush;
  double heartbeat_s = 20;
  bool deflate = false;  // offer permessage-deflate in the upgrade request

  // TLS (any wss:// or https:// URL): the CA file the server is verified against (empty: the system
  // store), or no verification at all (--insecure, for benchmarks only).
  std::string ca_file;
  bool insecure = false;

  Endpoint publish;
  std::string publish_body = "room={room}&items=[{item}]";
  std::string publish_content_type = "application/x-www-form-urlencoded";
  double publish_rate = 1000;  // items per second, total; 0 = as fast as the pipeline allows
  uint64_t publish_count = 0;  // 0 = no count limit
  double duration_s = 0;       // 0 = no time limit
  uint32_t payload_bytes = 64;
  PayloadKind payload_kind = PayloadKind::padding;
  PublishTarget publish_target = PublishTarget::rooms;
  uint32_t publish_conns = 4;
  uint32_t pipeline = 16;
  bool single_broadcast = false;  // --single-broadcast or --broadcasts K: K items to everyone, timed one by one
  uint32_t broadcasts = 1;

  double hold_s = 0;
  double connect_timeout_s = 60;
  double drain_timeout_s = 10;
  double timeout_s = 600;

  std::string json_path;
  // Processes (e.g. the server under test) whose CPU time and anonymous RSS are sampled with this
  // tool's own processes' CPU time at the end of the hold and when delivery is complete.
  std::vector<int> watch_pids;
  uint64_t stall_after = 0;  // debugging: every stall_every-th connection stops reading after this many items
  uint32_t stall_every = 10;
  // Reconnect and resume (ringcast's recovery, gopush only): every reconnect_one_in-th connection
  // drops its connection after about reconnect_every items (0 = off) and joins again with `since`.
  uint64_t reconnect_every = 0;
  uint32_t reconnect_one_in = 1;
  bool reconnect_abrupt = false;  // reset the TCP connection instead of the WebSocket close handshake
  bool reconnect_move = false;    // each reconnect goes to the next --url (resumes cross nodes)
  double reconnect_pause_ms = 0;  // time away between the old connection's end and the new connect

  // Derived.
  uint32_t processes = 1;  // worker processes
  bool reconnects() const { return reconnect_every > 0; }
  bool publishes() const { return single_broadcast || publish_count > 0 || duration_s > 0; }
  bool has_also() const { return !also_room.empty(); }
  bool any_tls() const;  // some --url is wss:// (https:// with sse) or --publish-url is https://
  // Room name for an index: 0..rooms-1 are prefix+index, `rooms` is the also-room.
  std::string room_name(uint32_t room_index) const;
  uint32_t also_index() const { return rooms; }
  uint32_t room_slots() const { return rooms + 1; }  // per-room shared state, also-room included
  uint32_t source_addresses() const { return (connections + per_source - 1) / per_source; }
};

// Parses argv. On failure fills error (the caller prints it with a hint to --help); `help` is set
// when --help was asked for.
bool parse_options(int argc, char** argv, Options& options, bool& help, std::string& error);

std::string help_text();

std::string ipv4_text(uint32_t ip_host);

}  // namespace ringcast::load
