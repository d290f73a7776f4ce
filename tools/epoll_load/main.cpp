// ringcast-epoll-load: the neutral load client of the side-by-side benchmarks (issue 20). It holds N
// WebSocket connections over loopback with plain epoll, one thread per process, and measures what any
// broadcast server delivers to them: items counted one by one (a go-push PUSH merges several items
// into one message; a raw peer sends one item per message), latency from the publish time written
// into each item, and the client's own CPU, so that a point where the client was the limit shows as
// such. It shares no code with ringcast's engine; ringcast-load (tools/load) is the richer tool that
// checks ringcast's own semantics (order, recovery, user pushes).
//
// Processes: the parent (coordination, CPU sampling, the summary), worker processes of at most
// --per-proc connections each (the open-files limit is per process), and one publisher process that
// POSTs items at a fixed rate over keep-alive connections. They share one anonymous mapping of
// counters. Phases: connect -> warm-up (a seq-0 item per room until every connection has had one:
// proof that it is subscribed, whatever the server's JOIN semantics) -> measure (the publisher runs
// for --duration) -> drain (until every expected item arrived or nothing came for --drain-timeout).
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "tools/epoll_load/wire.h"

namespace epoll_load {
namespace {

// Limits of this machine and of the tool, named once.
constexpr uint32_t kOpenFilesPerProcessMax = 20000;  // RLIMIT_NOFILE hard limit here, root included
constexpr uint32_t kFilesReservedPerProcess = 64;    // epoll, stdio, /proc reads
constexpr uint32_t kPortsPerSourceMax = 28000;       // ip_local_port_range 32768-60999 per destination
constexpr uint32_t kWorkersMax = 64;
constexpr uint32_t kRoomsMax = 32;  // warm-up marks are bits of a uint32_t per connection
constexpr uint32_t kPayloadBytesMax = 1 << 20;
constexpr uint64_t kFrameBytesMax = 64ull << 20;  // a bigger frame is taken for a broken stream
constexpr size_t kReadBytes = 256 * 1024;         // one read per ready connection per epoll turn
constexpr int kEventsMax = 1024;

enum class Format : uint8_t { gopush, raw };

struct Url {
  std::string text;
  uint32_t ip = 0;  // host byte order
  uint16_t port = 0;
  std::string host;  // for the Host header
  std::string path;  // may hold {room} (publish URLs)
};

struct Options {
  Url ws;
  Url publish;
  bool has_publish = false;
  Format format = Format::gopush;
  uint32_t connections = 1000;
  uint32_t per_proc = 19000;
  // connect() tries the even half of the port range first (Linux since 4.2) and, past ~14,000
  // connections from one address to one destination, scans all of it again for every connect: 19,000
  // connections from one address take 20-30 s instead of 2. 10,000 per address keeps to the even half.
  uint32_t per_source = 10000;
  uint32_t connect_inflight = 500;  // per process: uWS listens with a backlog of 512
  std::vector<std::string> join;    // rooms each connection JOINs (go-push); empty: none sent
  std::vector<std::string> publish_rooms;
  double rate = 100;  // items per second; each item is published once to every publish room
  double duration_s = 5;
  uint32_t payload_bytes = 64;
  uint32_t publish_conns = 4;
  uint32_t pipeline = 16;  // requests in flight per publish connection
  uint32_t wait_ms = 5;    // the workers' epoll_wait timeout; 0: poll without sleeping
  double connect_timeout_s = 120;
  double warmup_timeout_s = 30;
  double drain_timeout_s = 10;
  std::vector<int> watch_pids;
  std::string json_path;
  uint32_t workers = 1;  // derived
};

enum class Phase : uint32_t { connect, warmup, measure, finish };

// One worker's counters, written only by that worker (relaxed stores of its own totals), read by the
// parent. The histogram and the per-connection figures are written once, at the end.
struct alignas(64) WorkerSlot {
  std::atomic<uint64_t> connected, failed, warmed, items, warmup_items, foreign, messages, other_messages,
      item_messages, bytes, reads, closed, malformed, first_item_ns, last_item_ns;
  std::atomic<uint32_t> done;
  uint64_t connections_complete, per_conn_min, per_conn_max;
  uint64_t latency_us[histogram::kBuckets];
  char error[192];
};

struct alignas(64) PublisherSlot {
  std::atomic<uint64_t> requests_ok, requests_failed, warmup_requests, items_issued, first_ns, last_ns,
      last_issue_ns;
  std::atomic<uint32_t> done;
  char error[192];
};

struct Shared {
  std::atomic<uint32_t> phase;
  std::atomic<uint64_t> go_ns;
  std::atomic<uint64_t> expected_per_conn;
  PublisherSlot publisher;
  WorkerSlot workers[kWorkersMax];
};

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void sleep_ms(double ms) {
  timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>(std::fmod(ms, 1000.0) * 1e6)};
  nanosleep(&ts, nullptr);
}

Phase phase_of(const Shared& s) {
  return static_cast<Phase>(s.phase.load(std::memory_order_acquire));
}

// ---------------------------------------------------------------------------------------------
// Command line.

bool parse_url(const std::string& text, std::string_view scheme, Url& url, std::string& error) {
  url.text = text;
  if (text.rfind(scheme, 0) != 0) {
    error = text + ": expected " + std::string(scheme) + "127.x.x.x:PORT/PATH";
    return false;
  }
  const std::string rest = text.substr(scheme.size());
  const size_t slash = rest.find('/');
  url.host = rest.substr(0, slash);
  url.path = slash == std::string::npos ? "/" : rest.substr(slash);
  const size_t colon = url.host.rfind(':');
  if (colon == std::string::npos) {
    error = text + ": the port is needed";
    return false;
  }
  in_addr a{};
  if (inet_pton(AF_INET, url.host.substr(0, colon).c_str(), &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
    error = text + ": loopback addresses (127.x.x.x) only";
    return false;
  }
  url.ip = ntohl(a.s_addr);
  const long port = std::strtol(url.host.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) {
    error = text + ": bad port";
    return false;
  }
  url.port = static_cast<uint16_t>(port);
  return true;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t comma = s.find(',', at);
    const std::string part = s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

const char* kUsage =
    "usage: ringcast-epoll-load --url ws://127.0.0.1:PORT/PATH [--connections N] [--join ROOMS]\n"
    "         [--publish-url http://127.0.0.1:PORT/PATH] [--format gopush|raw] [--publish-rooms ROOMS]\n"
    "         [--rate ITEMS_PER_S] [--duration S] [--payload BYTES] [--publish-conns N] [--pipeline N]\n"
    "         [--per-proc N] [--per-source N] [--connect-inflight N] [--connect-timeout S]\n"
    "         [--warmup-timeout S] [--drain-timeout S] [--wait-ms MS] [--watch-pid PID[,PID...]]\n"
    "         [--json FILE]\n"
    "The neutral epoll load client: N WebSocket connections over loopback from source addresses\n"
    "127.0.0.2, 127.0.0.3, ... (--per-source each, default 10000), --per-proc per worker process\n"
    "(default 19000), each sending a go-push JOIN for every room of --join (comma-separated; none: send\n"
    "nothing, e.g. for a server that subscribes on open). The publisher POSTs --rate items/s for\n"
    "--duration s, each item to every room of --publish-rooms (default: the --join rooms, or r):\n"
    "--format gopush sends the form body room=ROOM&items=[ITEM] (ringcast's POST /push/room), raw sends\n"
    "the item itself as the body (the uWebSockets peer's POST /push); {room} in the publish URL's path\n"
    "is replaced by the room. Every connection must get every published item: the expected count is\n"
    "accepted requests x connections. An item is [seq,publish_time_ns,room_index,\"x...\"] of --payload\n"
    "bytes; items merged into one PUSH frame are counted one by one. --watch-pid: the server's\n"
    "processes, whose CPU is reported beside the client's own. --wait-ms: the workers' epoll_wait\n"
    "timeout (default 5); 0 polls without ever sleeping, so that no send of the server has to wake a\n"
    "worker (on a VM a wake-up is an inter-processor interrupt the sending core pays for); the\n"
    "client's CPU is then 100% by construction.\n";

bool parse_options(int argc, char** argv, Options& o, std::string& error) {
  bool has_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) {
      error = a + " needs a value (or is unknown)";
      return false;
    }
    const std::string v = argv[++i];
    auto number = [&](double lo, double hi) {
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || d < lo || d > hi) {
        error =
            a + " " + v + ": expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
        return -1.0;
      }
      return d;
    };
    double d = 0;
    if (a == "--url") {
      if (!parse_url(v, "ws://", o.ws, error)) return false;
      has_url = true;
    } else if (a == "--publish-url") {
      if (!parse_url(v, "http://", o.publish, error)) return false;
      o.has_publish = true;
    } else if (a == "--format") {
      if (v == "gopush")
        o.format = Format::gopush;
      else if (v == "raw")
        o.format = Format::raw;
      else {
        error = "--format: gopush or raw";
        return false;
      }
    } else if (a == "--join") {
      o.join = split_list(v);
    } else if (a == "--publish-rooms") {
      o.publish_rooms = split_list(v);
    } else if (a == "--watch-pid") {
      for (const std::string& p : split_list(v)) o.watch_pids.push_back(std::atoi(p.c_str()));
    } else if (a == "--json") {
      o.json_path = v;
    } else {
      struct {
        const char* name;
        double lo, hi;
      } const numbers[] = {
          {"--connections", 1, 1e7},
          {"--per-proc", 1, kOpenFilesPerProcessMax - kFilesReservedPerProcess},
          {"--per-source", 1, kPortsPerSourceMax},
          {"--connect-inflight", 1, 1e6},
          {"--rate", 0.001, 1e7},
          {"--duration", 0.001, 3600},
          {"--payload", 1, kPayloadBytesMax},
          {"--publish-conns", 1, 64},
          {"--pipeline", 1, 4096},
          {"--connect-timeout", 1, 3600},
          {"--warmup-timeout", 1, 3600},
          {"--drain-timeout", 0.1, 3600},
          {"--wait-ms", 0, 1000},
      };
      bool known = false;
      for (const auto& n : numbers) {
        if (a != n.name) continue;
        known = true;
        if ((d = number(n.lo, n.hi)) < 0) return false;
      }
      if (!known) {
        error = "unknown option " + a;
        return false;
      }
      if (a == "--connections")
        o.connections = static_cast<uint32_t>(d);
      else if (a == "--per-proc")
        o.per_proc = static_cast<uint32_t>(d);
      else if (a == "--per-source")
        o.per_source = static_cast<uint32_t>(d);
      else if (a == "--connect-inflight")
        o.connect_inflight = static_cast<uint32_t>(d);
      else if (a == "--rate")
        o.rate = d;
      else if (a == "--duration")
        o.duration_s = d;
      else if (a == "--payload")
        o.payload_bytes = static_cast<uint32_t>(d);
      else if (a == "--publish-conns")
        o.publish_conns = static_cast<uint32_t>(d);
      else if (a == "--pipeline")
        o.pipeline = static_cast<uint32_t>(d);
      else if (a == "--connect-timeout")
        o.connect_timeout_s = d;
      else if (a == "--warmup-timeout")
        o.warmup_timeout_s = d;
      else if (a == "--drain-timeout")
        o.drain_timeout_s = d;
      else if (a == "--wait-ms")
        o.wait_ms = static_cast<uint32_t>(d);
    }
  }
  if (!has_url || !o.has_publish) {
    error = "--url and --publish-url are needed";
    return false;
  }
  if (o.publish_rooms.empty()) o.publish_rooms = o.join.empty() ? std::vector<std::string>{"r"} : o.join;
  if (o.publish_rooms.size() > kRoomsMax || o.join.size() > kRoomsMax) {
    error = "at most " + std::to_string(kRoomsMax) + " rooms";
    return false;
  }
  o.workers = (o.connections + o.per_proc - 1) / o.per_proc;
  if (o.workers > kWorkersMax) {
    error = "too many worker processes: raise --per-proc";
    return false;
  }
  if ((o.connections + o.per_source - 1) / o.per_source > 250) {
    error = "more source addresses than 127.0.0.2-127.0.0.251: raise --per-source";
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Worker: connections, upgrade, JOIN, read and count.

class Worker {
 public:
  Worker(const Options& o, Shared& s, uint32_t index, uint32_t first, uint32_t count)
      : o_(o), s_(s), slot_(s.workers[index]), first_(first), conns_(count), buf_(kReadBytes) {}
  [[noreturn]] void run();

 private:
  enum class State : uint8_t { idle, connecting, upgrading, open, closed };
  struct Conn {
    int fd = -1;
    State state = State::idle;
    bool warmed = false;
    uint32_t warm_mask = 0;
    uint64_t items = 0;
    std::string in;    // a partial response head or frame
    std::string frag;  // a fragmented message so far
    std::string out;   // bytes the socket did not take yet
  };

  void connect_more();
  void on_event(uint32_t j, uint32_t events);
  void on_upgrade_bytes(Conn& c);
  void feed(Conn& c, const char* data, size_t len);
  void on_frame(Conn& c, const FrameHead& h, const char* payload);
  void on_message(Conn& c, std::string_view message);
  void on_item(Conn& c, const Item& item);
  void send(Conn& c, const void* data, size_t len);
  void flush(Conn& c);
  void close_conn(Conn& c, bool failed);
  void fail(const char* what);
  void publish_counters();
  [[noreturn]] void finish();

  const Options& o_;
  Shared& s_;
  WorkerSlot& slot_;
  uint32_t first_;
  std::vector<Conn> conns_;
  std::vector<char> buf_;
  int ep_ = -1;
  uint32_t next_ = 0;      // next connection to open
  uint32_t inflight_ = 0;  // connecting or upgrading
  uint64_t now_ = 0;       // taken once per read: every item of that read shares it
  uint32_t all_rooms_mask_ = 0;
  std::string upgrade_request_;
  std::vector<std::string> join_frames_;
  // Local totals, stored into the slot after each epoll turn.
  uint64_t connected_ = 0, failed_ = 0, warmed_ = 0, items_ = 0, warmup_items_ = 0, foreign_ = 0,
           messages_ = 0, other_messages_ = 0, bytes_ = 0, reads_ = 0, closed_ = 0, malformed_ = 0,
           first_item_ns_ = 0, last_item_ns_ = 0, item_messages_ = 0;
};

void Worker::fail(const char* what) {
  std::snprintf(slot_.error, sizeof(slot_.error), "%s: %s", what, std::strerror(errno));
}

void Worker::run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    fail("epoll_create1");
    _exit(1);
  }
  all_rooms_mask_ = o_.publish_rooms.size() >= 32 ? ~0u : (1u << o_.publish_rooms.size()) - 1;
  upgrade_request_ =
      "GET " + o_.ws.path + " HTTP/1.1\r\nHost: " + o_.ws.host +
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + std::string(kWebSocketKey) +
      "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  for (const std::string& room : o_.join) {
    const std::string text = "{\"type\":\"JOIN\",\"data\":{\"room\":\"" + room + "\"}}";
    std::string frame(text.size() + 14, '\0');
    frame.resize(client_frame(0x1, text, reinterpret_cast<uint8_t*>(frame.data())));
    join_frames_.push_back(frame);
  }
  std::vector<epoll_event> events(kEventsMax);
  while (phase_of(s_) != Phase::finish) {
    connect_more();
    const int n = epoll_wait(ep_, events.data(), kEventsMax, static_cast<int>(o_.wait_ms));
    if (n < 0 && errno != EINTR) {
      fail("epoll_wait");
      _exit(1);
    }
    for (int k = 0; k < n; ++k) on_event(events[k].data.u32, events[k].events);
    publish_counters();
  }
  finish();
}

void Worker::connect_more() {
  while (inflight_ < o_.connect_inflight && next_ < conns_.size()) {
    const uint32_t j = next_++;
    Conn& c = conns_[j];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      fail("socket");
      close_conn(c, true);
      continue;
    }
    const int one = 1;
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7F000002u + (first_ + j) / o_.per_source);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(o_.ws.port);
    dst.sin_addr.s_addr = htonl(o_.ws.ip);
    if (bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
      fail("bind to the source address");
      close_conn(c, true);
      continue;
    }
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0 && errno != EINPROGRESS) {
      fail("connect");
      close_conn(c, true);
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u32 = j;
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    c.state = State::connecting;
    ++inflight_;
  }
}

void Worker::on_event(uint32_t j, uint32_t events) {
  Conn& c = conns_[j];
  if (c.state == State::connecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
      errno = err;
      fail("connect");
      close_conn(c, true);
      return;
    }
    c.state = State::upgrading;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = j;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    send(c, upgrade_request_.data(), upgrade_request_.size());
    return;
  }
  if (c.state == State::closed || c.state == State::idle) return;
  if (events & EPOLLOUT) flush(c);
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  const ssize_t n = read(c.fd, buf_.data(), buf_.size());
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    if (n < 0) fail("read");
    close_conn(c, c.state == State::upgrading);
    return;
  }
  now_ = now_ns();
  bytes_ += static_cast<uint64_t>(n);
  if (first_item_ns_ != 0) ++reads_;  // reads in the delivery window: what the client paid per read
  if (c.state == State::upgrading) {
    c.in.append(buf_.data(), static_cast<size_t>(n));
    on_upgrade_bytes(c);
    return;
  }
  feed(c, buf_.data(), static_cast<size_t>(n));
}

bool accept_header_matches(std::string_view head) {
  // Header names are case-insensitive; the value is compared exactly.
  size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    at += 2;
    const size_t end = head.find("\r\n", at);
    std::string_view line =
        head.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string name(line.substr(0, colon));
      for (char& ch : name) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
      if (name == "sec-websocket-accept") {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
        return value == kWebSocketAccept;
      }
    }
    at = end;
  }
  return false;
}

void Worker::on_upgrade_bytes(Conn& c) {
  const size_t head_end = c.in.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    if (c.in.size() > 16384) {
      std::snprintf(slot_.error, sizeof(slot_.error), "upgrade answer without an end of head");
      close_conn(c, true);
    }
    return;
  }
  const std::string_view head(c.in.data(), head_end + 2);
  if (head.rfind("HTTP/1.1 101", 0) != 0 || !accept_header_matches(head)) {
    std::snprintf(slot_.error, sizeof(slot_.error), "upgrade refused: %.*s",
                  static_cast<int>(std::min<size_t>(head.find("\r\n"), 120)), head.data());
    close_conn(c, true);
    return;
  }
  c.state = State::open;
  --inflight_;
  ++connected_;
  for (const std::string& f : join_frames_) send(c, f.data(), f.size());
  // Frames may follow the head in the same read.
  std::string rest = c.in.substr(head_end + 4);
  c.in.clear();
  if (!rest.empty()) feed(c, rest.data(), rest.size());
}

void Worker::feed(Conn& c, const char* data, size_t len) {
  FrameHead bad;
  const FeedResult r =
      feed_frames(c.in, data, len, kFrameBytesMax, bad, [&](const FrameHead& h, const char* p) {
        on_frame(c, h, p);
        return c.state == State::open;
      });
  if (r == FeedResult::bad_head) {
    std::snprintf(slot_.error, sizeof(slot_.error), "the server sent a %s frame",
                  bad.masked ? "masked" : "too large");
    ++malformed_;
    close_conn(c, false);
  }
}

void Worker::on_frame(Conn& c, const FrameHead& h, const char* payload) {
  const std::string_view body(payload, h.payload_bytes);
  switch (h.opcode) {
    case 0x1:
    case 0x2:
      if (h.fin)
        on_message(c, body);
      else
        c.frag.assign(body);
      return;
    case 0x0:
      c.frag.append(body);
      if (h.fin) {
        on_message(c, c.frag);
        c.frag.clear();
      }
      return;
    case 0x8:
      close_conn(c, false);
      return;
    case 0x9: {
      std::string pong(body.size() + 14, '\0');
      pong.resize(client_frame(0xA, body, reinterpret_cast<uint8_t*>(pong.data())));
      send(c, pong.data(), pong.size());
      return;
    }
    default:
      return;  // pong
  }
}

void Worker::on_message(Conn& c, std::string_view message) {
  ++messages_;
  const uint64_t items_before = items_;
  if (o_.format == Format::raw) {
    // A raw peer sends each published body as one message: one item.
    Item item;
    if (parse_item(message.data(), message.data() + message.size(), item))
      on_item(c, item);
    else
      ++foreign_;
  } else {
    const ScanResult r = scan_push(message, [&](const Item& item) { on_item(c, item); });
    if (!r.has_items) ++other_messages_;
    foreign_ += r.foreign;
    if (r.malformed) ++malformed_;
  }
  if (items_ != items_before) ++item_messages_;  // warm-up messages and the like are left out
}

void Worker::on_item(Conn& c, const Item& item) {
  if (item.seq == 0) {  // warm-up: this connection hears room `room_index`
    ++warmup_items_;
    if (item.room_index < 32) c.warm_mask |= 1u << item.room_index;
    if (!c.warmed && (c.warm_mask & all_rooms_mask_) == all_rooms_mask_) {
      c.warmed = true;
      ++warmed_;
    }
    return;
  }
  ++c.items;
  ++items_;
  const uint64_t latency_us = now_ > item.t_ns ? (now_ - item.t_ns) / 1000 : 0;
  ++slot_.latency_us[histogram::bucket_of(latency_us)];
  if (first_item_ns_ == 0) first_item_ns_ = now_;
  last_item_ns_ = now_;
}

void Worker::send(Conn& c, const void* data, size_t len) {
  if (!c.out.empty()) {
    c.out.append(static_cast<const char*>(data), len);
    return;
  }
  const ssize_t n = write(c.fd, data, len);
  if (n < 0 && errno != EAGAIN) {
    fail("write");
    close_conn(c, c.state != State::open);
    return;
  }
  const size_t done = n < 0 ? 0 : static_cast<size_t>(n);
  if (done == len) return;
  c.out.assign(static_cast<const char*>(data) + done, len - done);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Worker::flush(Conn& c) {
  if (c.out.empty()) return;
  const ssize_t n = write(c.fd, c.out.data(), c.out.size());
  if (n < 0) {
    if (errno != EAGAIN) close_conn(c, false);
    return;
  }
  c.out.erase(0, static_cast<size_t>(n));
  if (!c.out.empty()) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Worker::close_conn(Conn& c, bool failed) {
  if (c.state == State::connecting || c.state == State::upgrading) --inflight_;
  if (failed)
    ++failed_;
  else
    ++closed_;
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  c.state = State::closed;
  c.in.clear();
  c.out.clear();
}

void Worker::publish_counters() {
  constexpr auto r = std::memory_order_relaxed;
  slot_.connected.store(connected_, r);
  slot_.failed.store(failed_, r);
  slot_.warmed.store(warmed_, r);
  slot_.warmup_items.store(warmup_items_, r);
  slot_.foreign.store(foreign_, r);
  slot_.messages.store(messages_, r);
  slot_.other_messages.store(other_messages_, r);
  slot_.item_messages.store(item_messages_, r);
  slot_.bytes.store(bytes_, r);
  slot_.reads.store(reads_, r);
  slot_.closed.store(closed_, r);
  slot_.malformed.store(malformed_, r);
  slot_.first_item_ns.store(first_item_ns_, r);
  slot_.last_item_ns.store(last_item_ns_, r);
  slot_.items.store(items_, std::memory_order_release);  // last: the parent's completion test reads it
}

void Worker::finish() {
  publish_counters();
  const uint64_t expected = s_.expected_per_conn.load();
  uint64_t complete = 0, lo = UINT64_MAX, hi = 0;
  for (const Conn& c : conns_) {
    if (c.state != State::open && c.items == 0) continue;  // never connected: counted as failed
    complete += c.items == expected;
    lo = std::min(lo, c.items);
    hi = std::max(hi, c.items);
  }
  slot_.connections_complete = complete;
  slot_.per_conn_min = lo == UINT64_MAX ? 0 : lo;
  slot_.per_conn_max = hi;
  slot_.done.store(1, std::memory_order_release);
  _exit(0);  // the kernel closes the sockets
}

// ---------------------------------------------------------------------------------------------
// Publisher: keep-alive HTTP/1.1 connections, requests at a fixed rate, pipelined up to --pipeline.

class Publisher {
 public:
  Publisher(const Options& o, Shared& s) : o_(o), s_(s), slot_(s.publisher) {}
  [[noreturn]] void run();

 private:
  struct PubConn {
    int fd = -1;
    uint32_t inflight = 0;
    std::vector<bool> is_warmup;  // per request in flight, oldest first: warm-up answers are not counted
    size_t warm_head = 0;
    std::string in, out;
  };
  bool open_conn(PubConn& c);
  void request(PubConn& c, const Item& item, uint32_t room);
  void on_readable(PubConn& c);
  void flush(PubConn& c);
  void lost(PubConn& c);
  PubConn* least_loaded();

  const Options& o_;
  Shared& s_;
  PublisherSlot& slot_;
  int ep_ = -1;
  std::vector<PubConn> conns_;
  std::vector<std::string> paths_;  // per room
  std::vector<char> item_text_;
  uint64_t ok_ = 0, failed_ = 0, warmup_ = 0;
};

bool Publisher::open_conn(PubConn& c) {
  c = PubConn{};
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(o_.publish.port);
  dst.sin_addr.s_addr = htonl(o_.publish.ip);
  if (c.fd < 0 || connect(c.fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
    std::snprintf(slot_.error, sizeof(slot_.error), "publisher connect %s: %s", o_.publish.text.c_str(),
                  std::strerror(errno));
    return false;
  }
  const int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(c.fd, F_SETFL, O_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
  epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
  return true;
}

void Publisher::request(PubConn& c, const Item& item, uint32_t room) {
  std::string body;
  item_text_.resize(std::max<size_t>(o_.payload_bytes, 64));
  const size_t n = format_item(item, o_.payload_bytes, item_text_.data());
  if (o_.format == Format::gopush) {
    body = "room=" + o_.publish_rooms[room] + "&items=[" + std::string(item_text_.data(), n) + "]";
  } else {
    body.assign(item_text_.data(), n);
  }
  c.out += "POST " + paths_[room] + " HTTP/1.1\r\nHost: " + o_.publish.host + "\r\nContent-Type: " +
           (o_.format == Format::gopush ? "application/x-www-form-urlencoded" : "application/json") +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ++c.inflight;
  c.is_warmup.push_back(item.seq == 0);
}

void Publisher::flush(PubConn& c) {
  while (!c.out.empty()) {
    const ssize_t n = write(c.fd, c.out.data(), c.out.size());
    if (n < 0) {
      if (errno == EAGAIN) break;
      lost(c);
      return;
    }
    c.out.erase(0, static_cast<size_t>(n));
  }
  epoll_event ev{};
  ev.events = c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT;
  ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

// The connection went away with requests in flight (uWS closes a keep-alive connection idle for 10 s):
// their outcome is unknown, so they count as failed, and the connection is opened again.
void Publisher::lost(PubConn& c) {
  for (size_t i = c.warm_head; i < c.is_warmup.size(); ++i)
    if (!c.is_warmup[i]) ++failed_;
  close(c.fd);
  if (!open_conn(c)) _exit(1);
}

void Publisher::on_readable(PubConn& c) {
  char buf[65536];
  const ssize_t n = read(c.fd, buf, sizeof(buf));
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    lost(c);
    return;
  }
  c.in.append(buf, static_cast<size_t>(n));
  size_t at = 0;
  while (true) {
    const size_t head_end = c.in.find("\r\n\r\n", at);
    if (head_end == std::string::npos) break;
    const std::string_view head(c.in.data() + at, head_end - at);
    size_t body = 0;
    for (const char* name : {"Content-Length:", "content-length:"}) {
      const size_t k = head.find(name);
      if (k != std::string_view::npos) body = std::strtoull(head.data() + k + std::strlen(name), nullptr, 10);
    }
    if (c.in.size() < head_end + 4 + body) break;
    const bool ok = head.size() > 12 && head.rfind("HTTP/1.1 2", 0) == 0;
    const bool warm = c.warm_head < c.is_warmup.size() && c.is_warmup[c.warm_head];
    ++c.warm_head;
    --c.inflight;
    if (warm)
      ++warmup_;
    else if (ok)
      ++ok_;
    else {
      ++failed_;
      if (failed_ == 1)
        std::snprintf(slot_.error, sizeof(slot_.error), "publish answered: %.*s",
                      static_cast<int>(std::min<size_t>(head.find("\r\n"), 120)), head.data());
    }
    at = head_end + 4 + body;
  }
  c.in.erase(0, at);
  if (c.warm_head > 4096 && c.warm_head == c.is_warmup.size()) {
    c.is_warmup.clear();
    c.warm_head = 0;
  }
}

Publisher::PubConn* Publisher::least_loaded() {
  PubConn* best = nullptr;
  for (PubConn& c : conns_)
    if (c.inflight < o_.pipeline && (best == nullptr || c.inflight < best->inflight)) best = &c;
  return best;
}

void Publisher::run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  conns_.resize(o_.publish_conns);
  for (PubConn& c : conns_)
    if (!open_conn(c)) _exit(1);
  for (const std::string& room : o_.publish_rooms) {
    std::string path = o_.publish.path;
    const size_t at = path.find("{room}");
    if (at != std::string::npos) path.replace(at, 6, room);
    paths_.push_back(path);
  }
  const uint32_t rooms = static_cast<uint32_t>(o_.publish_rooms.size());
  const uint64_t planned = static_cast<uint64_t>(std::llround(o_.rate * o_.duration_s));
  uint64_t next_warmup_ns = 0;
  uint64_t seq = 1;      // the next item to publish
  uint32_t room = 0;     // and the next of its rooms
  uint64_t stop_ns = 0;  // end of the publishing window (0: not started)
  uint64_t drain_deadline = 0;
  epoll_event events[64];
  while (true) {
    const Phase phase = phase_of(s_);
    const uint64_t now = now_ns();
    if (phase == Phase::finish) break;
    if (phase == Phase::warmup && now >= next_warmup_ns) {
      // One seq-0 item per room, again every 500 ms until every connection has had one from each.
      for (uint32_t r = 0; r < rooms; ++r) request(conns_[r % conns_.size()], Item{0, now, r}, r);
      next_warmup_ns = now + 500'000'000;
    }
    if (phase == Phase::measure) {
      const uint64_t go = s_.go_ns.load();
      if (stop_ns == 0) {
        stop_ns = go + static_cast<uint64_t>(o_.duration_s * 1e9);
        slot_.first_ns.store(now);
      }
      // Items due by now: item k (1-based) is due at go + (k - 1) / rate.
      const uint64_t due = std::min<uint64_t>(
          planned, static_cast<uint64_t>(static_cast<double>(now - go) * 1e-9 * o_.rate) + 1);
      // An item begun goes to all its rooms, past the end of the window too: every connection then
      // expects the same items from each room.
      while ((now < stop_ns && seq <= due) || room != 0) {
        PubConn* c = least_loaded();
        if (c == nullptr) break;  // every connection has --pipeline requests waiting: the server lags
        const uint64_t t = now_ns();
        request(*c, Item{seq, t, room}, room);
        slot_.last_issue_ns.store(t, std::memory_order_relaxed);
        if (++room == rooms) {
          room = 0;
          ++seq;
        }
      }
      slot_.items_issued.store(seq - 1);
      bool idle = true;
      for (const PubConn& c : conns_) idle = idle && c.inflight == 0;
      if ((now >= stop_ns || seq > planned) && room == 0) {
        if (drain_deadline == 0) drain_deadline = now + 60'000'000'000ull;
        if (idle || now > drain_deadline) {
          if (!idle) std::snprintf(slot_.error, sizeof(slot_.error), "publish answers missing after 60 s");
          for (const PubConn& c : conns_) failed_ += c.inflight;
          slot_.requests_ok.store(ok_);
          slot_.requests_failed.store(failed_);
          slot_.warmup_requests.store(warmup_);
          slot_.last_ns.store(now);
          slot_.done.store(1, std::memory_order_release);
          // Stays until the parent's finish, so that its CPU is sampled like the workers'.
          while (phase_of(s_) != Phase::finish) sleep_ms(5);
          break;
        }
      }
    }
    for (PubConn& c : conns_)
      if (!c.out.empty()) flush(c);
    const int n = epoll_wait(ep_, events, 64, 1);
    for (int k = 0; k < n; ++k) {
      PubConn& c = conns_[events[k].data.u32];
      if (events[k].events & EPOLLOUT) flush(c);
      if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
    slot_.requests_ok.store(ok_, std::memory_order_relaxed);
    slot_.requests_failed.store(failed_, std::memory_order_relaxed);
    slot_.warmup_requests.store(warmup_, std::memory_order_relaxed);
  }
  _exit(0);
}

// ---------------------------------------------------------------------------------------------
// Parent: coordination, CPU samples, the summary.

double process_cpu_s(int pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return 0;
  char text[1024];
  const size_t n = std::fread(text, 1, sizeof(text) - 1, f);
  std::fclose(f);
  text[n] = '\0';
  const char* p = std::strrchr(text, ')');
  if (p == nullptr) return 0;
  // After the command name: state is field 3, utime field 14, stime field 15.
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Seconds a process's threads spent runnable but waiting for a CPU (/proc/PID/task/*/schedstat, second
// field): on a shared machine, the time other work on the core took from it. A server that lags while
// it waited for its core was not measured at its own limit.
double process_wait_s(int pid) {
  char path[320];  // room for a d_name of 255 bytes, though task ids are short
  std::snprintf(path, sizeof(path), "/proc/%d/task", pid);
  DIR* dir = opendir(path);
  if (dir == nullptr) return 0;
  unsigned long long total_ns = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", pid, e->d_name);
    if (FILE* f = std::fopen(path, "r")) {
      unsigned long long run_ns = 0, wait_ns = 0;
      if (std::fscanf(f, "%llu %llu", &run_ns, &wait_ns) == 2) total_ns += wait_ns;
      std::fclose(f);
    }
  }
  closedir(dir);
  return static_cast<double>(total_ns) / 1e9;
}

struct CpuSample {
  uint64_t at_ns = 0;
  double workers_s = 0, publisher_s = 0, parent_s = 0, watched_s = 0;
  double client_wait_s = 0, watched_wait_s = 0;  // runnable, waiting for a CPU
};

struct Totals {
  uint64_t connected = 0, failed = 0, warmed = 0, items = 0, warmup_items = 0, foreign = 0, messages = 0,
           other_messages = 0, item_messages = 0, bytes = 0, reads = 0, closed = 0, malformed = 0,
           first_item_ns = 0, last_item_ns = 0;
};

class Parent {
 public:
  Parent(const Options& o, Shared& s) : o_(o), s_(s) {}
  int run();

 private:
  Totals totals() const;
  CpuSample sample() const;
  bool children_alive(std::string& why);
  void write_summary(const CpuSample& a, const CpuSample& b, uint64_t connect_ns, uint64_t expected,
                     const std::string& problem);

  const Options& o_;
  Shared& s_;
  std::vector<pid_t> workers_;
  pid_t publisher_ = -1;
};

Totals Parent::totals() const {
  Totals t;
  for (uint32_t w = 0; w < o_.workers; ++w) {
    const WorkerSlot& s = s_.workers[w];
    t.items += s.items.load(std::memory_order_acquire);
    t.connected += s.connected.load();
    t.failed += s.failed.load();
    t.warmed += s.warmed.load();
    t.warmup_items += s.warmup_items.load();
    t.foreign += s.foreign.load();
    t.messages += s.messages.load();
    t.other_messages += s.other_messages.load();
    t.item_messages += s.item_messages.load();
    t.bytes += s.bytes.load();
    t.reads += s.reads.load();
    t.closed += s.closed.load();
    t.malformed += s.malformed.load();
    t.last_item_ns = std::max<uint64_t>(t.last_item_ns, s.last_item_ns.load());
    const uint64_t first = s.first_item_ns.load();
    if (first != 0 && (t.first_item_ns == 0 || first < t.first_item_ns)) t.first_item_ns = first;
  }
  return t;
}

CpuSample Parent::sample() const {
  CpuSample c;
  c.at_ns = now_ns();
  for (pid_t p : workers_) {
    c.workers_s += process_cpu_s(p);
    c.client_wait_s += process_wait_s(p);
  }
  if (publisher_ > 0) {
    c.publisher_s = process_cpu_s(publisher_);
    c.client_wait_s += process_wait_s(publisher_);
  }
  c.parent_s = self_cpu_s();
  for (int p : o_.watch_pids) {
    c.watched_s += process_cpu_s(p);
    c.watched_wait_s += process_wait_s(p);
  }
  return c;
}

bool Parent::children_alive(std::string& why) {
  int status = 0;
  const pid_t p = waitpid(-1, &status, WNOHANG);
  if (p <= 0) return true;
  why = (p == publisher_ ? std::string("the publisher") : std::string("a worker")) + " exited early";
  if (p == publisher_ && s_.publisher.error[0]) why += std::string(": ") + s_.publisher.error;
  for (uint32_t w = 0; w < o_.workers; ++w)
    if (s_.workers[w].error[0]) why += std::string("; worker: ") + s_.workers[w].error;
  return false;
}

int Parent::run() {
  for (uint32_t w = 0; w < o_.workers; ++w) {
    const uint32_t first = w * o_.per_proc;
    const uint32_t count = std::min(o_.per_proc, o_.connections - first);
    const pid_t p = fork();
    if (p == 0) Worker(o_, s_, w, first, count).run();
    workers_.push_back(p);
  }
  std::string problem;
  const uint64_t t0 = now_ns();
  auto seconds_since = [](uint64_t t) { return static_cast<double>(now_ns() - t) / 1e9; };
  Totals t;
  // Connect.
  uint64_t next_progress_ns = t0 + 1'000'000'000;
  while (problem.empty()) {
    t = totals();
    if (t.connected + t.failed >= o_.connections) break;
    if (seconds_since(t0) > o_.connect_timeout_s) {
      problem = "connect timeout";
    } else if (!children_alive(problem)) {
      break;
    }
    if (now_ns() >= next_progress_ns) {
      std::fprintf(stderr, "epoll-load: connecting: %llu connected, %llu failed after %.0f s\n",
                   static_cast<unsigned long long>(t.connected), static_cast<unsigned long long>(t.failed),
                   seconds_since(t0));
      next_progress_ns += 1'000'000'000;
    }
    sleep_ms(10);
  }
  const uint64_t connect_ns = now_ns() - t0;
  std::fprintf(stderr, "epoll-load: %llu connected, %llu failed in %.1f s\n",
               static_cast<unsigned long long>(t.connected), static_cast<unsigned long long>(t.failed),
               static_cast<double>(connect_ns) / 1e9);
  if (t.failed && problem.empty()) {
    problem = std::to_string(t.failed) + " connections failed";
    for (uint32_t w = 0; w < o_.workers; ++w)
      if (s_.workers[w].error[0]) problem += std::string(" (") + s_.workers[w].error + ")";
  }
  // Warm up: every connection hears every publish room before anything is measured.
  if (problem.empty()) {
    s_.phase.store(static_cast<uint32_t>(Phase::warmup), std::memory_order_release);
    publisher_ = fork();
    if (publisher_ == 0) Publisher(o_, s_).run();
    const uint64_t w0 = now_ns();
    while (problem.empty()) {
      t = totals();
      if (t.warmed >= t.connected) break;
      if (seconds_since(w0) > o_.warmup_timeout_s)
        problem = std::to_string(t.connected - t.warmed) +
                  " connections never got a warm-up item from every publish room (not subscribed?)";
      else if (!children_alive(problem))
        break;
      sleep_ms(5);
    }
    sleep_ms(300);  // warm-up answers and stragglers settle; they are not counted anyway
  }
  CpuSample a, b;
  uint64_t expected = 0;
  if (problem.empty()) {
    a = sample();
    s_.go_ns.store(a.at_ns);
    s_.phase.store(static_cast<uint32_t>(Phase::measure), std::memory_order_release);
    while (problem.empty() && !s_.publisher.done.load(std::memory_order_acquire)) {
      if (!children_alive(problem)) break;
      sleep_ms(2);
    }
    expected = s_.publisher.requests_ok.load() * t.connected;
    s_.expected_per_conn.store(s_.publisher.requests_ok.load());
    // Drain: until everything expected arrived, or nothing arrived for --drain-timeout.
    uint64_t last_count = 0, last_change = now_ns();
    while (problem.empty()) {
      t = totals();
      if (t.items >= expected) break;
      if (t.items != last_count) {
        last_count = t.items;
        last_change = now_ns();
      } else if (seconds_since(last_change) > o_.drain_timeout_s) {
        break;
      }
      if (!children_alive(problem)) break;
      sleep_ms(1);
    }
    b = sample();
  }
  s_.phase.store(static_cast<uint32_t>(Phase::finish), std::memory_order_release);
  for (pid_t p : workers_) waitpid(p, nullptr, 0);
  if (publisher_ > 0) waitpid(publisher_, nullptr, 0);
  write_summary(a, b, connect_ns, expected, problem);
  return problem.empty() ? 0 : 1;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

std::string json_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    out += json_string(v[i]);
  }
  return out + "]";
}

void Parent::write_summary(const CpuSample& a, const CpuSample& b, uint64_t connect_ns, uint64_t expected,
                           const std::string& problem) {
  const Totals t = totals();
  std::vector<uint64_t> hist(histogram::kBuckets, 0);
  uint64_t complete = 0, lo = UINT64_MAX, hi = 0;
  uint32_t max_bucket = 0;
  for (uint32_t w = 0; w < o_.workers; ++w) {
    const WorkerSlot& s = s_.workers[w];
    for (uint32_t i = 0; i < histogram::kBuckets; ++i) {
      hist[i] += s.latency_us[i];
      if (s.latency_us[i]) max_bucket = std::max(max_bucket, i);
    }
    if (!s.done.load()) continue;
    complete += s.connections_complete;
    lo = std::min(lo, s.per_conn_min);
    hi = std::max(hi, s.per_conn_max);
  }
  const PublisherSlot& p = s_.publisher;
  const uint64_t go = s_.go_ns.load();
  // Deliveries/s over the delivery window, first item received to last: a server that keeps up delivers
  // over a window as long as the publishing one (both shifted by the latency), one that falls behind
  // stretches it. From the first publish instead, the latency would count as time not delivering.
  const double window_s =
      t.last_item_ns > t.first_item_ns ? static_cast<double>(t.last_item_ns - t.first_item_ns) / 1e9 : 0;
  const double since_publish_s =
      go && t.last_item_ns > go ? static_cast<double>(t.last_item_ns - go) / 1e9 : 0;
  const double publish_window_s =
      p.last_issue_ns.load() > go && go ? static_cast<double>(p.last_issue_ns.load() - go) / 1e9 : 0;
  const double cpu_window_s = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
  const double workers_s = b.workers_s - a.workers_s, publisher_s = b.publisher_s - a.publisher_s,
               parent_s = b.parent_s - a.parent_s, watched_s = b.watched_s - a.watched_s;
  const double client_s = workers_s + publisher_s + parent_s;
  const double pct = cpu_window_s > 0 ? 100 / cpu_window_s : 0;
  const uint64_t rooms = o_.publish_rooms.size();
  const double publish_s = p.last_ns.load() > go && go
                               ? std::min(o_.duration_s, static_cast<double>(p.last_ns.load() - go) / 1e9)
                               : 0;
  const double items_ok = static_cast<double>(p.requests_ok.load()) / static_cast<double>(rooms);
  const double per_s = window_s > 0 ? static_cast<double>(t.items) / window_s : 0;
  // Busy or waiting for its core 90% of the window: the client was runnable all the time, so it set the
  // pace (with the share of the core it got), not the server.
  const double client_wait_s = b.client_wait_s - a.client_wait_s;
  const bool client_bound = (client_s + client_wait_s) * pct >= 90;
  const bool clean = problem.empty() && t.items == expected && t.failed == 0 && t.closed == 0 &&
                     t.foreign == 0 && t.malformed == 0 && p.requests_failed.load() == 0;
  double q[5] = {histogram::quantile(hist.data(), 0.5) / 1000, histogram::quantile(hist.data(), 0.9) / 1000,
                 histogram::quantile(hist.data(), 0.99) / 1000,
                 histogram::quantile(hist.data(), 0.999) / 1000,
                 t.items ? histogram::bucket_value(max_bucket) / 1000 : 0};
  std::string why = problem;
  if (why.empty() && t.items != expected)
    why = std::to_string(expected > t.items ? expected - t.items : 0) + " items missing";
  if (why.empty() && !clean) why = "closes, failures or foreign items (see the counts)";
  std::printf(
      "epoll-load: %u connections, %.0f items/s offered x %llu rooms, %.1f reached; %.3fM deliveries/s "
      "(%llu of %llu in %.2f s, %.2f items/message); latency p50 %.1f ms p99 %.1f ms; client CPU %.0f%% of a "
      "core%s, "
      "watched %.0f%% (waited for a CPU %.0f%%); %s\n",
      o_.connections, o_.rate, static_cast<unsigned long long>(rooms),
      publish_s > 0 ? items_ok / o_.duration_s : 0, per_s / 1e6, static_cast<unsigned long long>(t.items),
      static_cast<unsigned long long>(expected), window_s,
      t.item_messages ? static_cast<double>(t.items) / static_cast<double>(t.item_messages) : 0, q[0], q[2],
      client_s * pct, client_bound ? " (client-bound)" : "", watched_s * pct,
      (b.watched_wait_s - a.watched_wait_s) * pct, clean ? "clean" : why.c_str());
  if (o_.json_path.empty()) return;
  FILE* f = std::fopen(o_.json_path.c_str(), "w");
  if (f == nullptr) {
    std::perror("epoll-load: --json");
    return;
  }
  std::fprintf(f,
               "{\"tool\":\"ringcast-epoll-load\",\"url\":%s,\"publish_url\":%s,\"format\":\"%s\","
               "\"wait_ms\":%u,",
               json_string(o_.ws.text).c_str(), json_string(o_.publish.text).c_str(),
               o_.format == Format::gopush ? "gopush" : "raw", o_.wait_ms);
  std::fprintf(f,
               "\"connections\":%u,\"processes\":{\"workers\":%u,\"source_addresses\":%u},\"join\":%s,"
               "\"publish_rooms\":%s,\"payload_bytes\":%u,\"rate_offered\":%g,\"duration_s\":%g,",
               o_.connections, o_.workers, (o_.connections + o_.per_source - 1) / o_.per_source,
               json_list(o_.join).c_str(), json_list(o_.publish_rooms).c_str(), o_.payload_bytes, o_.rate,
               o_.duration_s);
  std::fprintf(f, "\"connect\":{\"connected\":%llu,\"failed\":%llu,\"seconds\":%.3f},",
               static_cast<unsigned long long>(t.connected), static_cast<unsigned long long>(t.failed),
               static_cast<double>(connect_ns) / 1e9);
  std::fprintf(f,
               "\"publish\":{\"requests_ok\":%llu,\"requests_failed\":%llu,\"warmup_requests\":%llu,"
               "\"items_ok\":%.0f,\"rate_reached\":%.3f,\"window_s\":%.4f},",
               static_cast<unsigned long long>(p.requests_ok.load()),
               static_cast<unsigned long long>(p.requests_failed.load()),
               static_cast<unsigned long long>(p.warmup_requests.load()), items_ok, items_ok / o_.duration_s,
               publish_window_s);
  std::fprintf(
      f,
      "\"delivery\":{\"expected\":%llu,\"received\":%llu,\"missing\":%llu,\"foreign\":%llu,"
      "\"malformed\":%llu,\"messages\":%llu,\"other_messages\":%llu,\"item_messages\":%llu,"
      "\"items_per_message\":%.3f,"
      "\"bytes\":%llu,\"reads\":%llu,\"connections_complete\":%llu,\"per_connection_min\":%llu,"
      "\"per_connection_max\":%llu,\"closed\":%llu,\"window_s\":%.4f,\"per_second\":%.0f,"
      "\"since_first_publish_s\":%.4f,\"per_second_since_first_publish\":%.0f},",
      static_cast<unsigned long long>(expected), static_cast<unsigned long long>(t.items),
      static_cast<unsigned long long>(expected > t.items ? expected - t.items : 0),
      static_cast<unsigned long long>(t.foreign), static_cast<unsigned long long>(t.malformed),
      static_cast<unsigned long long>(t.messages), static_cast<unsigned long long>(t.other_messages),
      static_cast<unsigned long long>(t.item_messages),
      t.item_messages ? static_cast<double>(t.items) / static_cast<double>(t.item_messages) : 0,
      static_cast<unsigned long long>(t.bytes), static_cast<unsigned long long>(t.reads),
      static_cast<unsigned long long>(complete), static_cast<unsigned long long>(lo == UINT64_MAX ? 0 : lo),
      static_cast<unsigned long long>(hi), static_cast<unsigned long long>(t.closed), window_s, per_s,
      since_publish_s, since_publish_s > 0 ? static_cast<double>(t.items) / since_publish_s : 0);
  std::fprintf(f, "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},", q[0],
               q[1], q[2], q[3], q[4]);
  std::fprintf(f,
               "\"cpu\":{\"window_s\":%.4f,\"client_s\":%.4f,\"client_percent\":%.2f,\"workers_s\":%.4f,"
               "\"publisher_s\":%.4f,\"parent_s\":%.4f,\"watched_s\":%.4f,\"watched_percent\":%.2f,"
               "\"client_wait_percent\":%.2f,\"watched_wait_percent\":%.2f},",
               cpu_window_s, client_s, client_s * pct, workers_s, publisher_s, parent_s, watched_s,
               watched_s * pct, (b.client_wait_s - a.client_wait_s) * pct,
               (b.watched_wait_s - a.watched_wait_s) * pct);
  std::fprintf(f, "\"client_bound\":%s,\"clean\":%s,\"problem\":%s}\n", client_bound ? "true" : "false",
               clean ? "true" : "false", json_string(clean ? "" : why).c_str());
  std::fclose(f);
}

}  // namespace
}  // namespace epoll_load

int main(int argc, char** argv) {
  using namespace epoll_load;
  Options o;
  std::string error;
  if (!parse_options(argc, argv, o, error)) {
    std::fprintf(stderr, "ringcast-epoll-load: %s (see --help)\n", error.c_str());
    return 2;
  }
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (o.per_proc + kFilesReservedPerProcess > lim.rlim_cur) {
    std::fprintf(stderr, "ringcast-epoll-load: --per-proc %u does not fit the open-files limit %llu\n",
                 o.per_proc, static_cast<unsigned long long>(lim.rlim_cur));
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("ringcast-epoll-load: mmap");
    return 1;
  }
  Shared* shared = new (mem) Shared();
  return Parent(o, *shared).run();
}
