// The worker's event loop (see worker.h). A connection is 24 bytes in a slab and owns no buffer while
// idle: reads land in the ring's provided buffers (multishot recv) and are scanned in place; only a
// frame (or the 101 head) split across reads is copied aside, into a heap block freed once whole, and
// a fragmented message is joined in a side table until its last frame. A compressed message
// (--deflate) is inflated by the worker's one inflater into its buffer and scanned there; the same compressed
// payload again (the server's one frame for every member) reuses a recent inflated message. Over
// TLS (wss://) a recv's ciphertext goes through the connection's SSL (kept in a side table) into one
// worker-wide plaintext buffer, which is scanned the same way.
#include "tools/load/worker.h"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/codec/frame.h"
#include "engine/codec/handshake.h"
#include "tools/load/deflate.h"
#include "tools/load/scan.h"
#include "tools/load/tls.h"

namespace ringcast::load {
namespace {

// ---- limits of one worker ----
constexpr uint32_t kSqEntries = 4096;
// Multishot recv posts a completion per read without a new submission: the completion queue is
// deep so that a broadcast to every connection at once does not overflow it.
constexpr uint32_t kCqEntries = 65536;
// Provided receive buffers: a fixed 16 MiB per worker whatever the connection count. They are touched
// at start so the per-connection memory figure measures connections only.
constexpr uint32_t kRecvBufferBytes = 8192;
constexpr uint32_t kRecvBufferCount = 2048;
constexpr uint16_t kBufferGroup = 0;
// Connections between socket() and "joined" at once, per worker: keeps the SYN and accept queues of
// the server (somaxconn 4096 here) from overflowing when the connect rate is unpaced.
constexpr uint32_t kHandshakesInFlightMax = 512;
constexpr size_t kUpgradeHeadBytesMax = 4096;
constexpr uint64_t kFrameBytesMax = 64ull << 20;
// A fragmented message joined, and a compressed one inflated, may not grow past this either.
constexpr uint64_t kMessageBytesMax = kFrameBytesMax;
// A stalled connection (--stall-after) reads through a tiny window, so the server's backlog for it
// grows at once instead of filling megabytes of kernel buffers first.
constexpr int kStallReceiveBufferBytes = 4096;
constexpr uint64_t kIdleWaitNs = 10'000'000;
constexpr uint64_t kConnectWaitMinNs = 200'000;
constexpr uint64_t kLagCheckPeriodNs = 20'000'000;
constexpr size_t kOpeningBytesMax = 2048;
// Plaintext decrypted from one recv's ciphertext, scanned before the next records are decrypted:
// four full TLS records.
constexpr size_t kTlsPlainBytes = 4 * 16384;

// RFC 6455's sample nonce: every connection sends the same key (the server cannot tell, and the
// expected Sec-WebSocket-Accept is then computed once).
constexpr std::string_view kWebSocketKey = "dGhlIHNhbXBsZSBub25jZQ==";

enum class Op : uint8_t { connect = 1, recv = 2, send = 3, cancel = 4 };

constexpr uint64_t user_data(Op op, uint32_t index) {
  return (uint64_t{static_cast<uint8_t>(op)} << 56) | index;
}
constexpr Op op_of(uint64_t ud) {
  return static_cast<Op>(ud >> 56);
}
constexpr uint32_t index_of(uint64_t ud) {
  return static_cast<uint32_t>(ud);
}

// securing: TCP connected to a wss:// URL, the TLS handshake under way (the upgrade request goes out
// once it is done). leaving: a --reconnect-every drop under way (its bytes are ignored); the
// connection then goes through connecting, (securing,) upgrading and joining again.
enum class State : uint8_t { idle, connecting, securing, upgrading, joining, open, leaving, closed, failed };

constexpr uint8_t kRecvArmed = 1;
constexpr uint8_t kSendBusy = 2;
constexpr uint8_t kWasJoined = 4;
constexpr uint8_t kStallDesignated = 8;
constexpr uint8_t kStalled = 16;
constexpr uint8_t kReconnects = 32;  // designated by --reconnect-every / --reconnect-one-in
constexpr uint8_t kDeflate = 64;     // this connection's upgrade agreed on permessage-deflate
constexpr uint8_t kInMessage = 128;  // a fragmented message is being joined (Worker::partial_)
// --protocol sse: the event stream comes in chunks. (A WebSocket-only bit reused: --deflate is refused
// with sse.)
constexpr uint8_t kSseChunked = kDeflate;

constexpr size_t kEpochBytes = 16;

// What a connection that reconnects remembers across its connections (--reconnect-every only, in a
// vector of its own so that the other connections stay 24 bytes).
struct Resume {
  uint64_t seq[2] = {0, 0};  // per room slot: the last PUSH seq or JOINED position seen there
  uint64_t drop_ns = 0;      // when the last drop started (resume time origin)
  uint32_t items_left = 0;   // items until the next drop
  uint32_t cycle = 0;        // drops so far
  uint8_t has_position = 0;  // bit per slot: seq[slot] is known
  uint8_t pending = 0;       // bit per slot: JOINED not yet seen on this connection
  uint8_t epoch_len = 0;
  uint8_t attempts = 0;  // failed attempts of the current reconnect
  char epoch[kEpochBytes] = {};
  // wss://: the last TLS session the server gave this connection (a TLS 1.3 ticket or a TLS 1.2
  // session), offered again when it reconnects to the same URL (tls_session_url, an index of --url).
  SSL_SESSION* tls_session = nullptr;
  uint32_t tls_session_url = 0;
};

// A reconnect that fails (refused, reset, or answered 408 because this process was too busy to send
// the upgrade in time) is tried again, as a real client would, this many times in all.
constexpr uint8_t kReconnectAttemptsMax = 5;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct Conn {
  int32_t fd = -1;
  uint32_t next_seq[2] = {1, 1};  // next expected seq: [0] own room, [1] also-room
  State state = State::idle;
  uint8_t flags = 0;
  Spill* spill = nullptr;  // a frame or the 101 head split across reads
};
static_assert(sizeof(Conn) <= 24, "an idle connection must stay small");

// A message that arrived in several frames, joined until its last one (ringcast never fragments;
// other servers may, for large messages). RSV1 is on the first frame only, so it is kept here.
struct PartialMessage {
  std::vector<uint8_t> payload;
  uint64_t wire_bytes = 0;  // headers and payloads of its frames
  bool compressed = false;
};

// A connection over TLS (wss://): its SSL and when its handshake began. In a side table, sized only
// when some --url is wss://, so that a connection stays 24 bytes; the SSL object is most of what a
// TLS connection costs anyway.
struct TlsConn {
  SSL* ssl = nullptr;
  uint64_t started_ns = 0;  // TCP connected
};

bool in_handshake(State s) {
  return s == State::connecting || s == State::securing || s == State::upgrading || s == State::joining;
}
bool live(State s) {
  return s == State::securing || s == State::upgrading || s == State::joining || s == State::open;
}

class Worker {
 public:
  Worker(const Options& o, const Shared& shared, uint32_t index)
      : o_(o), shared_(shared), block_(shared.worker(index)), index_(index), workers_(o.processes) {}
  ~Worker();

  int run();

 private:
  // Set-up.
  bool init(std::string& error);
  uint32_t global(uint32_t j) const { return j * workers_ + index_; }
  // Which --url a connection uses now: its own, or with --reconnect-move one further per reconnect.
  uint32_t destination(uint32_t j) const {
    return global(j) + (o_.reconnect_move && !resume_.empty() ? resume_[j].cycle : 0);
  }
  io_uring_sqe* sqe();
  void arm_recv(uint32_t j);

  // Connection life.
  void start_due_connects(uint64_t now);
  uint64_t next_connect_due_ns() const;
  void start_connect(uint32_t j, bool again = false);
  void on_connect(uint32_t j, int res);
  const Endpoint& endpoint(uint32_t j) const { return o_.urls[destination(j) % o_.urls.size()]; }
  bool build_opening(uint32_t j, char* out, size_t& len, std::string& error);
  bool send_opening(uint32_t j);
  bool send_bytes(uint32_t j, const void* data, size_t len, std::string& error);
  void fail(uint32_t j, const std::string& why);
  void mark_joined(uint32_t j);
  void end_conn(uint32_t j, State terminal);
  void lost(uint32_t j, const std::string& why, bool eof);
  void protocol_error(uint32_t j, const char* why);

  // Reconnect and resume (--reconnect-every).
  void draw_items_left(uint32_t j);
  void drop(uint32_t j);
  void finish_drop(uint32_t j);
  void start_due_reconnects(uint64_t now);
  int room_slot(uint32_t j, std::string_view room) const;
  void on_joined(uint32_t j, const Joined& joined);
  void on_push_position(uint32_t j, const PushTail& tail, uint64_t items);
  bool reconnecting(uint32_t j) const {
    const Conn& c = conns_[j];
    return (c.flags & kWasJoined) && (in_handshake(c.state) || c.state == State::leaving);
  }

  // TLS (wss://).
  bool tls(uint32_t j) const { return !tls_.empty() && tls_[j].ssl != nullptr; }
  void start_tls(uint32_t j);
  void on_tls_bytes(uint32_t j, const uint8_t* data, size_t len);
  void tls_established(uint32_t j);
  void tls_failed(uint32_t j, const std::string& why);
  bool flush_tls(uint32_t j, std::string& error);
  void release_tls(uint32_t j, bool keep_session);
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  bool keep_session(uint32_t j, SSL_SESSION* session);

  // Receive path.
  void on_recv(uint32_t j, int res, uint32_t flags);
  void on_bytes(uint32_t j, uint8_t* data, size_t len);
  size_t consume_upgrade(uint32_t j, uint8_t* data, size_t len);
  void handle_frame(uint32_t j, const FrameHead& head, uint8_t* payload);
  void on_data_frame(uint32_t j, const FrameHead& head, uint8_t* payload);
  void on_sse_bytes(uint32_t j, std::string_view bytes);
  void on_sse_event(uint32_t j, std::string_view body);
  uint64_t on_raw_item(uint32_t j, std::string_view message);
  void deliver_message(uint32_t j, const uint8_t* payload, size_t len, bool compressed, uint64_t wire_bytes);
  uint64_t on_message(uint32_t j, std::string_view message);
  void forget_receive_state(uint32_t j);
  void on_item(uint32_t j, const Item& item);
  void on_close_frame(uint32_t j, const uint8_t* payload, size_t len);
  bool reply(uint32_t j, ws::Opcode op, const uint8_t* payload, size_t len, std::string& error);

  // Periodic work.
  void heartbeat(uint64_t now);
  void stall(uint32_t j);
  void resume_stalled();
  void close_stragglers();
  void report_lag(uint64_t now);
  void finish();

  void submit_and_wait(uint64_t timeout_ns);
  void process_completions();

  const Options& o_;
  const Shared& shared_;
  WorkerBlock& block_;
  const uint32_t index_;
  const uint32_t workers_;

  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  uint8_t* buffers_ = nullptr;
  uint32_t buffers_pending_ = 0;

  std::vector<Conn> conns_;
  std::vector<sockaddr_in> destinations_;  // one per URL, stable for the connects in flight
  std::vector<uint8_t> ping_frame_;        // shared by every PING send in flight
  std::string accept_value_;
  std::vector<int> closes_;  // fds closed only after the next submit (a queued SQE may name them)
  std::vector<uint32_t> stalled_;
  std::vector<Resume> resume_;  // per connection with --reconnect-every, else empty
  std::unordered_map<uint32_t, std::string> sse_partial_;  // --protocol sse: an event split across reads
  std::unordered_map<uint32_t, PartialMessage> partial_;  // connections with kInMessage
  MessageInflater inflater_{kMessageBytesMax};
  // wss://: one context and one pipe for all connections, whose SSLs are in tls_; records are
  // decrypted into tls_plain_.
  SSL_CTX* tls_ctx_ = nullptr;
  TlsPipe tls_pipe_;
  std::vector<TlsConn> tls_;
  std::vector<uint8_t> tls_plain_;
  // --reconnect-pause: dropped connections waiting to connect again, due times in order (one pause
  // for all, so a FIFO is sorted).
  std::deque<std::pair<uint64_t, uint32_t>> paused_;

  uint32_t next_connect_ = 0;
  uint32_t handshakes_in_flight_ = 0;
  uint64_t start_ns_ = 0;
  uint64_t now_ = 0;
  uint64_t last_tick_ns_ = 0;
  double heartbeat_position_ = 0;
  uint64_t heartbeat_next_ = 0;
  uint64_t last_lag_check_ns_ = 0;
  bool stragglers_closed_ = false;
  bool resumed_ = false;
  Phase phase_ = Phase::connecting;
  uint32_t own_rooms_ = 0;  // K
  bool has_also_ = false;
};

Worker::~Worker() {
  for (Conn& c : conns_) free_spill(c.spill);
  for (TlsConn& t : tls_)
    if (t.ssl != nullptr) SSL_free(t.ssl);
  for (Resume& r : resume_)
    if (r.tls_session != nullptr) SSL_SESSION_free(r.tls_session);
  if (tls_ctx_ != nullptr) SSL_CTX_free(tls_ctx_);
  if (ring_ready_) io_uring_queue_exit(&ring_);
}

bool Worker::init(std::string& error) {
  io_uring_params params{};
  // SINGLE_ISSUER + DEFER_TASKRUN: completions are processed in a batch when this loop asks for them.
  params.flags =
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  params.cq_entries = kCqEntries;
  int rc = io_uring_queue_init_params(kSqEntries, &ring_, &params);
  if (rc < 0) {
    error = std::string("io_uring_queue_init: ") + std::strerror(-rc) + " (needs Linux 6.1+)";
    return false;
  }
  ring_ready_ = true;

  void* ring_mem = mmap(nullptr, kRecvBufferCount * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* buf_mem = mmap(nullptr, size_t{kRecvBufferCount} * kRecvBufferBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (ring_mem == MAP_FAILED || buf_mem == MAP_FAILED) {
    error = std::string("mmap of receive buffers: ") + std::strerror(errno);
    return false;
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
  buffers_ = static_cast<uint8_t*>(buf_mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.ring_entries = kRecvBufferCount;
  reg.bgid = kBufferGroup;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) {
    error = std::string("io_uring_register_buf_ring: ") + std::strerror(-rc);
    return false;
  }
  for (uint32_t id = 0; id < kRecvBufferCount; ++id) {
    io_uring_buf_ring_add(buf_ring_, buffers_ + size_t{id} * kRecvBufferBytes, kRecvBufferBytes,
                          static_cast<uint16_t>(id), io_uring_buf_ring_mask(kRecvBufferCount),
                          static_cast<int>(id));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(kRecvBufferCount));

  for (const Endpoint& ep : o_.urls) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(ep.port);
    sa.sin_addr.s_addr = htonl(ep.ip_host);
    destinations_.push_back(sa);
  }
  uint8_t frame[64];
  constexpr std::string_view ping = R"({"type":"PING","data":{}})";
  const size_t n = ws::encode_client_frame(frame, ws::Opcode::text,
                                           {reinterpret_cast<const uint8_t*>(ping.data()), ping.size()}, 0);
  ping_frame_.assign(frame, frame + n);
  accept_value_ = handshake::accept_key(kWebSocketKey);
  own_rooms_ = o_.rooms;
  has_also_ = o_.has_also();
  const bool any_wss = std::any_of(o_.urls.begin(), o_.urls.end(), [](const Endpoint& ep) { return ep.tls; });
  if (any_wss) {
    tls_ctx_ = new_client_context({o_.ca_file, o_.insecure}, error);
    if (tls_ctx_ == nullptr || !tls_pipe_.init(error)) return false;
    if (o_.reconnects()) {
      // Sessions are kept by the connections that will reconnect (on_new_session), not in a cache.
      SSL_CTX_set_app_data(tls_ctx_, this);
      SSL_CTX_set_session_cache_mode(tls_ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_new_cb(tls_ctx_, on_new_session);
    }
    tls_plain_.resize(kTlsPlainBytes);  // touched here: not counted as connection memory
  }

  const uint32_t n_local = o_.connections > index_ ? (o_.connections - index_ + workers_ - 1) / workers_ : 0;
  block_.connections.set(n_local);
  // The baseline is taken before the connection slab exists, so the "connected" figure minus it is
  // what the connections cost.
  block_.rss_baseline_bytes.set(rss_bytes());
  conns_.resize(n_local);
  if (any_wss) tls_.resize(n_local);
  if (o_.stall_after > 0) {
    for (uint32_t j = 0; j < n_local; ++j)
      if (global(j) % o_.stall_every == 0) conns_[j].flags |= kStallDesignated;
  }
  if (o_.reconnects()) {
    resume_.resize(n_local);
    for (uint32_t j = 0; j < n_local; ++j)
      if (global(j) % o_.reconnect_one_in == 0) conns_[j].flags |= kReconnects;
  }
  return true;
}

io_uring_sqe* Worker::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (s == nullptr) {
    // The submission queue is full (a heartbeat sweep or a burst of connects): hand it over now.
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
    if (s == nullptr) {
      std::fprintf(stderr, "ringcast-load: worker %u: no submission queue entry\n", index_);
      std::abort();
    }
  }
  return s;
}

void Worker::arm_recv(uint32_t j) {
  Conn& c = conns_[j];
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, c.fd, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(s, user_data(Op::recv, j));
  c.flags |= kRecvArmed;
}

// ---- connecting ----

uint64_t Worker::next_connect_due_ns() const {
  if (o_.connect_rate <= 0) return start_ns_;
  return start_ns_ +
         static_cast<uint64_t>(static_cast<double>(global(next_connect_)) * 1e9 / o_.connect_rate);
}

void Worker::start_due_connects(uint64_t now) {
  while (next_connect_ < conns_.size() && handshakes_in_flight_ < kHandshakesInFlightMax) {
    if (next_connect_due_ns() > now) break;
    start_connect(next_connect_++);
  }
}

void Worker::start_connect(uint32_t j, bool again) {
  Conn& c = conns_[j];
  const uint32_t i = global(j);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail(j, std::string("socket: ") + std::strerror(errno));
    return;
  }
  c.fd = fd;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // The port is chosen at connect() time, per destination, instead of at bind(): without this a
  // source address would run out of ports after ~28,000 binds whatever the destinations.
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (c.flags & kStallDesignated) {
    const int bytes = kStallReceiveBufferBytes;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  const uint32_t source = o_.source_base + i / o_.per_source;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(source);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
    fail(j, "bind " + ipv4_text(source) + ": " + std::strerror(errno));
    return;
  }
  io_uring_sqe* s = sqe();
  const sockaddr_in& dst = destinations_[destination(j) % destinations_.size()];
  io_uring_prep_connect(s, fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst);
  io_uring_sqe_set_data64(s, user_data(Op::connect, j));
  c.state = State::connecting;
  ++handshakes_in_flight_;
  if (!again) block_.attempted.add();
}

void Worker::on_connect(uint32_t j, int res) {
  Conn& c = conns_[j];
  if (c.state != State::connecting) return;  // given up meanwhile (connect timeout)
  const Endpoint& ep = endpoint(j);
  if (res < 0) {
    fail(j, "connect " + ipv4_text(o_.source_base + global(j) / o_.per_source) + " -> " + ep.host_header +
                ": " + std::strerror(-res));
    return;
  }
  block_.tcp_connected.add();
  if (ep.tls) {
    start_tls(j);  // the opening goes out once the handshake is done (tls_established)
    return;
  }
  if (send_opening(j)) arm_recv(j);
}

// What a connection says first. For go-push: the upgrade request, the JOINs and a PING, in one send;
// sse: the subscription request. The zero mask key leaves the JSON readable on the wire (allowed: the
// key only has to be unpredictable to defeat proxies).
bool Worker::build_opening(uint32_t j, char* out, size_t& len, std::string& error) {
  Conn& c = conns_[j];
  const Endpoint& ep = endpoint(j);
  const uint32_t i = global(j);
  len = 0;
  const uint32_t own_room = own_rooms_ > 0 ? i % own_rooms_ : 0;
  const std::string room = own_rooms_ > 0 ? o_.room_name(own_room) : o_.also_room;
  std::string path = ep.path(room);
  if (o_.protocol == Protocol::sse) {
    // A subscription by URL: the rooms are query parameters, the answer is the stream.
    if (!ep.has_room) path += std::string(path.find('?') == std::string::npos ? "?" : "&") + "room=" + room;
    if (has_also_ && own_rooms_ > 0) path += "&room=" + o_.also_room;
    len = static_cast<size_t>(std::snprintf(
        out, kOpeningBytesMax, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n",
        path.c_str(), ep.host_header.c_str()));
    if (len >= kOpeningBytesMax) {
      error = "subscription request longer than " + std::to_string(kOpeningBytesMax) + " bytes";
      return false;
    }
    return true;
  }
  const std::string extensions =
      o_.deflate ? "Sec-WebSocket-Extensions: " + std::string(kDeflateOffer) + "\r\n" : std::string();
  len = static_cast<size_t>(std::snprintf(out, kOpeningBytesMax,
                                          "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                                          "Connection: Upgrade\r\nSec-WebSocket-Key: %.*s\r\n"
                                          "Sec-WebSocket-Version: 13\r\n%s\r\n",
                                          path.c_str(), ep.host_header.c_str(),
                                          static_cast<int>(kWebSocketKey.size()), kWebSocketKey.data(),
                                          extensions.c_str()));
  if (len >= kOpeningBytesMax) {
    error = "upgrade request longer than " + std::to_string(kOpeningBytesMax) + " bytes";
    return false;
  }
  if (o_.protocol == Protocol::gopush) {
    auto add_command = [&](std::string_view json) {
      len += ws::encode_client_frame(reinterpret_cast<uint8_t*>(out) + len, ws::Opcode::text,
                                     {reinterpret_cast<const uint8_t*>(json.data()), json.size()}, 0);
    };
    char join[kRoomNameBytesMax + 128];
    auto add_join = [&](const std::string& name, uint32_t slot) {
      int n;
      if (!(c.flags & kReconnects)) {
        n = std::snprintf(join, sizeof join, R"({"type":"JOIN","data":{"room":"%s"}})", name.c_str());
      } else {
        // A connection that may reconnect always JOINs with since and waits for the room's JOINED:
        // the first time `"since":null` (the marker tells the room's position and the epoch, nothing
        // is replayed); after a drop, since is where it left the room.
        Resume& r = resume_[j];
        const bool known = r.has_position & (1u << slot);
        const uint64_t since = known ? r.seq[slot] : 0;
        if (!known)
          n = std::snprintf(join, sizeof join, R"({"type":"JOIN","data":{"room":"%s","since":null}})", name.c_str());
        else if (r.epoch_len > 0)
          n = std::snprintf(
              join, sizeof join, R"({"type":"JOIN","data":{"room":"%s","since":%llu,"epoch":"%.*s"}})",
              name.c_str(), static_cast<unsigned long long>(since), static_cast<int>(r.epoch_len), r.epoch);
        else
          n = std::snprintf(join, sizeof join, R"({"type":"JOIN","data":{"room":"%s","since":%llu}})",
                            name.c_str(), static_cast<unsigned long long>(since));
        r.pending |= static_cast<uint8_t>(1u << slot);
      }
      add_command({join, static_cast<size_t>(n)});
    };
    if (own_rooms_ > 0) add_join(room, 0);
    if (has_also_) add_join(o_.also_room, 1);
    std::memcpy(out + len, ping_frame_.data(), ping_frame_.size());
    len += ping_frame_.size();
  }
  return true;
}

// The opening is made here, synchronously, from the stack: once per connection, into an empty
// socket buffer, so the send never blocks and no per-connection buffer has to outlive the call.
bool Worker::send_opening(uint32_t j) {
  char out[kOpeningBytesMax];
  size_t len = 0;
  std::string error;
  const char* what = o_.protocol == Protocol::sse ? "subscription request: " : "upgrade request: ";
  if (!build_opening(j, out, len, error)) {
    fail(j, error);
    return false;
  }
  if (!send_bytes(j, out, len, error)) {
    fail(j, what + error);
    return false;
  }
  conns_[j].state = State::upgrading;
  return true;
}

// Everything a connection sends is small (the opening, a PING, a pong or a close) and goes out at
// once from the caller's bytes with a non-blocking send: a socket buffer holds far more, so it never
// waits; a send that cannot take it all means the server stopped reading and fails. Over TLS the
// bytes are encrypted first, into the pipe's output, which is sent the same way.
bool Worker::send_bytes(uint32_t j, const void* data, size_t len, std::string& error) {
  if (tls(j)) {
    if (!tls_write(tls_[j].ssl, data, len, error)) {
      tls_pipe_.output().clear();
      error = "TLS: " + error;
      return false;
    }
    return flush_tls(j, error);
  }
  const ssize_t sent = send(conns_[j].fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent == static_cast<ssize_t>(len)) return true;
  error = sent < 0 ? std::string(std::strerror(errno)) : std::string("short send");
  return false;
}

// ---- TLS (wss://) ----

void Worker::start_tls(uint32_t j) {
  Conn& c = conns_[j];
  const Endpoint& ep = endpoint(j);
  TlsConn& t = tls_[j];
  t.started_ns = monotonic_ns();
  c.state = State::securing;
  t.ssl = SSL_new(tls_ctx_);
  if (t.ssl == nullptr) return tls_failed(j, "SSL_new failed (out of memory?)");
  tls_pipe_.attach(t.ssl);
  SSL_set_connect_state(t.ssl);
  SSL_set_app_data(t.ssl, reinterpret_cast<void*>(uintptr_t{j}));
  std::string error;
  if (!set_server_name(t.ssl, ep.host, !o_.insecure, error)) return tls_failed(j, error);
  if (c.flags & kReconnects) {
    const Resume& r = resume_[j];
    // A session from another URL would only make that server refuse it (or, sharing ticket keys,
    // skip checking the certificate of a host never verified): offered to the same URL only.
    if (r.tls_session != nullptr && r.tls_session_url == destination(j) % o_.urls.size())
      SSL_set_session(t.ssl, r.tls_session);
  }
  // The ClientHello.
  tls_pipe_.give(nullptr, 0);
  if (tls_handshake(t.ssl, error) == TlsStatus::failed || !flush_tls(j, error)) return tls_failed(j, error);
  arm_recv(j);
}

// Ciphertext a recv brought: the handshake first, then records decrypted into the worker's
// plaintext buffer, which is fed to on_bytes exactly as a plain connection's receive buffer is.
void Worker::on_tls_bytes(uint32_t j, const uint8_t* data, size_t len) {
  Conn& c = conns_[j];
  SSL* const ssl = tls_[j].ssl;
  std::string error;
  tls_pipe_.give(data, len);
  if (c.state == State::securing) {
    const TlsStatus status = tls_handshake(ssl, error);
    // What the handshake wrote goes out whatever the outcome (a failure's alert tells the server why).
    std::string send_error;
    const bool sent = flush_tls(j, send_error);
    if (status == TlsStatus::failed || !sent)
      return tls_failed(j, status == TlsStatus::failed ? error : send_error);
    if (status == TlsStatus::want_input) return;
    tls_established(j);
    if (!live(c.state)) return;
  }
  while (true) {
    size_t got = 0;
    const TlsStatus status = tls_read(ssl, tls_plain_.data(), tls_plain_.size(), got, error);
    if (got > 0) {
      on_bytes(j, tls_plain_.data(), got);
      // Ended meanwhile (end_conn freed its SSL; a reconnect makes a new one only once connected).
      if (!live(c.state) || tls_[j].ssl != ssl) break;
    }
    if (status == TlsStatus::ok) continue;
    // Reading may have written (an alert, an answer to a key update).
    std::string send_error;
    if (!flush_tls(j, send_error)) {
      lost(j, "TLS: " + send_error, false);
      break;
    }
    if (status == TlsStatus::closed) lost(j, "TLS close_notify from the server", true);
    if (status == TlsStatus::failed) lost(j, "TLS: " + error, false);
    break;
  }
  tls_pipe_.give(nullptr, 0);
  tls_pipe_.output().clear();
}

void Worker::tls_established(uint32_t j) {
  const TlsConn& t = tls_[j];
  const uint64_t took = monotonic_ns() - t.started_ns;
  block_.tls_handshakes.add();
  if (SSL_session_reused(t.ssl)) block_.tls_resumed.add();
  block_.tls_handshake_latency[histogram::bucket_of(took)].add();
  block_.tls_handshake_max_ns.raise_to(took);
  send_opening(j);
}

void Worker::tls_failed(uint32_t j, const std::string& why) {
  block_.tls_failed.add();
  block_.first_tls_error.record(why);
  tls_pipe_.give(nullptr, 0);
  tls_pipe_.output().clear();
  fail(j, "TLS handshake: " + why);
}

// Sends what the connection's SSL wrote into the pipe, all of it or nothing useful: a TLS record cut
// short would break the stream, so a partial send fails the connection (see send_bytes).
bool Worker::flush_tls(uint32_t j, std::string& error) {
  std::string& out = tls_pipe_.output();
  if (out.empty()) return true;
  const ssize_t sent = send(conns_[j].fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  const bool whole = sent == static_cast<ssize_t>(out.size());
  if (!whole) error = sent < 0 ? std::string("send: ") + std::strerror(errno) : std::string("short send");
  out.clear();
  return whole;
}

// Frees connection j's SSL. OpenSSL voids the session of an SSL freed without a shutdown (TLS 1.2
// asks that after an error); a drop on purpose (--reconnect-every) or a failed reconnect attempt is no
// error, and the connection will offer the session again: keep_session records the shutdown as done.
void Worker::release_tls(uint32_t j, bool keep_session) {
  if (!tls(j)) return;
  SSL* ssl = tls_[j].ssl;
  if (keep_session) SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl);
  tls_[j].ssl = nullptr;
}

// OpenSSL's new-session callback (only set with --reconnect-every): a TLS 1.3 ticket arrived or a
// TLS 1.2 handshake ended. 1 = the session is kept (its reference is ours).
int Worker::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* worker = static_cast<Worker*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto j = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(SSL_get_app_data(ssl)));
  return worker->keep_session(j, session) ? 1 : 0;
}

bool Worker::keep_session(uint32_t j, SSL_SESSION* session) {
  if (!(conns_[j].flags & kReconnects)) return false;
  Resume& r = resume_[j];
  if (r.tls_session != nullptr) SSL_SESSION_free(r.tls_session);
  r.tls_session = session;
  r.tls_session_url = destination(j) % static_cast<uint32_t>(o_.urls.size());
  return true;
}

void Worker::fail(uint32_t j, const std::string& why) {
  Conn& c = conns_[j];
  if (c.flags & kWasJoined) {
    block_.first_close_error.record("reconnect: " + why);
    if (++resume_[j].attempts < kReconnectAttemptsMax && shared_.phase() < Phase::finishing) {
      // Again, through the drop's path: the socket ends (the recv's last completion, or now when
      // none is armed), then a new connect after the pause. The resume time keeps its origin.
      block_.reconnect_retries.add();
      if (in_handshake(c.state)) --handshakes_in_flight_;
      forget_receive_state(j);
      release_tls(j, true);
      c.state = State::leaving;
      if (c.flags & kRecvArmed)
        shutdown(c.fd, SHUT_RDWR);
      else
        finish_drop(j);
      return;
    }
    // A reconnect that did not get through: the connection is gone, its items from here on missing.
    block_.reconnect_failed.add();
    end_conn(j, State::closed);
    return;
  }
  block_.first_connect_error.record(why);
  block_.failed.add();
  end_conn(j, State::failed);
}

void Worker::mark_joined(uint32_t j) {
  Conn& c = conns_[j];
  --handshakes_in_flight_;
  c.state = State::open;
  if (c.flags & kReconnects) {
    draw_items_left(j);
    resume_[j].attempts = 0;
  }
  if (c.flags & kWasJoined) return;  // a reconnect: the resume ends with its last JOINED
  c.flags |= kWasJoined;
  block_.joined.add();
  block_.last_join_ns.raise_to(now_);
}

// ---- reconnect and resume ----

void Worker::draw_items_left(uint32_t j) {
  Resume& r = resume_[j];
  const uint64_t n = o_.reconnect_every;
  const uint64_t draw = n / 2 + splitmix64((uint64_t{global(j)} << 24) ^ r.cycle) % (n + 1);
  r.items_left = static_cast<uint32_t>(std::clamp<uint64_t>(draw, 1, UINT32_MAX));
}

void Worker::drop(uint32_t j) {
  Conn& c = conns_[j];
  Resume& r = resume_[j];
  block_.reconnects.add();
  r.drop_ns = now_;
  ++r.cycle;
  c.state = State::leaving;
  forget_receive_state(j);
  if (o_.reconnect_abrupt) {
    // The recv is cancelled; its last completion resets the connection (finish_drop).
    if (c.flags & kRecvArmed) {
      io_uring_sqe* s = sqe();
      io_uring_prep_cancel64(s, user_data(Op::recv, j), 0);
      io_uring_sqe_set_data64(s, user_data(Op::cancel, j));
    }
  } else {
    // The close handshake: the server echoes the close and closes TCP; the recv ends on that EOF.
    // Over TLS the close_notify follows, as a client that closes cleanly sends it (and what comes
    // back is not read: a leaving connection's bytes are ignored).
    const uint8_t normal[2] = {0x03, 0xE8};
    std::string error;
    reply(j, ws::Opcode::close, normal, sizeof normal, error);
    if (tls(j)) {
      ERR_clear_error();
      SSL_shutdown(tls_[j].ssl);
      flush_tls(j, error);
    }
  }
  // An abrupt drop keeps the session too: a client whose network failed still holds it.
  release_tls(j, true);
}

void Worker::finish_drop(uint32_t j) {
  Conn& c = conns_[j];
  if (c.fd >= 0) {
    if (o_.reconnect_abrupt) {
      const linger reset{1, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    closes_.push_back(c.fd);
    c.fd = -1;
  }
  if (shared_.phase() >= Phase::finishing) {
    c.state = State::closed;
    return;
  }
  if (o_.reconnect_pause_ms > 0) {
    paused_.emplace_back(monotonic_ns() + static_cast<uint64_t>(o_.reconnect_pause_ms * 1e6), j);
    return;
  }
  start_connect(j, true);
}

void Worker::start_due_reconnects(uint64_t now) {
  while (!paused_.empty() && paused_.front().first <= now) {
    const uint32_t j = paused_.front().second;
    paused_.pop_front();
    start_connect(j, true);
  }
}

// The slot of a room this connection is in (0 own room, 1 also-room), or -1.
int Worker::room_slot(uint32_t j, std::string_view room) const {
  if (has_also_ && room == o_.also_room) return 1;
  if (own_rooms_ == 0 || room.size() <= o_.room_prefix.size() ||
      room.substr(0, o_.room_prefix.size()) != o_.room_prefix)
    return -1;
  uint64_t index = 0;
  for (char ch : room.substr(o_.room_prefix.size())) {
    if (ch < '0' || ch > '9' || index > UINT32_MAX) return -1;
    index = index * 10 + static_cast<uint64_t>(ch - '0');
  }
  return index == global(j) % own_rooms_ ? 0 : -1;
}

void Worker::on_joined(uint32_t j, const Joined& joined) {
  const int slot = room_slot(j, joined.room);
  Resume& r = resume_[j];
  const uint8_t bit = slot < 0 ? 0 : static_cast<uint8_t>(1u << slot);
  if (!(r.pending & bit)) return;  // not a JOINED this connection waits for
  r.pending &= static_cast<uint8_t>(~bit);
  // Before any drop it is the connection's first JOIN of the room (its JOINED may come after the PONG
  // that marked the connection joined: with JetStream the server answers it once the replay is in).
  const bool first_join = !(conns_[j].flags & kWasJoined) || r.cycle == 0;
  if (!first_join) (joined.recovered ? block_.rooms_recovered : block_.rooms_not_recovered).add();
  if (!joined.epoch.empty() && joined.epoch.size() <= kEpochBytes &&
      joined.epoch != std::string_view(r.epoch, r.epoch_len)) {
    // Another ring (the node restarted, or another node): positions from the old one mean nothing
    // here, and this connection's other JOINED markers (sent with the old epoch) give the new ones.
    std::memcpy(r.epoch, joined.epoch.data(), joined.epoch.size());
    r.epoch_len = static_cast<uint8_t>(joined.epoch.size());
    r.has_position = 0;
  }
  // From the marker's position on, every item of the room comes live (after a replay or not).
  if (!(r.has_position & bit) || joined.seq > r.seq[slot]) r.seq[slot] = joined.seq;
  r.has_position |= bit;
  if (!first_join && r.pending == 0) {
    const uint64_t took = now_ - r.drop_ns;
    block_.resumed.add();
    block_.resume_latency[histogram::bucket_of(took)].add();
    block_.resume_max_ns.raise_to(took);
  }
}

void Worker::on_push_position(uint32_t j, const PushTail& tail, uint64_t items) {
  Resume& r = resume_[j];
  if (tail.has_room && tail.has_seq) {
    const int slot = room_slot(j, tail.room);
    if (slot >= 0) {
      const uint8_t bit = static_cast<uint8_t>(1u << slot);
      // Before the room's JOINED on a new connection, its PUSH frames are the replay.
      if ((r.pending & bit) && (conns_[j].flags & kWasJoined)) block_.items_replayed.add(items);
      if (!(r.has_position & bit) || tail.seq > r.seq[slot]) r.seq[slot] = tail.seq;
      r.has_position |= bit;
    }
  }
  r.items_left = items >= r.items_left ? 0 : r.items_left - static_cast<uint32_t>(items);
  if (r.items_left == 0 && conns_[j].state == State::open && phase_ == Phase::publishing) drop(j);
}

void Worker::end_conn(uint32_t j, State terminal) {
  Conn& c = conns_[j];
  if (in_handshake(c.state)) --handshakes_in_flight_;
  c.state = terminal;
  forget_receive_state(j);
  release_tls(j, false);
  if (c.fd < 0) return;
  if (c.flags & kRecvArmed) {
    // The multishot recv holds the socket: shutting it down ends the recv, whose last completion
    // then closes the descriptor.
    shutdown(c.fd, SHUT_RDWR);
  } else {
    closes_.push_back(c.fd);
    c.fd = -1;
  }
}

void Worker::forget_receive_state(uint32_t j) {
  Conn& c = conns_[j];
  free_spill(c.spill);
  if (c.flags & kInMessage) partial_.erase(j);
  if (o_.protocol == Protocol::sse) sse_partial_.erase(j);
  c.flags &= static_cast<uint8_t>(~(kInMessage | kDeflate));
}

void Worker::lost(uint32_t j, const std::string& why, bool eof) {
  Conn& c = conns_[j];
  if (c.state == State::open) {
    block_.unexpected_closes.add();
    (eof ? block_.close_eof : block_.close_error).add();
    block_.first_close_error.record(why);
    end_conn(j, State::closed);
  } else if (c.state == State::securing) {
    tls_failed(j, why);  // the server closed or reset during the TLS handshake
  } else if (live(c.state)) {
    fail(j, why + " (before joined)");
  }
}

void Worker::protocol_error(uint32_t j, const char* why) {
  block_.protocol_errors.add();
  Conn& c = conns_[j];
  if (c.state == State::open) {
    block_.first_close_error.record(std::string("protocol error: ") + why);
    end_conn(j, State::closed);
  } else {
    fail(j, std::string("protocol error: ") + why);
  }
}

// ---- receiving ----

void Worker::on_recv(uint32_t j, int res, uint32_t flags) {
  Conn& c = conns_[j];
  const int fd = c.fd;
  if (!(flags & IORING_CQE_F_MORE)) c.flags &= ~kRecvArmed;
  if (res > 0) {
    const uint16_t id = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    uint8_t* data = buffers_ + size_t{id} * kRecvBufferBytes;
    if (live(c.state)) {
      now_ = monotonic_ns();
      block_.bytes.add(static_cast<uint64_t>(res));
      if (tls(j))
        on_tls_bytes(j, data, static_cast<size_t>(res));
      else
        on_bytes(j, data, static_cast<size_t>(res));
    }
    io_uring_buf_ring_add(buf_ring_, data, kRecvBufferBytes, id, io_uring_buf_ring_mask(kRecvBufferCount),
                          static_cast<int>(buffers_pending_++));
  } else if (res == 0) {
    lost(j, "connection closed by the server without a close frame", true);
  } else if (res != -ENOBUFS && res != -ECANCELED) {
    lost(j, std::string("recv: ") + std::strerror(-res), false);
  }
  if (c.flags & kRecvArmed) return;
  // A failed reconnect retried at once (fail) has already given this socket up and may have a new one.
  if (c.fd != fd) return;
  if (c.state == State::leaving) {
    // A clean drop waits for the server's close (EOF or an error); a recv that only ran out of
    // buffers is armed again.
    if (!o_.reconnect_abrupt && (res > 0 || res == -ENOBUFS))
      arm_recv(j);
    else
      finish_drop(j);
    return;
  }
  if (!live(c.state)) {
    if (c.fd >= 0) {
      closes_.push_back(c.fd);
      c.fd = -1;
    }
    return;
  }
  // Multishot recv ends on -ENOBUFS (the buffers recycled above are published before the next
  // submit) and on cancellation; a stalled connection stays unarmed until it resumes.
  if (!(c.flags & kStalled)) arm_recv(j);
}

void Worker::on_bytes(uint32_t j, uint8_t* data, size_t len) {
  Conn& c = conns_[j];
  if (c.state == State::upgrading) {
    const size_t used = consume_upgrade(j, data, len);
    if (!live(c.state)) return;
    data += used;
    len -= used;
  }
  if (len == 0 || c.state == State::upgrading) return;
  if (o_.protocol == Protocol::sse) {
    if (!(c.flags & kSseChunked)) {
      on_sse_bytes(j, {reinterpret_cast<const char*>(data), len});
      return;
    }
    const FeedStatus status = feed_chunks(c.spill, data, len, kFrameBytesMax, [&](std::string_view body) {
      on_sse_bytes(j, body);
      return live(c.state);
    });
    if (status == FeedStatus::too_large) protocol_error(j, "malformed chunk, or one larger than 64 MiB");
    return;
  }
  const FeedStatus status =
      feed_frames(c.spill, data, len, kFrameBytesMax, [&](const FrameHead& head, uint8_t* payload) {
        handle_frame(j, head, payload);
        return live(c.state);
      });
  if (status == FeedStatus::too_large) protocol_error(j, "frame larger than 64 MiB");
}

size_t Worker::consume_upgrade(uint32_t j, uint8_t* data, size_t len) {
  Conn& c = conns_[j];
  std::string_view head;
  size_t used = 0;
  if (c.spill == nullptr) {
    const size_t end = http_head_end({reinterpret_cast<const char*>(data), len});
    if (end == 0) {
      if (len > kUpgradeHeadBytesMax) {
        fail(j, "upgrade answer head too large");
        return len;
      }
      auto* p = static_cast<Spill*>(std::malloc(sizeof(Spill) + kUpgradeHeadBytesMax));
      if (p == nullptr) std::abort();
      p->len = static_cast<uint32_t>(len);
      p->need = 0;
      p->cap = kUpgradeHeadBytesMax;
      std::memcpy(p->data, data, len);
      c.spill = p;
      return len;
    }
    head = {reinterpret_cast<const char*>(data), end};
    used = end;
  } else {
    Spill* p = c.spill;
    const size_t old = p->len;
    const size_t take = std::min(len, static_cast<size_t>(p->cap - p->len));
    std::memcpy(p->data + p->len, data, take);
    p->len += static_cast<uint32_t>(take);
    const size_t end = http_head_end({reinterpret_cast<const char*>(p->data), p->len});
    if (end == 0) {
      if (p->len == p->cap) fail(j, "upgrade answer head too large");
      return len;
    }
    head = {reinterpret_cast<const char*>(p->data), end};
    used = end - old;
  }
  bool chunked = false;
  const bool ok =
      o_.protocol == Protocol::sse ? sse_accepted(head, chunked) : upgrade_accepted(head, accept_value_);
  if (!ok) {
    const std::string_view status_line = head.substr(0, std::min(head.find("\r\n"), size_t{100}));
    fail(j, "upgrade refused: " + std::string(status_line));
    return len;
  }
  bool deflate = false;
  std::string why;
  if (!check_extension_answer(head, o_.deflate, deflate, why)) {
    fail(j, "upgrade: " + why);
    return len;
  }
  free_spill(c.spill);
  if (deflate) {
    c.flags |= kDeflate;
    // Counted once per connection: a reconnect negotiates again but is the same connection here.
    if (!(c.flags & kWasJoined)) block_.deflate_connections.add();
  }
  // sse: joined at the 200 (ringcast joins the rooms in the step that sends the head, so a push
  // published once the head has arrived reaches the connection).
  if (o_.protocol == Protocol::sse && chunked) c.flags |= kSseChunked;
  if (o_.protocol == Protocol::gopush) {
    c.state = State::joining;  // joined once the PONG to the PING sent after the JOINs arrives
  } else {
    mark_joined(j);
  }
  return used;
}

// Bytes of an SSE stream (a chunk's body, or what a read brought when the stream is not chunked):
// split into events, an incomplete one kept aside (ringcast sends whole events per chunk, so only a
// server that does not, nchan, makes one wait).
void Worker::on_sse_bytes(uint32_t j, std::string_view bytes) {
  if (bytes.empty()) return;
  auto it = sse_partial_.find(j);
  std::string scratch;
  std::string& partial = it != sse_partial_.end() ? it->second : scratch;
  split_sse_events(bytes, partial, [&](std::string_view body) {
    on_sse_event(j, body);
    return live(conns_[j].state);
  });
  if (!live(conns_[j].state)) return;  // forget_receive_state let the partial go
  if (it == sse_partial_.end() && !scratch.empty()) sse_partial_[j] = std::move(scratch);
  if (it != sse_partial_.end() && it->second.empty()) sse_partial_.erase(it);
}

// One event: a push (ringcast: a PUSH's data object), a message (nchan: the published body, one
// item); anything else (joined, close) is not counted.
void Worker::on_sse_event(uint32_t j, std::string_view body) {
  SseEvent event;
  if (!parse_sse_event(body, event)) return;
  const bool push = event.event == "push";
  if (!push && event.event != "message") return;
  block_.frames.add();
  block_.payload_wire_bytes.add(event.data.size());
  block_.payload_inflated_bytes.add(event.data.size());
  const uint64_t items = push ? on_message(j, event.data) : on_raw_item(j, event.data);
  if (items) block_.item_message_wire_bytes.add(body.size());
}

void Worker::handle_frame(uint32_t j, const FrameHead& head, uint8_t* payload) {
  block_.frames.add();
  if (head.masked) return protocol_error(j, "masked frame from the server");
  if (head.rsv & (kRsv2 | kRsv3)) return protocol_error(j, "RSV2 or RSV3 set (no extension defines them)");
  const size_t len = static_cast<size_t>(head.payload_bytes);
  if (head.opcode < 0x8) return on_data_frame(j, head, payload);
  if (head.rsv & kRsv1) return protocol_error(j, "RSV1 set on a control frame");
  if (!head.fin) return protocol_error(j, "fragmented control frame");
  switch (head.opcode) {
    case 0x8:
      on_close_frame(j, payload, len);
      return;
    case 0x9: {
      if (len > ws::kMaxControlPayloadBytes) return protocol_error(j, "ping longer than 125 bytes");
      // A plain connection whose pong could not go out was always left to the server's timeout; a
      // TLS stream with a record cut short is broken at once.
      std::string error;
      if (!reply(j, ws::Opcode::pong, payload, len, error) && tls(j)) lost(j, "TLS: pong: " + error, false);
      return;
    }
    case 0xA:
      return;
    default:
      return protocol_error(j, "unknown opcode");
  }
}

// Text, binary and continuation frames: a whole message goes on at once, read in place; the frames
// of a fragmented one are joined first.
void Worker::on_data_frame(uint32_t j, const FrameHead& head, uint8_t* payload) {
  Conn& c = conns_[j];
  const size_t len = static_cast<size_t>(head.payload_bytes);
  const bool rsv1 = head.rsv & kRsv1;
  if (head.opcode == 0x1 || head.opcode == 0x2) {
    if (c.flags & kInMessage)
      return protocol_error(j, "a new message before the last frame of a fragmented one");
    if (rsv1 && !(c.flags & kDeflate))
      return protocol_error(j, "RSV1 set on a connection that did not negotiate permessage-deflate");
    if (head.fin) return deliver_message(j, payload, len, rsv1, head.total_bytes());
    PartialMessage& m = partial_[j];
    m.payload.assign(payload, payload + len);
    m.wire_bytes = head.total_bytes();
    m.compressed = rsv1;
    c.flags |= kInMessage;
    return;
  }
  if (head.opcode != 0x0) return protocol_error(j, "unknown opcode");
  if (!(c.flags & kInMessage)) return protocol_error(j, "continuation frame outside a fragmented message");
  if (rsv1) return protocol_error(j, "RSV1 set on a continuation frame");
  PartialMessage& m = partial_[j];
  if (m.payload.size() + len > kMessageBytesMax)
    return protocol_error(j, "fragmented message larger than 64 MiB");
  m.payload.insert(m.payload.end(), payload, payload + len);
  m.wire_bytes += head.total_bytes();
  if (!head.fin) return;
  PartialMessage whole = std::move(m);
  partial_.erase(j);
  c.flags &= static_cast<uint8_t>(~kInMessage);
  deliver_message(j, whole.payload.data(), whole.payload.size(), whole.compressed, whole.wire_bytes);
}

void Worker::deliver_message(uint32_t j, const uint8_t* payload, size_t len, bool compressed,
                             uint64_t wire_bytes) {
  std::string_view message(reinterpret_cast<const char*>(payload), len);
  if (compressed) {
    block_.compressed_messages.add();
    switch (inflater_.inflate_message(payload, len, message)) {
      case InflateStatus::ok:
        break;
      case InflateStatus::corrupt:
        return protocol_error(j, "corrupt permessage-deflate data");
      case InflateStatus::too_large:
        return protocol_error(j, "compressed message inflates to more than 64 MiB");
    }
  }
  block_.payload_wire_bytes.add(len);
  block_.payload_inflated_bytes.add(message.size());
  const uint64_t items = on_message(j, message);
  if (items) block_.item_message_wire_bytes.add(wire_bytes);
}

// Returns the load items the message carried.
uint64_t Worker::on_message(uint32_t j, std::string_view message) {
  Conn& c = conns_[j];
  if (o_.protocol == Protocol::raw) return on_raw_item(j, message);
  if (c.state == State::joining && message_type_is(message, "PONG")) {
    mark_joined(j);
    return 0;
  }
  if (c.flags & kReconnects) {
    Joined joined;
    if (parse_joined(message, joined)) {
      on_joined(j, joined);
      return 0;
    }
  }
  const ScanCounts counts = scan_push_message(message, [&](const Item& item) { on_item(j, item); });
  if (counts.foreign) block_.foreign_items.add(counts.foreign);
  if (counts.malformed) block_.foreign_items.add();
  if ((c.flags & kReconnects) && counts.after != nullptr) {
    PushTail tail;
    parse_push_tail(counts.after, message.data() + message.size(), tail);
    on_push_position(j, tail, counts.items);
  }
  return counts.items;
}

// A raw peer sends every published item as its own message.
uint64_t Worker::on_raw_item(uint32_t j, std::string_view message) {
  const char* p = detail::skip_ws(message.data(), message.data() + message.size());
  Item item;
  const char* after = parse_item(p, message.data() + message.size(), item);
  if (after != nullptr &&
      detail::skip_ws(after, message.data() + message.size()) == message.data() + message.size()) {
    on_item(j, item);
    return 1;
  }
  block_.foreign_items.add();
  return 0;
}

void Worker::on_item(uint32_t j, const Item& item) {
  Conn& c = conns_[j];
  uint32_t slot;
  if (has_also_ && item.room_index == own_rooms_) {
    slot = 1;
  } else if (own_rooms_ > 0 && item.room_index == global(j) % own_rooms_) {
    slot = 0;
  } else {
    block_.foreign_items.add();
    return;
  }
  if (item.seq == 0 || item.seq > UINT32_MAX) {
    block_.foreign_items.add();
    return;
  }
  const uint32_t seq = static_cast<uint32_t>(item.seq);
  uint32_t& next = c.next_seq[slot];
  if (seq == next) {
    ++next;
  } else if (seq > next) {
    block_.gap_missing.add(seq - next);
    block_.out_of_order.add();
    next = seq + 1;
  } else {
    block_.duplicates.add();
    block_.out_of_order.add();
  }
  block_.received.add();
  const uint64_t latency_ns = now_ > item.t_ns ? now_ - item.t_ns : 0;
  // A connection designated to stall (--stall-after) reads its backlog late on purpose: timing it
  // would hide what the point of stalling is, the reading connections' latency.
  if (!(c.flags & kStallDesignated)) {
    block_.latency[histogram::bucket_of(latency_ns)].add();
    block_.max_latency_ns.raise_to(latency_ns);
  }
  if (o_.single_broadcast && seq <= WorkerBlock::kTrackedBroadcasts) {
    block_.broadcast_max_ns[seq - 1].raise_to(latency_ns);
    block_.broadcast_reached[seq - 1].add();
  }
  if (block_.first_receive_ns.get() == 0) block_.first_receive_ns.set(now_);
  block_.last_receive_ns.raise_to(now_);
  if ((c.flags & (kStallDesignated | kStalled)) == kStallDesignated && !resumed_ &&
      uint64_t{c.next_seq[0]} + c.next_seq[1] - 2 >= o_.stall_after)
    stall(j);
}

void Worker::on_close_frame(uint32_t j, const uint8_t* payload, size_t len) {
  Conn& c = conns_[j];
  const uint32_t code = len >= 2 ? (uint32_t{payload[0]} << 8) | payload[1] : ws::close_code::no_status;
  // Echo the code, as RFC 6455 asks, then drop the connection without waiting.
  std::string send_error;  // the connection ends below either way
  reply(j, ws::Opcode::close, payload, std::min(len, size_t{2}), send_error);
  const std::string reason(reinterpret_cast<const char*>(payload) + std::min(len, size_t{2}),
                           len > 2 ? len - 2 : 0);
  const std::string why = "close " + std::to_string(code) + (reason.empty() ? "" : " (" + reason + ")");
  if (c.state == State::open) {
    block_.unexpected_closes.add();
    if (code >= kCloseCodeFirst && code < kCloseCodeFirst + kCloseCodeSlots)
      block_.close_codes[code - kCloseCodeFirst].add();
    else
      block_.close_code_other.add();
    block_.first_close_error.record(why);
    end_conn(j, State::closed);
  } else {
    fail(j, why + " before joined");
  }
}

// A pong or a close; false with error when it could not be sent.
bool Worker::reply(uint32_t j, ws::Opcode op, const uint8_t* payload, size_t len, std::string& error) {
  uint8_t frame[ws::kMaxControlPayloadBytes + 14];
  const size_t n = ws::encode_client_frame(frame, op, {payload, len}, 0);
  // Rare and tiny: a direct send is simpler than keeping the bytes alive for an SQE.
  return send_bytes(j, frame, n, error);
}

// ---- periodic work ----

void Worker::heartbeat(uint64_t now) {
  if (o_.protocol != Protocol::gopush || o_.heartbeat_s <= 0 || conns_.empty()) {
    last_tick_ns_ = now;
    return;
  }
  // PINGs are spread evenly: each tick sends the share of the connections due in it, so every
  // connection gets one per period without a burst.
  const double elapsed_ns = static_cast<double>(now - last_tick_ns_);
  last_tick_ns_ = now;
  heartbeat_position_ += static_cast<double>(conns_.size()) * elapsed_ns / (o_.heartbeat_s * 1e9);
  while (static_cast<double>(heartbeat_next_) + 1 <= heartbeat_position_) {
    const uint32_t j = static_cast<uint32_t>(heartbeat_next_++ % conns_.size());
    Conn& c = conns_[j];
    if (c.state != State::open || (c.flags & (kSendBusy | kStalled))) continue;
    if (tls(j)) {
      // Encrypted for this connection alone: sent at once, like the opening (see send_bytes).
      std::string error;
      if (!send_bytes(j, ping_frame_.data(), ping_frame_.size(), error)) lost(j, "PING: " + error, false);
      continue;
    }
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, c.fd, ping_frame_.data(), ping_frame_.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, user_data(Op::send, j));
    c.flags |= kSendBusy;
  }
}

void Worker::stall(uint32_t j) {
  Conn& c = conns_[j];
  c.flags |= kStalled;
  block_.stalled.add();
  stalled_.push_back(j);
  if (c.flags & kRecvArmed) {
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, user_data(Op::recv, j), 0);
    io_uring_sqe_set_data64(s, user_data(Op::cancel, j));
  }
}

void Worker::resume_stalled() {
  resumed_ = true;
  for (uint32_t j : stalled_) {
    Conn& c = conns_[j];
    c.flags &= ~kStalled;
    if (live(c.state) && !(c.flags & kRecvArmed)) arm_recv(j);
  }
  stalled_.clear();
}

void Worker::close_stragglers() {
  stragglers_closed_ = true;
  for (uint32_t j = 0; j < conns_.size(); ++j) {
    Conn& c = conns_[j];
    if (c.state == State::idle) {
      block_.first_connect_error.record("not started within --connect-timeout");
      block_.failed.add();
      c.state = State::failed;
    } else if (in_handshake(c.state)) {
      fail(j, "not joined within --connect-timeout");
    }
  }
  next_connect_ = static_cast<uint32_t>(conns_.size());
  block_.rss_connected_bytes.set(rss_bytes());
}

void Worker::report_lag(uint64_t now) {
  uint64_t lagging = 0;
  for (uint32_t j = 0; j < conns_.size(); ++j) {
    const Conn& c = conns_[j];
    if (c.state != State::open && !reconnecting(j)) continue;
    const bool behind_own =
        own_rooms_ > 0 && c.next_seq[0] - 1 < shared_.room(global(j) % own_rooms_).last_accepted_seq.get();
    const bool behind_also =
        has_also_ && c.next_seq[1] - 1 < shared_.room(own_rooms_).last_accepted_seq.get();
    if (behind_own || behind_also) ++lagging;
  }
  block_.lagging.set(lagging);
  block_.lagging_checked_ns.set(now);
}

void Worker::finish() {
  uint64_t expected = 0, tail = 0, failed_gaps = 0;
  auto account = [&](uint32_t room, uint32_t next) {
    const RoomBlock& r = shared_.room(room);
    const uint64_t got = next - 1;
    const uint64_t last = r.last_sent_seq.get();
    if (last > got) tail += last - got;
    expected += r.accepted_items.get();
    failed_gaps += r.failed_items.get();
  };
  for (uint32_t j = 0; j < conns_.size(); ++j) {
    const Conn& c = conns_[j];
    if (!(c.flags & kWasJoined)) continue;
    if (own_rooms_ > 0) account(global(j) % own_rooms_, c.next_seq[0]);
    if (has_also_) account(own_rooms_, c.next_seq[1]);
  }
  block_.expected.set(expected);
  block_.tail_missing.set(tail);
  block_.failed_publish_gaps.set(failed_gaps);
  if (block_.rss_connected_bytes.get() == 0) block_.rss_connected_bytes.set(rss_bytes());
  block_.final_done.set(1);
}

void Worker::submit_and_wait(uint64_t timeout_ns) {
  if (buffers_pending_) {
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buffers_pending_));
    buffers_pending_ = 0;
  }
  __kernel_timespec ts{};
  ts.tv_sec = static_cast<long long>(timeout_ns / 1000000000);
  ts.tv_nsec = static_cast<long long>(timeout_ns % 1000000000);
  io_uring_cqe* cqe = nullptr;
  // -ETIME and -EINTR are normal outcomes; completions are read by process_completions().
  io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  // Every SQE queued so far has been handed to the kernel, which resolved its descriptor: the
  // descriptors given up meanwhile can be closed (and reused) safely now.
  for (int fd : closes_) close(fd);
  closes_.clear();
}

void Worker::process_completions() {
  io_uring_cqe* cqe;
  unsigned head;
  unsigned seen = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    const uint32_t j = index_of(cqe->user_data);
    switch (op_of(cqe->user_data)) {
      case Op::connect:
        on_connect(j, cqe->res);
        break;
      case Op::recv:
        on_recv(j, cqe->res, cqe->flags);
        break;
      case Op::send:
        conns_[j].flags &= ~kSendBusy;
        if (cqe->res >= 0 && static_cast<size_t>(cqe->res) < ping_frame_.size() && live(conns_[j].state))
          protocol_error(j, "short PING send");
        break;
      case Op::cancel:
        break;
    }
  }
  io_uring_cq_advance(&ring_, seen);
}

int Worker::run() {
  std::string error;
  if (!init(error)) {
    std::fprintf(stderr, "ringcast-load: worker %u: %s\n", index_, error.c_str());
    return 1;
  }
  start_ns_ = shared_.control().start_ns.get();
  last_tick_ns_ = monotonic_ns();
  while (true) {
    now_ = monotonic_ns();
    const Phase phase = shared_.phase();
    phase_ = phase;
    if (phase >= Phase::finishing) break;
    uint64_t wait_ns = kIdleWaitNs;
    if (phase == Phase::connecting) {
      start_due_connects(now_);
      if (next_connect_ < conns_.size()) {
        const uint64_t due = next_connect_due_ns();
        wait_ns = due > now_ ? std::clamp(due - now_, kConnectWaitMinNs, kIdleWaitNs) : kConnectWaitMinNs;
      }
    } else if (!stragglers_closed_) {
      close_stragglers();
    }
    if (phase >= Phase::draining && !resumed_) resume_stalled();
    if (phase == Phase::draining && now_ - last_lag_check_ns_ >= kLagCheckPeriodNs) {
      last_lag_check_ns_ = now_;
      report_lag(now_);
    }
    if (!paused_.empty()) {
      start_due_reconnects(now_);
      if (!paused_.empty()) {
        const uint64_t due = paused_.front().first;
        wait_ns = std::min(wait_ns, due > now_ ? std::max(due - now_, kConnectWaitMinNs) : kConnectWaitMinNs);
      }
    }
    heartbeat(now_);
    submit_and_wait(wait_ns);
    process_completions();
  }
  finish();
  return 0;
}

}  // namespace

int run_worker(const Options& options, const Shared& shared, uint32_t worker_index) {
  Worker worker(options, shared, worker_index);
  return worker.run();
}

}  // namespace ringcast::load
