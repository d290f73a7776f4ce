// Parsing and checking of ringcast-load's options (see options.h). Every refusal names the option
// and the limit it breaks, so a run that cannot work on this machine stops before it forks.
#include "tools/load/options.h"

#include "tools/load/shared.h"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ringcast::load {
namespace {

constexpr std::string_view kRoomPlaceholder = "{room}";
constexpr uint16_t kDefaultPlainPort = 80;
constexpr uint16_t kDefaultTlsPort = 443;

}  // namespace

const char* protocol_name(Protocol protocol) {
  switch (protocol) {
    case Protocol::gopush:
      return "gopush";
    case Protocol::raw:
      return "raw";
    case Protocol::sse:
      return "sse";
  }
  return "gopush";
}

namespace {

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

bool parse_u32(std::string_view text, uint32_t& out) {
  uint64_t v = 0;
  if (!parse_u64(text, v) || v > UINT32_MAX) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

bool parse_seconds(std::string_view text, double& out) {
  std::string s(text);
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() && std::isfinite(out) && out >= 0;
}

bool parse_ipv4(std::string_view text, uint32_t& ip_host) {
  std::string s(text);
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  ip_host = ntohl(a.s_addr);
  return true;
}

bool is_loopback(uint32_t ip_host) {
  return (ip_host >> 24) == 127;
}

// scheme://host:port/path, host an IPv4 literal in 127.0.0.0/8 or "localhost". `scheme` is the
// plain one (ws, http); its TLS form (wss, https) is accepted too and sets ep.tls.
bool parse_endpoint(std::string_view url, std::string_view scheme, Endpoint& ep, std::string& error) {
  ep = Endpoint{};
  ep.url = std::string(url);
  const std::string prefix = std::string(scheme) + "://";
  const std::string tls_prefix = std::string(scheme) + "s://";
  std::string_view rest;
  if (url.substr(0, prefix.size()) == prefix) {
    rest = url.substr(prefix.size());
  } else if (url.substr(0, tls_prefix.size()) == tls_prefix) {
    rest = url.substr(tls_prefix.size());
    ep.tls = true;
  } else {
    error = "URL '" + std::string(url) + "' must start with " + prefix + " or " + tls_prefix;
    return false;
  }
  const uint16_t default_port = ep.tls ? kDefaultTlsPort : kDefaultPlainPort;
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  const size_t colon = authority.rfind(':');
  const std::string_view host = authority.substr(0, colon);
  uint32_t port = default_port;
  if (colon != std::string_view::npos &&
      (!parse_u32(authority.substr(colon + 1), port) || port == 0 || port > 65535)) {
    error = "bad port in URL '" + std::string(url) + "'";
    return false;
  }
  if (host == "localhost") {
    ep.ip_host = 0x7F000001;
  } else if (!parse_ipv4(host, ep.ip_host)) {
    error = "URL '" + std::string(url) + "': the host must be an IPv4 address in 127.0.0.0/8 or localhost";
    return false;
  }
  if (!is_loopback(ep.ip_host)) {
    error = "URL '" + std::string(url) + "': ringcast-load connects to loopback (127.0.0.0/8) only";
    return false;
  }
  ep.port = static_cast<uint16_t>(port);
  ep.host = std::string(host);
  ep.host_header = std::string(authority);
  const size_t at = path.find(kRoomPlaceholder);
  ep.has_room = at != std::string_view::npos;
  ep.path_before = std::string(path.substr(0, at));
  if (ep.has_room) ep.path_after = std::string(path.substr(at + kRoomPlaceholder.size()));
  return true;
}

}  // namespace

std::string Endpoint::path(std::string_view room) const {
  if (!has_room) return path_before;
  std::string p = path_before;
  p += room;
  p += path_after;
  return p;
}

bool Options::any_tls() const {
  if (publish.tls) return true;
  for (const Endpoint& ep : urls)
    if (ep.tls) return true;
  return false;
}

std::string Options::room_name(uint32_t room_index) const {
  if (room_index == rooms) return also_room;
  return room_prefix + std::to_string(room_index);
}

std::string ipv4_text(uint32_t ip_host) {
  char text[INET_ADDRSTRLEN];
  in_addr a{};
  a.s_addr = htonl(ip_host);
  inet_ntop(AF_INET, &a, text, sizeof text);
  return text;
}

std::string help_text() {
  return R"(usage: ringcast-load [OPTIONS]

Load generator for ringcast (and other WebSocket push servers on this machine): opens many
WebSocket connections over several processes and source addresses, joins rooms, publishes
timestamped items through the push API and measures delivery (loss, duplicates, order) and latency.
Phases: connect all -> wait until all joined -> hold -> publish -> drain -> summary.

Connections
  --url URL[,URL...]          WebSocket URL(s), ws:// or wss:// (TLS, below), loopback only;
                              connections go round robin over them. {room} in the path is replaced
                              by the connection's room (default ws://127.0.0.1:7777/connect)
  --connections N             connections to open (default 1000)
  --connect-rate R            new connections per second, all processes together; 0 = unpaced
                              (default 5000)
  --per-proc N                connections per worker process (default 19000; a process may hold
                              20000 open files here)
  --source-base A             first source address (default 127.0.0.2); connection i binds
                              A + i / per-source
  --per-source N              connections per source address (default 25000; at most ~28000 ports
                              per source address and server port)
  --protocol gopush|raw|sse   gopush: send JOIN for each room and a PING right after the upgrade, and
                              a PING every --heartbeat seconds; joined = PONG received.
                              raw: only read (the peer subscribes by URL); joined = upgraded.
                              Every message is then itself one item.
                              sse: Server-Sent Events (--url http://host:port/sse: ringcast's,
                              the rooms go in the query, ?room=R, unless {room} is in the path;
                              nchan's EventSource: http://host:port/es/{room}): read the event
                              stream, chunked or not; a "push" event's data is a PUSH's data
                              object, a "message" event's data one raw item; joined = the 200
                              answer (default gopush)
  --heartbeat S               gopush PING period in seconds, 0 = off (default 20)
  --deflate                   offer permessage-deflate (RFC 7692) in every upgrade request:
                              "permessage-deflate; server_no_context_takeover;
                              client_no_context_takeover; client_max_window_bits". A server that
                              agrees must include server_no_context_takeover (one inflater per
                              worker process then serves every connection); one that agrees without
                              it, or answers an extension not offered, fails the handshake. Frames
                              with RSV1 are inflated, then counted like plain ones; connections whose
                              server declined get plain frames. Reported: connections that
                              negotiated, payload bytes on the wire vs inflated. Without --deflate an
                              RSV1 frame is a protocol error, as RFC 6455 has it
  --connect-timeout S         give up waiting for all connections to join after S seconds; the
                              stragglers count as failed (default 60)

TLS (wss://, https://)
  A --url with wss:// (https:// with --protocol sse) and a --publish-url with https:// speak TLS
  (1.2 or 1.3, OpenSSL): SNI is the URL's host when it is a name (not for an IP address, as RFC 6066
  has it), and the server's certificate must name that host or IP address. Default port 443.
  --ca-file F                 trust only the CA certificate(s) in PEM file F (default: the system
                              store)
  --insecure                  do not verify the server's certificate at all: for benchmarks only
                              (anyone on the path could read and change the traffic)
  With --reconnect-every, a reconnect offers the TLS session of the connection's last handshake
  (a TLS 1.3 ticket or a TLS 1.2 session) to the same URL, so session resumption is exercised.
  Reported: handshakes, how many resumed a session, how many failed (the first failure's reason:
  certificate verification, host name, alert), and the handshake time (TCP connected -> TLS
  established) p50..max. Bytes read are counted as they come from the socket (ciphertext); wire
  bytes per item are WebSocket frame bytes, before encryption

Rooms
  --rooms K                   connection i joins room <prefix>(i % K) (default 1; 0 = only the
                              also-room)
  --room-prefix P             (default r)
  --also-room NAME            every connection also joins NAME (gopush only)

Publishing
  --publish-url URL           push endpoint, http:// or https:// (TLS), loopback only; {room}
                              allowed in the path (default http://127.0.0.1:7799/push/room)
  --publish-body T            request body; {room} -> room name, {item} -> one JSON item
                              [room_index,seq,t_ns,"padding"] (default room={room}&items=[{item}]).
                              Room names and items go in unencoded: keep room names URL-safe
  --publish-content-type T    (default application/x-www-form-urlencoded)
  --publish-rate M            items per second, total; 0 = as fast as the pipeline allows
                              (default 1000)
  --publish-count N           stop after N items
  --duration S                stop after S seconds (with --publish-count: whichever comes first;
                              with neither, nothing is published)
  --payload BYTES             size of one item's JSON text, padding included (default 64)
  --payload-kind padding|danmaku
                              padding: the item ends in a string of 'x' (--payload bytes in all);
                              danmaku: in a chat object {"uid","name","text","color","ts"} of
                              50-300 bytes (mostly short; Chinese, English, emoji), drawn from the
                              room and seq, so every run publishes the same texts; --payload is
                              then ignored (default padding)
  --publish-target rooms|also round robin over the K rooms, or only the also-room (default rooms)
  --publish-conns C           HTTP/1.1 keep-alive connections; room r always goes over connection
                              r % C, so per-room order is the publish order (default 4)
  --pipeline D                requests in flight per connection (default 16)
  --single-broadcast          publish exactly one item to the also-room (or to the only room) after
                              the hold and report the time until the last connection had it
  --broadcasts K              the same, K times (1..64), one a second unless --publish-rate says
                              otherwise; each is timed on its own (the median is reported)
  Items carry seq (dense from 1 per room) and t_ns (CLOCK_MONOTONIC when the request is written);
  a non-2xx answer is counted as publish failed and reported.

Timing
  --hold S                    wait S seconds between "all joined" and publishing (default 0)
  --drain-timeout S           after publishing, wait at most S seconds for every expected item
                              (default 10)
  --timeout S                 overall deadline; the run is stopped and summarised (default 600)

Output
  --json FILE                 write the summary as JSON
  --watch-pids PID[,PID...]   processes (the server under test: every process of it) whose CPU
                              time (utime+stime, all threads) is reported for the measured window
                              (end of the hold -> every item delivered), next to this tool's own
                              workers and publisher, with their anonymous RSS at the end of the hold
                              and this tool's CPU in % of one core (near 100%: the client, not the
                              server, was the limit)
  The summary also gives wire bytes per delivered item: the bytes of the frames (headers included)
  of the messages that carried load items, over the items received; with --deflate, compressed.
  A progress line goes to stderr (rewritten in place on a terminal, one line per second
  otherwise); the summary goes to stdout. Exit status: 0 clean run, 1 loss, duplicates, failures or
  errors seen, 2 bad options, 130 interrupted.

Debugging
  --stall-after N             every --stall-every-th connection stops reading after N items and
                              resumes when publishing ends (it gets a small receive buffer), so the
                              server's slow-consumer cut and the resulting loss can be observed;
                              its items are not timed (latency = the reading connections')
  --stall-every E             (default 10)

Reconnect and resume (ringcast's recovery, docs/protocol.md; gopush only)
  --reconnect-every N         while publishing, a connection drops its connection after about N
                              items (drawn anew for each connection and each time, uniformly in
                              [N/2, 3N/2], so they do not all drop at once), connects again and
                              joins its rooms with {"since":S,"epoch":E}: S = the seq of the last
                              PUSH it had in the room (or of the room's last JOINED if later), E =
                              the epoch of a JOINED. The replayed items go through the same
                              accounting as live ones: loss = 0 and no duplicates means the resume
                              was exact. A connection that may reconnect makes its first JOIN of a
                              room with "since":null: the server replays nothing and answers JOINED
                              with the room's position and its epoch, so the connection knows where
                              it stands even if it drops before its first item there (not counted
                              as a resume; since 0 instead would replay the ring's whole history,
                              earlier runs' items included; a plain
                              JOIN gives no position at all). No reconnect starts after
                              publishing ends; one under way finishes during the drain. A
                              reconnect that fails (refused, reset, 408) is tried again, 5
                              attempts in all (counted as retried); one given up is a failed
                              reconnect, and the connection's later items are missing.
                              Reported: reconnects, resumes recovered / not recovered (an announced
                              loss: nothing replayed), items replayed, failed reconnects, and the
                              resume time (drop -> last JOINED of the new connection) p50..max
  --reconnect-one-in E        only every E-th connection reconnects (default 1: all)
  --reconnect-move            each reconnect goes to the next URL of --url (round robin), so that
                              a connection resumes on another node of a cluster
  --reconnect-abrupt          reset the TCP connection (SO_LINGER 0) instead of sending a close
                              frame and waiting for the server's close
  --reconnect-pause MS        stay away MS milliseconds between the end of the old connection and
                              the new connect, so that items are published meanwhile and must be
                              replayed (default 0; counted in the resume time)

Delivery accounting, per connection and joined room: seq == expected is in order; seq < expected
counts a duplicate; seq > expected is a gap (missing += seq - expected). Out of order counts both.
At the end missing also gets last_published - (expected - 1). Items lost because their publish
failed are not counted as missing (they are in publish.failed).
)";
}

bool parse_options(int argc, char** argv, Options& o, bool& help, std::string& error) {
  help = false;
  std::string urls = "ws://127.0.0.1:7777/connect";
  std::string publish_url = "http://127.0.0.1:7799/push/room";
  bool rate_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_value = false;
    if (arg == "--help" || arg == "-h") {
      help = true;
      return true;
    }
    if (arg.substr(0, 2) != "--") {
      error = "unexpected argument '" + std::string(arg) + "'";
      return false;
    }
    const size_t eq = arg.find('=');
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    const std::string name(arg);
    if (name == "--single-broadcast") {
      o.single_broadcast = true;
      o.broadcasts = 1;
      continue;
    }
    if (name == "--reconnect-move") {
      o.reconnect_move = true;
      continue;
    }
    if (name == "--reconnect-abrupt") {
      o.reconnect_abrupt = true;
      continue;
    }
    if (name == "--deflate") {
      o.deflate = true;
      continue;
    }
    if (name == "--insecure") {
      o.insecure = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        error = name + " needs a value";
        return false;
      }
      value = argv[++i];
    }
    auto bad = [&](const char* what) {
      error = name + " " + std::string(value) + ": " + what;
      return false;
    };
    if (name == "--url") {
      urls = std::string(value);
    } else if (name == "--connections") {
      if (!parse_u32(value, o.connections) || o.connections == 0) return bad("expected a count >= 1");
    } else if (name == "--connect-rate") {
      if (!parse_seconds(value, o.connect_rate)) return bad("expected a rate >= 0");
    } else if (name == "--per-proc") {
      if (!parse_u32(value, o.per_proc) || o.per_proc == 0) return bad("expected a count >= 1");
    } else if (name == "--source-base") {
      if (!parse_ipv4(value, o.source_base) || !is_loopback(o.source_base))
        return bad("expected an IPv4 address in 127.0.0.0/8");
    } else if (name == "--per-source") {
      if (!parse_u32(value, o.per_source) || o.per_source == 0) return bad("expected a count >= 1");
    } else if (name == "--rooms") {
      if (!parse_u32(value, o.rooms)) return bad("expected a count");
    } else if (name == "--room-prefix") {
      o.room_prefix = std::string(value);
    } else if (name == "--also-room") {
      o.also_room = std::string(value);
    } else if (name == "--protocol") {
      if (value == "gopush")
        o.protocol = Protocol::gopush;
      else if (value == "raw")
        o.protocol = Protocol::raw;
      else if (value == "sse")
        o.protocol = Protocol::sse;
      else
        return bad("expected gopush, raw or sse");
    } else if (name == "--ca-file") {
      if (value.empty()) return bad("expected a file of PEM certificates");
      o.ca_file = std::string(value);
    } else if (name == "--heartbeat") {
      if (!parse_seconds(value, o.heartbeat_s)) return bad("expected seconds >= 0");
    } else if (name == "--publish-url") {
      publish_url = std::string(value);
    } else if (name == "--publish-body") {
      o.publish_body = std::string(value);
    } else if (name == "--publish-content-type") {
      o.publish_content_type = std::string(value);
    } else if (name == "--publish-rate") {
      if (!parse_seconds(value, o.publish_rate)) return bad("expected a rate >= 0");
      rate_given = true;
    } else if (name == "--publish-count") {
      if (!parse_u64(value, o.publish_count)) return bad("expected a count");
    } else if (name == "--broadcasts") {
      if (!parse_u32(value, o.broadcasts) || o.broadcasts == 0 || o.broadcasts > WorkerBlock::kTrackedBroadcasts)
        return bad("expected 1..64");
      o.single_broadcast = true;
    } else if (name == "--duration") {
      if (!parse_seconds(value, o.duration_s)) return bad("expected seconds >= 0");
    } else if (name == "--payload") {
      if (!parse_u32(value, o.payload_bytes) || o.payload_bytes > kPayloadBytesMax)
        return bad("expected bytes <= 1048576");
    } else if (name == "--payload-kind") {
      if (value == "padding")
        o.payload_kind = PayloadKind::padding;
      else if (value == "danmaku")
        o.payload_kind = PayloadKind::danmaku;
      else
        return bad("expected padding or danmaku");
    } else if (name == "--publish-target") {
      if (value == "rooms")
        o.publish_target = PublishTarget::rooms;
      else if (value == "also")
        o.publish_target = PublishTarget::also;
      else
        return bad("expected rooms or also");
    } else if (name == "--publish-conns") {
      if (!parse_u32(value, o.publish_conns) || o.publish_conns == 0 || o.publish_conns > 1024)
        return bad("expected 1..1024");
    } else if (name == "--pipeline") {
      if (!parse_u32(value, o.pipeline) || o.pipeline == 0 || o.pipeline > 4096)
        return bad("expected 1..4096");
    } else if (name == "--hold") {
      if (!parse_seconds(value, o.hold_s)) return bad("expected seconds >= 0");
    } else if (name == "--connect-timeout") {
      if (!parse_seconds(value, o.connect_timeout_s)) return bad("expected seconds >= 0");
    } else if (name == "--drain-timeout") {
      if (!parse_seconds(value, o.drain_timeout_s)) return bad("expected seconds >= 0");
    } else if (name == "--timeout") {
      if (!parse_seconds(value, o.timeout_s) || o.timeout_s == 0) return bad("expected seconds > 0");
    } else if (name == "--json") {
      o.json_path = std::string(value);
    } else if (name == "--watch-pids") {
      o.watch_pids.clear();
      std::string_view list = value;
      while (!list.empty()) {
        const size_t comma = list.find(',');
        uint32_t pid = 0;
        if (!parse_u32(list.substr(0, comma), pid) || pid == 0) return bad("expected process ids");
        o.watch_pids.push_back(static_cast<int>(pid));
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    } else if (name == "--stall-after") {
      if (!parse_u64(value, o.stall_after)) return bad("expected a count");
    } else if (name == "--reconnect-every") {
      if (!parse_u64(value, o.reconnect_every)) return bad("expected a count (0 = off)");
    } else if (name == "--reconnect-pause") {
      if (!parse_seconds(value, o.reconnect_pause_ms)) return bad("expected milliseconds >= 0");
    } else if (name == "--reconnect-one-in") {
      if (!parse_u32(value, o.reconnect_one_in) || o.reconnect_one_in == 0)
        return bad("expected a count >= 1");
    } else if (name == "--stall-every") {
      if (!parse_u32(value, o.stall_every) || o.stall_every == 0) return bad("expected a count >= 1");
    } else {
      error = "unknown option " + name;
      return false;
    }
  }

  // URLs.
  o.urls.clear();
  const bool sse = o.protocol == Protocol::sse;
  if (sse && urls == "ws://127.0.0.1:7777/connect") urls = "http://127.0.0.1:7777/sse";
  std::string_view list = urls;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    Endpoint ep;
    if (!parse_endpoint(list.substr(0, comma), sse ? "http" : "ws", ep, error)) return false;
    o.urls.push_back(std::move(ep));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (o.urls.empty()) {
    error = "--url: no URL given";
    return false;
  }
  if (!parse_endpoint(publish_url, "http", o.publish, error)) return false;

  // TLS.
  if (!o.ca_file.empty() && o.insecure) {
    error = "--ca-file and --insecure contradict each other (verify against the CA, or not at all)";
    return false;
  }
  if ((!o.ca_file.empty() || o.insecure) && !o.any_tls()) {
    error =
        std::string(o.insecure ? "--insecure" : "--ca-file") +
        " applies to TLS: give a wss:// --url (https:// with --protocol sse) or an https:// --publish-url";
    return false;
  }

  // Rooms.
  if (o.rooms == 0 && !o.has_also()) {
    error = "--rooms 0 needs --also-room (a connection must be in some room)";
    return false;
  }
  if (o.room_prefix.size() + 10 > kRoomNameBytesMax || o.also_room.size() > kRoomNameBytesMax) {
    error = "room names are limited to 128 bytes";
    return false;
  }
  if (o.protocol == Protocol::raw && o.has_also()) {
    error = "--also-room needs --protocol gopush (a raw peer subscribes by URL, to one room)";
    return false;
  }
  if (o.publish_target == PublishTarget::also && !o.has_also()) {
    error = "--publish-target also needs --also-room";
    return false;
  }
  if (o.publish_target == PublishTarget::rooms && o.rooms == 0) {
    error = "--publish-target rooms needs --rooms >= 1";
    return false;
  }
  if (o.single_broadcast) {
    if (o.has_also()) {
      o.publish_target = PublishTarget::also;
    } else if (o.rooms == 1) {
      o.publish_target = PublishTarget::rooms;
    } else {
      error = "--single-broadcast needs --also-room or --rooms 1 (one room everyone is in)";
      return false;
    }
    o.publish_count = o.broadcasts;
    o.duration_s = 0;
    // One broadcast a second unless told otherwise, so each is timed on its own.
    if (!rate_given) o.publish_rate = o.broadcasts > 1 ? 1 : 0;
  }
  if (o.protocol == Protocol::sse && o.deflate) {
    error = "--deflate is a WebSocket extension: not with --protocol sse";
    return false;
  }
  if (o.reconnects() && o.protocol != Protocol::gopush) {
    error = "--reconnect-every needs --protocol gopush (resuming is a JOIN with since)";
    return false;
  }
  if (o.reconnects() && o.stall_after > 0) {
    error = "--reconnect-every and --stall-after do not go together";
    return false;
  }
  if (o.publish_body.find("{item}") == std::string::npos && o.publishes()) {
    error = "--publish-body must contain {item}";
    return false;
  }

  // Processes, open files and source addresses.
  if (o.per_proc + kFilesReservedPerProcess > kOpenFilesPerProcessMax) {
    error = "--per-proc " + std::to_string(o.per_proc) + ": a process may hold " +
            std::to_string(kOpenFilesPerProcessMax) + " open files, " +
            std::to_string(kFilesReservedPerProcess) + " of which the tool keeps for itself; use at most " +
            std::to_string(kOpenFilesPerProcessMax - kFilesReservedPerProcess);
    return false;
  }
  o.processes = (o.connections + o.per_proc - 1) / o.per_proc;
  if (o.per_source > kEphemeralPortsPerSource) {
    error = "--per-source " + std::to_string(o.per_source) + ": a source address has about " +
            std::to_string(kEphemeralPortsPerSource) + " ephemeral ports per server port";
    return false;
  }
  const uint64_t last_source = uint64_t{o.source_base} + o.source_addresses() - 1;
  if (last_source >= 0x7FFFFFFF) {
    error = "--source-base " + ipv4_text(o.source_base) + " with " + std::to_string(o.source_addresses()) +
            " source addresses leaves 127.0.0.0/8";
    return false;
  }
  return true;
}

}  // namespace ringcast::load
