// The shard's event loop and its connections' state machines: accept, upgrade handshake, WebSocket
// frames and go-push commands, push API requests, fan-out from the ring, sends, timers, closes.
#include "engine/shard/shard.h"

#include <sys/socket.h>

#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/codec/command.h"
#include "engine/codec/handshake.h"
#include "engine/broadcast/history.h"
#include "engine/base/log.h"
#include "engine/broadcast/users.h"

namespace ringcast {
namespace {

constexpr int64_t kTickNs = 100 * 1000 * 1000;  // timer wheel resolution: 100 ms
constexpr uint32_t kLingerMs = 1000;             // after an HTTP error: wait this long for the peer to close
constexpr int64_t kAcceptRetryNs = 100 * 1000 * 1000;
constexpr int64_t kPressureCheckNs = 100 * 1000 * 1000;
// After SIGTERM an idle keep-alive API connection, or one accepted while stopping, is kept this long,
// so that a request sent just before the stop is still answered (its result, or 503 "shutting down")
// instead of lost.
constexpr uint32_t kStopGraceMs = 300;
// Limits hit (slow consumers cut, 503s, 429s, accept back-off) are logged as one summary line per this
// interval per shard, with counts: an overload must not turn into a line per event.
constexpr int64_t kLimitLogNs = 10LL * 1000 * 1000 * 1000;
// --demo: a client-port HTTP connection whose unsent answers pass this stops being read (it pipelines
// requests without reading the answers).
constexpr uint32_t kDemoOutBytesMax = 1 << 20;

// Adapts the frame parser's callbacks to the shard (a template argument, so no virtual calls).
struct WsSink {
  Shard* shard;
  uint32_t id;
  void on_message(ws::Opcode op, std::span<uint8_t> payload) { shard->on_ws_message(id, op, payload); }
  void on_control(ws::Opcode op, std::span<uint8_t> payload) { shard->on_ws_control(id, op, payload); }
  void on_error(uint16_t code, std::string_view reason) { shard->on_ws_error(id, code, reason); }
};

struct DeliverToShard {
  Shard* shard;
  void operator()(uint32_t id, FrameId frame) { shard->deliver(id, frame); }
  uint32_t resolve_conn(std::string_view conn_id) const { return shard->resolve_conn(conn_id); }
};

std::string api_error(int status, std::string_view reason, bool keep_alive) {
  std::string r;
  http::append_error(r, status, reason, keep_alive);
  return r;
}

FanoutLimits fanout_limits(const Config& c) {
  FanoutLimits l;
  l.merge_window_ns = static_cast<int64_t>(c.merge_window_ms) * 1000000;
  l.batch_items_max = c.merge_batch_items_max;
  l.frame_bytes_max = c.merge_frame_bytes_max;
  return l;
}

}  // namespace

Shard::Shard(const ShardSetup& setup)
    : setup_(setup),
      config_(*setup.config),
      stats_(setup.shared->stats[setup.index]),
      // Clients and API connections have separate budgets (see admit) in one slab.
      slab_(setup.config->conns_per_shard_max + setup.config->api_conns_per_shard_max),
      fanout_(setup.ring, frames_, rooms_, fanout_limits(*setup.config), &setup.shared->stats[setup.index]),
      publisher_(setup.settings->publish) {
  room_charset_ = setup.settings->publish.room_charset;
  char epoch[17];
  std::snprintf(epoch, sizeof(epoch), "%016llx", static_cast<unsigned long long>(setup.ring.epoch()));
  epoch_text_ = epoch;
  allowed_origins_ = setup.settings->allowed_origins;
  api_.ring = setup.ring;
  publisher_.set_claim_record(&setup.ring.control()->claims[setup.index]);
  api_.publisher = &publisher_;
  api_.stats = &stats_;
  api_.all_stats = setup.shared->stats;
  api_.shard_count = setup.shard_count;
  api_.config = &config_;
  api_.node = NodeView{&setup_.room_table, &setup.shared->cluster};
  publisher_.set_cluster_gate(&setup.shared->cluster);
  room_table_epoch_ = setup_.room_table.resync_epoch();
  demo_.ring = setup.ring;
  demo_.publisher = &publisher_;
  demo_.stats = &stats_;
  demo_.all_stats = setup.shared->stats;
  demo_.shard_count = setup.shard_count;
  demo_.config = &config_;
  demo_.api_port = setup.api_port;
  demo_.parser = &command_parser_;
  rooms_.set_on_room_freed(
      [](void* self, RoomId id) {
        auto* shard = static_cast<Shard*>(self);
        shard->fanout_.drop_batch(id);
        if (is_user_room(shard->rooms_.room(id).name)) return;  // node-local, not a room (users.h)
        shard->stats_.add(Counter::rooms, -1);
        shard->setup_.room_table.remove(shard->setup_.index, shard->rooms_.room(id).name);
      },
      this);
}

Shard::~Shard() {
  for (uint32_t id = 0; id < slab_.capacity(); ++id) {
    if (!slab_.constructed(id)) continue;
    Conn& c = slab_[id];
    if (c.phase == Phase::free) continue;
    delete c.inbuf;
    if (c.fd >= 0) io_.close(c.fd);
  }
  for (msghdr* msg : send_msgs_) std::free(msg);
}

void Shard::update_clock() {
  now_ns_ = io_.now_ns();
  now_tick_ = static_cast<uint64_t>(now_ns_ / kTickNs);
}

bool Shard::setup(std::string& error) {
  // Submission queue: a fan-out flush may queue one send per member; the queue is flushed to the
  // kernel whenever it fills, so its size only sets the batch size. Completion queue: deep, because
  // multishot recv and accept post many completions per submission.
  if (!io_.init(4096, 65536, error)) return false;
  if (!io_.setup_buffers(config_.recv_buffer_count, config_.recv_buffer_bytes, error)) return false;
  update_clock();
  timers_ = TimerWheel(now_tick_);
  fanout_.attach(setup_.index, setup_.wake_fd);
  // A restarted shard frees its presence box (its previous life may have died answering) and moves to
  // a new incarnation, so the connection ids it hands out differ from its predecessor's.
  if (setup_.presence.valid()) incarnation_ = setup_.presence.reset(setup_.index);
  std::string pong = std::string(pong_command_json());
  pong_bytes_.resize(ws::server_header_bytes(pong.size()) + pong.size());
  size_t at = ws::encode_server_header(reinterpret_cast<uint8_t*>(pong_bytes_.data()), ws::Opcode::text, pong.size());
  std::memcpy(pong_bytes_.data() + at, pong.data(), pong.size());
  pong_frame_ = frames_.permanent_frame(reinterpret_cast<const uint8_t*>(pong_bytes_.data()),
                                        static_cast<uint32_t>(pong_bytes_.size()));
  io_.read(setup_.wake_fd, &wake_value_, sizeof(wake_value_), user_data(Op::wake, 0, 0));
  arm_accepts();
  // A restarted worker's shard finds its stats block as the dead one left it: count from there.
  log_limits(false);
  return true;
}

void Shard::arm_accepts() {
  if (setup_.client_listen_fd >= 0 && !accept_armed_client_) {
    io_.accept_multishot(setup_.client_listen_fd, user_data(Op::accept_client, 0, 0));
    accept_armed_client_ = true;
  }
  if (setup_.api_listen_fd >= 0 && !accept_armed_api_) {
    io_.accept_multishot(setup_.api_listen_fd, user_data(Op::accept_api, 0, 0));
    accept_armed_api_ = true;
  }
}


// The loop's phases, in this order:
//  1. reap completions: accepts, received bytes (handshakes, commands, API requests, which publish
//     into the ring), finished sends;
//  2. drain the ring and fan out, so that a publish made in phase 1 reaches this shard's members in
//     the same turn, and every room's entries drained together leave as one frame;
//  3. cut the slow consumers found by the fan-out (deferred so membership never changes mid-fan-out);
//  4. timers: merge windows, then connection deadlines;
//  5. flush: one send per connection with something queued and no send in flight, carrying all its
//     queued frames (up to the per-turn cap) in one iovec;
//  6. publish the oldest ring position still referenced, then submit and sleep until a completion,
//     a wake-up from a producer, or the next deadline.
// One call of step() is one turn; the simulator (tests/sim) drives several shards' turns on one thread.
void Shard::run() {
  while (step()) {
  }
}

bool Shard::step() {
  DeliverToShard deliver{this};
  update_clock();
  io_.drain_completions([this](const Completion& c) { on_completion(c); });

  if (!stopping_ && (setup_.shared->stopping.load(std::memory_order_relaxed) ||
                     setup_.shared->shard_stop[setup_.index].load(std::memory_order_relaxed)))
    begin_shutdown();
  if (setup_.room_table.resync_epoch() != room_table_epoch_) resync_room_table();
  // Presence: answer a query another shard left in our box; see whether ours are answered.
  if (setup_.presence.valid()) setup_.presence.serve(setup_.index, rooms_, setup_.ring);
  if (!parked_.empty()) poll_presence();

  fanout_.drain(now_ns_, deliver);
  process_cuts();
  fanout_.expire_windows(now_ns_, deliver);
  if (stopping_) fanout_.flush_all(deliver);
  process_cuts();
  nano_.end_fanout();
  timers_.advance(now_tick_, [this](uint32_t id) { on_timer(id); });
  if (!stopping_ && accept_retry_ns_ && now_ns_ >= accept_retry_ns_) {
    accept_retry_ns_ = 0;
    arm_accepts();
  }
  if (now_ns_ - pressure_checked_ns_ > kPressureCheckNs) {
    relieve_ring_pressure();
    log_limits();
  }
  flush_sends();
  fanout_.publish_held();

  if (stopping_) {
    if (slab_.live() == 0 && !accept_armed_client_ && !accept_armed_api_) {
      fanout_.detach();
      return false;
    }
    if (now_ns_ >= drain_deadline_ns_) {
      // The drain time is up: whoever has not finished the close handshake is cut.
      for (uint32_t id = 0; id < slab_.capacity(); ++id)
        if (slab_.constructed(id) && slab_[id].phase != Phase::free) terminate(slab_[id], id);
      drain_deadline_ns_ = INT64_MAX;
    }
  }

  int64_t wake_at = (static_cast<int64_t>(now_tick_) + 1) * kTickNs;
  wake_at = std::min(wake_at, fanout_.next_deadline_ns());
  if (accept_retry_ns_) wake_at = std::min(wake_at, accept_retry_ns_);
  if (stopping_) wake_at = std::min(wake_at, drain_deadline_ns_);
  // A parked presence query: the shards answering wake us, but a box another asker holds is retried
  // (and the timeout checked) on a short period.
  if (!parked_.empty()) wake_at = std::min(wake_at, now_ns_ + 2'000'000);
  const bool busy = fanout_.backlog() || !flush_list_.empty();
  if (!busy && fanout_.prepare_to_sleep()) {
    io_.submit(true, std::max<int64_t>(wake_at - now_ns_, 1000));
    fanout_.woke_up();
  } else {
    io_.submit(false, 0);
  }
  return true;
}

void Shard::on_completion(const Completion& cqe) {
  const Op op = static_cast<Op>(cqe.user_data >> 56);
  const uint32_t generation = static_cast<uint32_t>(cqe.user_data >> 32) & 0xFFFFFF;
  const uint32_t id = static_cast<uint32_t>(cqe.user_data);
  switch (op) {
    case Op::accept_client:
      on_accept(ConnKind::client, cqe);
      return;
    case Op::accept_api:
      on_accept(ConnKind::api, cqe);
      return;
    case Op::wake:
      if (!setup_.shared->stopping.load(std::memory_order_relaxed) || cqe.res != -ECANCELED)
        io_.read(setup_.wake_fd, &wake_value_, sizeof(wake_value_), user_data(Op::wake, 0, 0));
      return;
    case Op::recv:
    case Op::send: {
      Conn& c = slab_[id];
      // Every operation holds its connection's slot until it completes, so a completion always finds
      // the generation it was issued under.
      RC_ASSERT((c.generation & 0xFFFFFF) == generation && c.phase != Phase::free);
      if (op == Op::recv)
        on_recv(id, cqe);
      else
        on_send(id, cqe);
      return;
    }
  }
  RC_ASSERT(false && "unknown operation in completion");
}

void Shard::on_accept(ConnKind kind, const Completion& cqe) {
  bool& armed = kind == ConnKind::client ? accept_armed_client_ : accept_armed_api_;
  if (!cqe.more()) armed = false;
  if (cqe.res < 0) {
    if (stopping_) return;
    if (cqe.res == -EMFILE || cqe.res == -ENFILE || cqe.res == -ENOBUFS || cqe.res == -ENOMEM) {
      // Out of descriptors or memory: back off instead of spinning; one line per kLimitLogNs at most.
      ++accept_backoffs_;
      if (accept_error_logged_ns_ == 0 || now_ns_ - accept_error_logged_ns_ >= kLimitLogNs) {
        LOG_WARN("shard %u: accept failed: %s; pausing accepts for %lld ms (%u back-offs since the last "
                 "line; raise the open-files limit, see tuning/)",
                 setup_.index, std::strerror(-cqe.res), static_cast<long long>(kAcceptRetryNs / 1000000),
                 accept_backoffs_);
        accept_error_logged_ns_ = now_ns_;
        accept_backoffs_ = 0;
      }
      accept_retry_ns_ = now_ns_ + kAcceptRetryNs;
      return;
    }
    if (!armed) arm_accepts();
    return;
  }
  if (!armed && !stopping_) arm_accepts();
  // Accepted while stopping too: the peer may have sent its request already, and is answered.
  admit(kind, cqe.res);
}

void Shard::admit(ConnKind kind, int fd) {
  stats_.add(Counter::conns_accepted);
  const bool client = kind == ConnKind::client;
  uint32_t& live = client ? live_clients_ : live_api_;
  const uint32_t id = live < (client ? config_.conns_per_shard_max : config_.api_conns_per_shard_max)
                          ? slab_.allocate()
                          : kNil;
  if (id == kNil) {
    // The shard is full: a clear answer in one non-blocking write, then close.
    static const std::string busy = [] {
      std::string r;
      http::append_error(r, 503, "server full: too many connections on this shard", false);
      return r;
    }();
    static const std::string api_busy = [] {
      std::string r;
      http::append_error(r, 503, "too many push API connections on this shard (api_conns_per_shard_max)", false);
      return r;
    }();
    const std::string& answer = client ? busy : api_busy;
    io_.send_now(fd, answer.data(), answer.size());
    io_.close(fd);
    stats_.add(client ? Counter::conns_refused : Counter::api_conns_refused);
    return;
  }
  ++live;
  if (slab_.capacity() > 0) {
    rooms_.reserve_conns(slab_.capacity());
    timers_.reserve(slab_.capacity());
  }
  io_.set_nodelay(fd);
  Conn& c = slab_[id];
  c.fd = fd;
  c.kind = kind;
  c.phase = kind == ConnKind::client ? Phase::handshake : Phase::open;
  c.after_flush = AfterFlush::nothing;
  c.recv_armed = true;
  c.last_rx_tick = static_cast<uint32_t>(now_tick_);
  io_.recv_multishot(fd, user_data(Op::recv, c.generation, id));
  arm_timer_ms(id, now_tick_,
               stopping_                    ? kStopGraceMs
               : kind == ConnKind::client ? config_.handshake_timeout_ms
                                            : config_.api_idle_timeout_ms);
}

void Shard::on_recv(uint32_t id, const Completion& cqe) {
  Conn& c = slab_[id];
  if (!cqe.more()) c.recv_armed = false;
  if (cqe.res <= 0) {
    if (cqe.has_buffer()) io_.recycle_buffer(cqe.buffer_id());
    if (cqe.res == -ENOBUFS && c.phase != Phase::dead) {
      // Every provided buffer was in use: they are recycled by now, so read on.
      if (!c.recv_armed) {
        c.recv_armed = true;
        io_.recv_multishot(c.fd, user_data(Op::recv, c.generation, id));
      }
      return;
    }
    // 0: the peer closed its side; <0: reset or our own shutdown. Either way nothing more to read.
    terminate(c, id);
    maybe_release(c, id);
    return;
  }
  RC_ASSERT(cqe.has_buffer());
  const uint16_t buffer_id = cqe.buffer_id();
  uint8_t* data = io_.buffer(buffer_id);
  const size_t len = static_cast<size_t>(cqe.res);
  stats_.add(Counter::bytes_in, cqe.res);
  c.last_rx_tick = static_cast<uint32_t>(now_tick_);
  switch (c.phase) {
    case Phase::handshake:
      handle_handshake(c, id, data, len);
      break;
    case Phase::open:
    case Phase::close_wait:
      if (c.kind == ConnKind::client)
        handle_ws_bytes(c, id, data, len);
      else
        handle_api_bytes(c, id, data, len);
      break;
    case Phase::linger:
    case Phase::dead:
    case Phase::free:
      break;  // discarded: we are only waiting for the peer to go
  }
  io_.recycle_buffer(buffer_id);
  // (The record may have been closed, or closed and freed, while its bytes were handled.)
  if (c.phase == Phase::dead) {
    maybe_release(c, id);
  } else if (!c.recv_armed && c.phase != Phase::free) {
    c.recv_armed = true;
    io_.recv_multishot(c.fd, user_data(Op::recv, c.generation, id));
  }
}

void Shard::handle_handshake(Conn& c, uint32_t id, uint8_t* data, size_t len) {
  std::string_view buf(reinterpret_cast<const char*>(data), len);
  if (c.inbuf) {
    c.inbuf->append(buf);
    buf = *c.inbuf;
  }
  http::Request req;
  http::Limits limits;
  limits.head_bytes_max = config_.handshake_bytes_max;
  // Only the demo's POST /demo/publish has a body; without --demo any body is refused (413).
  limits.body_bytes_max = config_.demo ? demo_body_bytes_max(config_) : 0;
  http::ParseResult res = http::parse_request(buf, limits, req, scratch_);
  if (res.status == http::ParseStatus::incomplete) {
    if (!c.inbuf) c.inbuf = new std::string(buf);
    return;
  }
  if (res.status == http::ParseStatus::error) {
    stats_.add(Counter::handshakes_failed);
    http_error_and_close(c, id, handshake::build_error_response(res.http_status, res.reason));
    return;
  }
  const bool nano = nano_.enabled() && req.path == config_.nano_path;
  if (req.path != config_.ws_path && !nano && config_.demo) {
    serve_demo_request(c, id, req, buf.substr(res.consumed));
    return;
  }
  if (!req.body.empty()) {  // (--demo only: otherwise the parser refused the body already)
    stats_.add(Counter::handshakes_failed);
    http_error_and_close(c, id, handshake::build_error_response(413, "body too large"));
    return;
  }
  if (req.path != config_.ws_path && !nano) {
    stats_.add(Counter::handshakes_failed);
    http_error_and_close(c, id, handshake::build_error_response(404, "not found: the WebSocket endpoint is " + config_.ws_path));
    return;
  }
  handshake::UpgradeCheck check = handshake::check_upgrade(req);
  if (!check.ok) {
    stats_.add(Counter::handshakes_failed);
    http_error_and_close(c, id, handshake::build_error_response(check.http_status, check.reason));
    return;
  }
  if (stopping_) {
    http_error_and_close(c, id, handshake::build_error_response(503, "server is shutting down"));
    return;
  }
  if (!check_access(c, id, req)) return;
  // The 101 goes out at once with a plain non-blocking send: it always fits an empty socket buffer,
  // and queueing it would hold a frame and a malloc'd copy per connection through a connect burst
  // (a million connects leave that peak resident). Whatever the kernel does not take is queued.
  const std::string accepted = handshake::build_switching_protocols(check.key);
  // (Behind a demo answer still queued on this kept-alive connection, the 101 queues too: order.)
  const bool behind = !c.out.empty() || c.sending;
  ssize_t sent = behind ? 0 : io_.send_now(c.fd, accepted.data(), accepted.size());
  if (sent < 0) {
    if (sent != -EAGAIN && sent != -EWOULDBLOCK && sent != -EINTR) {
      terminate(c, id);
      return;
    }
    sent = 0;
  }
  stats_.add(Counter::bytes_out, sent);
  if (static_cast<size_t>(sent) < accepted.size())
    queue_copy(c, id, std::string_view(accepted).substr(static_cast<size_t>(sent)));
  c.phase = Phase::open;
  rooms_.join_all_room(id);
  stats_.add(Counter::ws_open);
  if (!token_user_.empty()) {
    bind_user(c, id, token_user_);
    c.user_from_token = 1;
    token_user_.clear();
  }
  arm_timer_ms(id, now_tick_, config_.heartbeat_timeout_ms);
  if (nano) nano_.open(c, id);  // its own timer: Pomelo heartbeats
  // Frames the client sent right behind its request are not lost: parse them now.
  std::string* held = c.inbuf;
  c.inbuf = nullptr;
  size_t head = res.consumed;
  if (held) {
    if (head < held->size())
      handle_ws_bytes(c, id, reinterpret_cast<uint8_t*>(held->data()) + head, held->size() - head);
    delete held;
  } else if (head < len) {
    handle_ws_bytes(c, id, data + head, len - head);
  }
}

// Access control at the upgrade (docs/security.md): a browser's Origin must be allowed, then the
// connect token must verify; its room grant is kept by index in the connection's record. False when
// the upgrade was refused (answered and closing).
bool Shard::check_access(Conn& c, uint32_t id, const http::Request& req) {
  token_user_.clear();
  if (!allowed_origins_.empty()) {
    // Only browsers send Origin, and a page cannot forge it; other clients are not asked for one.
    const std::string_view origin = req.header("origin");
    if (!origin.empty() && !origin_allowed(origin, allowed_origins_)) {
      stats_.add(Counter::handshakes_failed);
      stats_.add(Counter::origin_refused);
      http_error_and_close(c, id, handshake::build_error_response(403, "origin not allowed (allowed_origins)"));
      return false;
    }
  }
  if (config_.token_secret.empty()) return true;
  bool malformed = false;
  const std::string_view token = connect_token(req, token_storage_, malformed);
  TokenGrant grant;
  TokenError error = TokenError::malformed;
  if (!token.empty()) {
    error = verify_token(token, config_.token_secret, wall_clock_s(), grant);
  }
  if (error != TokenError::none) {
    stats_.add(Counter::handshakes_failed);
    stats_.add(Counter::token_refused);
    http_error_and_close(c, id, handshake::build_error_response(
                                    401, token.empty() ? std::string_view("connect token required: ?token= or "
                                                                          "Authorization: Bearer")
                                                       : token_error_text(error)));
    return false;
  }
  // The token's user ("uid", else "sub") binds the connection (per-user push); one that could not be
  // a user id is refused like a bad token, rather than silently not bound.
  if (!grant.user.empty() && !room_name_valid(grant.user, config_.user_id_bytes_max, RoomCharset::utf8)) {
    stats_.add(Counter::handshakes_failed);
    stats_.add(Counter::token_refused);
    http_error_and_close(c, id, handshake::build_error_response(
                                    401, "connect token's uid/sub is not a valid user id (user_id_bytes_max, "
                                         "no control characters)"));
    return false;
  }
  const uint32_t index = grants_.acquire(grant);
  if (index == GrantTable::kFull) {
    stats_.add(Counter::handshakes_failed);
    stats_.add(Counter::conns_refused);
    http_error_and_close(c, id, handshake::build_error_response(503, "server full: too many distinct room grants"));
    return false;
  }
  c.grant = index;  // released with the record (maybe_release)
  token_user_ = grant.user;
  return true;
}

// --demo: a plain HTTP request on the client port (the page, its files, /demo/*). The connection stays
// in the handshake phase, kept alive for the browser's next request, which may still be the upgrade.
void Shard::serve_demo_request(Conn& c, uint32_t id, const http::Request& req, std::string_view rest) {
  demo_.stopping = stopping_;
  std::string out;
  bool keep = handle_demo_request(req, demo_, demo_buckets_[id], now_ns_, out);
  if (c.out.bytes > kDemoOutBytesMax) keep = false;
  if (!keep) {
    http_error_and_close(c, id, out);
    return;
  }
  // What follows this request in the buffer (a pipelined request) is kept; `rest` may point into inbuf.
  std::string* next = rest.empty() ? nullptr : new std::string(rest);
  delete c.inbuf;
  c.inbuf = next;
  queue_copy(c, id, out);
  c.http_served = true;
  arm_timer_ms(id, now_tick_, config_.handshake_timeout_ms);
  if (c.inbuf) handle_handshake(c, id, nullptr, 0);
}

void Shard::handle_ws_bytes(Conn& c, uint32_t id, uint8_t* data, size_t len) {
  if (c.close_received) return;
  WsSink sink{this, id};
  // The callbacks may close the connection; its parser and record stay intact until feed() returns.
  c.parsing = true;
  c.parser.feed(data, len, config_.max_message_bytes, sink);
  c.parsing = false;
  if (c.phase == Phase::dead) {
    c.parser.release();
    maybe_release(c, id);
  }
}

void Shard::on_ws_message(uint32_t id, ws::Opcode op, std::span<uint8_t> payload) {
  Conn& c = slab_[id];
  if (c.close_sent || c.phase == Phase::dead) return;  // closing: the rest is ignored
  if (c.nano) return nano_.on_message(c, id, op, payload);
  if (op != ws::Opcode::text) return;                  // go-push ignores binary messages
  handle_command(c, id, payload.data(), payload.size());
}

void Shard::handle_command(Conn& c, uint32_t id, const uint8_t* data, size_t len) {
  Command cmd;
  CommandError err = parse_command(command_parser_, data, len, cmd);
  stats_.add(Counter::commands_in);
  if (err == CommandError::malformed_json || err == CommandError::not_an_object) {
    stats_.add(Counter::close_invalid_payload);
    close_ws(c, id, ws::close_code::invalid_payload, command_error_text(err));
    return;
  }
  if (err == CommandError::bad_uid) {
    stats_.add(Counter::binds_refused);
    queue_ws(c, id, ws::Opcode::text, error_command_json("bad_uid", command_error_text(err), ""));
    return;
  }
  if (err == CommandError::bad_room || err == CommandError::bad_since) {
    stats_.add(Counter::joins_refused);
    queue_ws(c, id, ws::Opcode::text,
             error_command_json(err == CommandError::bad_room ? "bad_room" : "bad_since", command_error_text(err), ""));
    return;
  }
  switch (cmd.type) {
    case CommandType::ping:
      queue_frame(c, id, pong_frame_);
      return;
    case CommandType::join:
      join_room(c, id, cmd.room, &cmd, true);
      return;
    case CommandType::leave: {
      bool removed = false;
      if (rooms_.leave(id, cmd.room, removed)) {
        stats_.add(Counter::leaves);
        if (config_.presence_events) publish_presence_event(c, id, "leave", cmd.room, rooms_.user_of(id));
      }
      return;
    }
    case CommandType::bind:
      handle_bind(c, id, cmd.uid);
      return;
    case CommandType::hello:
      queue_ws(c, id, ws::Opcode::text, hello_command_json(conn_id_text(c, id), rooms_.user_of(id)));
      return;
    case CommandType::unknown:
      if (config_.hooks && !cmd.type_name.empty()) {
        if (const MessageHandler* handler = config_.hooks->handler(cmd.type_name)) {
          std::string data = cmd.has_data ? simdjson::minify(cmd.data) : std::string("null");
          stats_.add(Counter::hook_messages);
          Session session(*this, id, public_conn_id(c, id), cmd.type_name);
          (*handler)(session, ClientMessage{cmd.type_name, data});
        }
      }
      return;
  }
}

// A JOIN, from the client (`cmd`, with recovery when it has `since`) or from a hook (Session::join).
// Every refusal is an ERROR frame on the connection, counted; the connection stays. Returns the
// refusal's code, or an empty string when the connection is in the room (a repeat JOIN included).
std::string_view Shard::join_room(Conn& c, uint32_t id, std::string_view room, const Command* cmd, bool authorize) {
  auto refuse = [&](std::string_view code, std::string_view message, std::string_view named_room) {
    stats_.add(Counter::joins_refused);
    if (!c.nano) queue_ws(c, id, ws::Opcode::text, error_command_json(code, message, named_room));
    return code;
  };
  if (!room_name_valid(room, config_.room_name_bytes_max, room_charset_))
    return refuse("bad_room", room_name_rule_text(room_charset_), "");
  if (!grants_.allows(c.grant, room)) {
    stats_.add(Counter::joins_forbidden);
    return refuse("forbidden_room", "the connect token does not grant this room", room);
  }
  if (rooms_.find(room) != kNil && rooms_.is_member(id, rooms_.find(room))) return {};  // repeat JOIN
  if (authorize && config_.hooks && config_.hooks->authorize_join) {
    std::string reason;
    Session session(*this, id, public_conn_id(c, id), {});
    if (!config_.hooks->authorize_join(session, room, reason)) {
      stats_.add(Counter::joins_forbidden);
      return refuse("forbidden_room", reason.empty() ? std::string_view("refused by the application") : reason, room);
    }
    if (c.phase != Phase::open || c.close_sent) return "closed";  // the hook closed it
  }
  if (rooms_.rooms_of(id) >= config_.rooms_per_conn_max)
    return refuse("too_many_rooms", "rooms_per_conn_max (maxJoinRoom) reached", room);
  // A room new to this shard is registered node-wide first (the cluster subscribes to it); the
  // node's room limit refuses it here, before any state changes.
  if (rooms_.find(room) == kNil && !setup_.room_table.add(setup_.index, room))
    return refuse("too_many_rooms", "rooms_max rooms with members on this node", room);
  const bool recovering = cmd && cmd->has_since;
  uint64_t position = 0;
  const bool recovered = recovering && prepare_recovery(*cmd, position);
  bool created = false;
  if (rooms_.join(id, room, created)) {
    stats_.add(Counter::joins);
    if (created) stats_.add(Counter::rooms);
    if (config_.presence_events) publish_presence_event(c, id, "join", room, rooms_.user_of(id));
  }
  if (recovering) {
    // The replay goes first, then the marker; the fan-out's items (all after `position`) follow.
    uint32_t replayed = 0;
    for (auto& [bytes, items] : replay_frames_) {
      auto* copy = static_cast<uint8_t*>(std::malloc(bytes.size()));
      RC_ASSERT(copy != nullptr);
      std::memcpy(copy, bytes.data(), bytes.size());
      queue_frame(c, id, frames_.owned_frame(copy, static_cast<uint32_t>(bytes.size()), items, true));
      replayed += items;
    }
    replay_frames_.clear();
    if (!cmd->since_now) stats_.add(recovered ? Counter::recoveries : Counter::recoveries_failed);
    stats_.add(Counter::items_replayed, replayed);
    queue_ws(c, id, ws::Opcode::text, joined_command_json(room, position, epoch_text_, recovered));
  }
  return {};
}

uint64_t Shard::public_conn_id(const Conn& c, uint32_t id) const {
  return pack_conn_id(ConnId{setup_.index, incarnation_, c.generation, id});  // HELLO's and BOUND's id
}

// ---- Session: a hook's view of a connection (hooks.h) ----

std::string_view Session::uid() const { return shard_->session_uid(conn_); }

void Session::send(std::string_view type, std::string_view data_json) { shard_->session_send(conn_, type, data_json); }

void Session::reply(std::string_view data_json) { shard_->session_reply(conn_, type_, data_json); }

void Session::error(std::string_view code, std::string_view message) { shard_->session_error(conn_, code, message); }

std::string_view Session::join(std::string_view room) { return shard_->session_join(conn_, room); }

bool Session::leave(std::string_view room) { return shard_->session_leave(conn_, room); }

bool Session::in_room(std::string_view room) const { return shard_->session_in_room(conn_, room); }

void Session::close(uint16_t code, std::string_view reason) { shard_->session_close(conn_, code, reason); }

std::string_view Shard::session_uid(uint32_t id) const {
  const std::string_view bound = rooms_.user_of(id);
  return bound.empty() ? nano_.uid(id) : bound;
}

bool Shard::session_usable(uint32_t id) {
  Conn& c = slab_[id];
  return c.kind == ConnKind::client && c.phase == Phase::open && !c.close_sent;
}

void Shard::session_send(uint32_t id, std::string_view type, std::string_view data_json) {
  if (slab_[id].nano) {
    if (session_usable(id)) nano_.push(slab_[id], id, type, data_json.empty() ? "null" : data_json);
    return;
  }
  std::string text = R"({"type":")";
  http::append_json_escaped(text, type);
  text += R"(","data":)";
  text += data_json.empty() ? std::string_view("null") : data_json;
  text += '}';
  session_raw(id, text);
}

void Shard::session_raw(uint32_t id, std::string_view text) {
  if (!session_usable(id)) return;
  queue_ws(slab_[id], id, ws::Opcode::text, text);
}

void Shard::session_reply(uint32_t id, std::string_view type, std::string_view data_json) {
  if (!slab_[id].nano) return session_send(id, type, data_json);
  if (session_usable(id)) nano_.reply(slab_[id], id, type, data_json.empty() ? "null" : data_json);
}

void Shard::session_error(uint32_t id, std::string_view code, std::string_view message) {
  if (!slab_[id].nano) return session_raw(id, error_command_json(code, message, ""));
  if (session_usable(id)) nano_.error(slab_[id], id, code, message);
}

std::string_view Shard::session_join(uint32_t id, std::string_view room) {
  if (!session_usable(id)) return "closed";
  return join_room(slab_[id], id, room, nullptr, false);
}

bool Shard::session_leave(uint32_t id, std::string_view room) {
  if (!session_usable(id)) return false;
  bool removed = false;
  if (!rooms_.leave(id, room, removed)) return false;
  stats_.add(Counter::leaves);
  return true;
}

bool Shard::session_in_room(uint32_t id, std::string_view room) const {
  const RoomId r = rooms_.find(room);
  return r != kNil && rooms_.is_member(id, r);
}

void Shard::session_close(uint32_t id, uint16_t code, std::string_view reason) {
  if (!session_usable(id)) return;
  close_ws(slab_[id], id, code, reason);
}

// Recovery, for a JOIN with `since` (docs/protocol.md): before the connection joins, settle where the
// fan-out will take over (`position`: the member gets every later item of the room from it), then build
// the replay of the room's items in (since, position] from the ring's history. True when all of them
// could be replayed; false (and nothing replayed) when some are gone, expired, too many, from another
// epoch, or `since` is beyond what this node has published.
bool Shard::prepare_recovery(const Command& cmd, uint64_t& position) {
  DeliverToShard deliver{this};
  replay_frames_.clear();
  const RoomId room = rooms_.find(cmd.room);
  if (!cmd.since_now) {
    // The client may resume from an item another shard delivered and this one has not drained yet:
    // catch up first, or the fan-out would bring that item (and those before it) once more.
    while (fanout_.cursor_seq() <= cmd.since && fanout_.drain(now_ns_, deliver) > 0) {
    }
    // With a merge window the room may have a batch waiting, holding items the client may have had:
    // the members there get it now, before the client joins, so it cannot come twice.
    if (room != kNil) {
      const RoomBatch& batch = rooms_.room(room).batch;
      if (!batch.entries.empty() && batch.entries.front()->seq <= cmd.since) fanout_.emit_now(room, deliver);
    }
  }
  // The member gets every item after the cursor from the fan-out, or, when the room has a batch
  // waiting, every item from the batch's first on.
  position = fanout_.cursor_seq() - 1;
  if (room != kNil && !rooms_.room(room).batch.entries.empty())
    position = rooms_.room(room).batch.entries.front()->seq - 1;
  if (cmd.since_now) return true;  // only the position: nothing to replay
  if (!cmd.epoch.empty() && cmd.epoch != epoch_text_) return false;
  if (config_.history_items_max == 0 || cmd.since > position) return false;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // publish_ns's clock
  ReplayLimits limits;
  limits.items_max = config_.history_items_max;
  limits.ttl_ns = static_cast<int64_t>(config_.history_ttl_ms) * 1000000;
  limits.frame_bytes_max = config_.merge_frame_bytes_max;
  if (!collect_replay(setup_.ring, cmd.room, cmd.since, position, limits,
                      static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec, replay_frames_, replay_body_)) {
    replay_frames_.clear();
    return false;
  }
  return true;
}

// BIND (user_bind_command): the client names its user. Refusals are ERROR frames; the connection
// stays. A connection binds one user for its life: a second BIND of the same uid is answered BOUND
// again, of another uid refused (rebinding would race with pushes already on their way).
void Shard::handle_bind(Conn& c, uint32_t id, std::string_view uid) {
  auto refuse = [&](std::string_view code, std::string_view message) {
    stats_.add(Counter::binds_refused);
    queue_ws(c, id, ws::Opcode::text, error_command_json(code, message, ""));
  };
  if (!config_.user_bind_command) return refuse("bind_disabled", "BIND is not enabled (user_bind_command)");
  if (c.user_from_token) return refuse("bound_by_token", "the connect token bound this connection to its user");
  if (!room_name_valid(uid, config_.user_id_bytes_max, RoomCharset::utf8))
    return refuse("bad_uid", "uid must be 1..user_id_bytes_max bytes of UTF-8 without control characters");
  const std::string_view bound = rooms_.user_of(id);
  if (!bound.empty() && bound != uid)
    return refuse("already_bound", "this connection is bound to another user; reconnect to change");
  if (bound.empty()) bind_user(c, id, uid);
  queue_ws(c, id, ws::Opcode::text, bound_command_json(uid, conn_id_text(c, id)));
}

void Shard::bind_user(Conn&, uint32_t id, std::string_view uid) {
  bool created = false;
  rooms_.bind_user(id, uid, created);
  stats_.add(Counter::binds);
}

// The event is an item of an ordinary room push, so it takes the ring, the cluster and coalescing like
// any other and keeps its place among the room's items: {"presence":"join","room":"r","uid":"u"|null,
// "conn":"<id>"}. Not sent while the node stops (every connection leaves then).
void Shard::publish_presence_event(const Conn& c, uint32_t id, std::string_view event, std::string_view room,
                                   std::string_view uid) {
  if (stopping_) return;
  std::string item = R"([{"presence":")";
  item += event;
  item += R"(","room":")";
  http::append_json_escaped(item, room);
  item += R"(","uid":)";
  http::append_json_string_or_null(item, uid);
  item += R"(,"conn":")" + conn_id_text(c, id) + R"("}])";
  const PublishOutcome out = publisher_.publish(setup_.ring, Target::room, room, item);
  stats_.add(out.error == PublishError::none ? Counter::presence_events : Counter::presence_events_refused);
}

std::string Shard::conn_id_text(const Conn& c, uint32_t id) const {
  return format_conn_id(ConnId{setup_.index, incarnation_, c.generation, id});
}

uint32_t Shard::resolve_conn(std::string_view text) const {
  ConnId cid;
  if (!parse_conn_id(text, cid) || cid.shard != setup_.index || cid.incarnation != (incarnation_ & 0xFF)) return kNil;
  if (!slab_.constructed(cid.slot)) return kNil;
  const Conn& c = const_cast<ConnSlab&>(slab_)[cid.slot];
  if ((c.generation & ((1u << kConnIdGenerationBits) - 1)) != cid.generation || c.kind != ConnKind::client ||
      c.phase != Phase::open || c.close_sent)
    return kNil;
  return cid.slot;
}

bool Shard::parked(uint32_t id, uint32_t generation) const {
  for (const ParkedQuery& p : parked_)
    if (p.id == id && p.generation == generation) return true;
  return false;
}

void Shard::park_presence(Conn& c, uint32_t id, bool keep) {
  // Polled right after the completions of this turn (step), so a node of one shard answers in the
  // same turn; never from here, which would recurse through a connection's pipelined requests.
  parked_.push_back(ParkedQuery{id, c.generation, keep, std::move(api_.query)});
}

// The front parked query: start it, or see whether every shard answered; then answer its connection
// and carry on with the requests it pipelined behind.
void Shard::poll_presence() {
  while (!parked_.empty()) {
    if (!asking_) {
      ask_.start(setup_.presence, setup_.ring, setup_.shard_count, static_cast<int32_t>(setup_.index),
                 parked_.front().query, now_ns_, static_cast<int64_t>(config_.presence_timeout_ms) * 1000000,
                 (static_cast<uint64_t>(setup_.index) << 48) | ++ask_tickets_);
      asking_ = true;
    }
    const PresenceAsk::Status status = ask_.poll(now_ns_);
    if (status == PresenceAsk::Status::pending) return;
    asking_ = false;
    ParkedQuery p = std::move(parked_.front());
    parked_.pop_front();
    stats_.add(Counter::presence_queries);
    std::string answer;
    if (status == PresenceAsk::Status::done) {
      std::vector<PresencePart> parts = ask_.parts();
      parts.emplace_back();
      presence_answer_local(rooms_, p.query, parts.back());
      PresencePage page;
      presence_merge(parts, p.query, page);
      http::append_response(answer, 200, "application/json", presence_json(p.query, page), p.keep);
    } else {
      stats_.add(Counter::presence_timeouts);
      stats_.add(Counter::api_errors);
      answer = api_error(503,
                         "presence: shard " + std::to_string(ask_.failed_shard()) +
                             " did not answer within presence_timeout_ms",
                         p.keep);
    }
    if (!slab_.constructed(p.id)) continue;
    Conn& c = slab_[p.id];
    if (c.generation != p.generation || c.phase != Phase::open) continue;
    queue_copy(c, p.id, answer);
    if (!p.keep) {
      c.after_flush = AfterFlush::linger;
      if (c.out.empty() && !c.sending) after_flush(c, p.id);
    } else if (c.inbuf && !c.inbuf->empty()) {
      static const uint8_t kNothing = 0;
      handle_api_bytes(c, p.id, &kNothing, 0);  // the requests pipelined behind it
    }
  }
}

void Shard::on_ws_control(uint32_t id, ws::Opcode op, std::span<uint8_t> payload) {
  Conn& c = slab_[id];
  if (c.phase == Phase::dead) return;
  if (op == ws::Opcode::ping) {
    if (!c.close_sent) queue_ws(c, id, ws::Opcode::pong, {reinterpret_cast<const char*>(payload.data()), payload.size()});
    return;
  }
  if (op == ws::Opcode::pong) return;
  // Close. The parser has checked the code and the reason's UTF-8.
  c.close_received = true;
  if (c.close_sent) {
    // The answer to our close: the handshake is complete; the server closes the TCP connection first.
    if (c.out.empty() && !c.sending)
      terminate(c, id);
    else
      c.after_flush = AfterFlush::terminate;
    return;
  }
  uint16_t code = ws::close_code::normal;
  if (payload.size() >= 2) code = static_cast<uint16_t>(payload[0] << 8 | payload[1]);
  close_ws(c, id, code, {});
  c.after_flush = AfterFlush::terminate;
}

void Shard::on_ws_error(uint32_t id, uint16_t code, std::string_view reason) {
  Conn& c = slab_[id];
  if (c.phase == Phase::dead) return;
  switch (code) {
    case ws::close_code::protocol_error:
      stats_.add(Counter::close_protocol_error);
      break;
    case ws::close_code::invalid_payload:
      stats_.add(Counter::close_invalid_payload);
      break;
    case ws::close_code::message_too_big:
      stats_.add(Counter::close_too_big);
      break;
    default:
      break;
  }
  // The parser reads nothing more after an error, so there is no close handshake to wait for: the
  // connection ends once the close frame is out (RFC 6455 7.1.7, "fail the WebSocket connection").
  close_ws(c, id, code, reason);
  c.after_flush = AfterFlush::terminate;
}

void Shard::handle_api_bytes(Conn& c, uint32_t id, const uint8_t* data, size_t len) {
  if (c.after_flush != AfterFlush::nothing) return;  // answering a final response: ignore the rest
  if (!c.inbuf) c.inbuf = new std::string();
  c.inbuf->append(reinterpret_cast<const char*>(data), len);
  // Waiting for a presence answer: what follows is read on once it is out (answers keep their order).
  // A peer that keeps sending meanwhile is bounded like a request too large to parse: cut.
  if (!parked_.empty() && parked(id, c.generation)) {
    if (c.inbuf->size() > 4 * (config_.api_head_bytes_max + config_.api_body_bytes_max)) {
      stats_.add(Counter::api_errors);
      terminate(c, id);
    }
    return;
  }
  bool park = false;
  http::Limits limits;
  limits.head_bytes_max = config_.api_head_bytes_max;
  limits.body_bytes_max = config_.api_body_bytes_max;
  api_.stopping = stopping_;
  api_out_.clear();
  size_t used = 0;
  bool keep = true;
  // Pipelined requests are answered in order, each as soon as it is complete.
  while (keep && used < c.inbuf->size()) {
    http::Request req;
    std::string_view rest(c.inbuf->data() + used, c.inbuf->size() - used);
    http::ParseResult res = http::parse_request(rest, limits, req, scratch_);
    if (res.status == http::ParseStatus::incomplete) {
      if (res.head_complete && req.expect_continue && !c.continue_sent) {
        api_out_ += "HTTP/1.1 100 Continue\r\n\r\n";
        c.continue_sent = true;
      }
      break;
    }
    if (res.status == http::ParseStatus::error) {
      stats_.add(Counter::api_errors);
      http::append_error(api_out_, res.http_status, res.reason, false);
      keep = false;
      break;
    }
    c.continue_sent = false;
    keep = handle_api_request(req, api_, api_out_);
    used += res.consumed;
    if (api_.deferred) {
      api_.deferred = false;
      park = true;
      break;
    }
  }
  c.inbuf->erase(0, used);
  if (c.inbuf->empty() || !keep) {
    delete c.inbuf;
    c.inbuf = nullptr;
  }
  if (!api_out_.empty()) queue_copy(c, id, api_out_);
  if (park) {
    if (parked_.size() >= kPresenceParkedMax) {
      delete c.inbuf;
      c.inbuf = nullptr;
      stats_.add(Counter::api_errors);
      queue_copy(c, id, api_error(503, "too many presence queries waiting on this shard; retry", false));
      keep = false;
    } else {
      park_presence(c, id, keep);
      return;
    }
  }
  if (!keep) {
    c.after_flush = AfterFlush::linger;
    if (c.out.empty() && !c.sending) after_flush(c, id);
  }
}

void Shard::deliver(uint32_t id, FrameId frame) {
  Conn& c = slab_[id];
  if (c.cut) {
    stats_.add(Counter::frames_dropped);
    stats_.add(Counter::frames_dropped_slow);
    return;
  }
  if (c.nano) {  // the same push as a Pomelo frame, built once per PUSH frame for all Pomelo members
    if (!nano_.ready(id) || (frame = nano_.transcode(frame)) == kNil) return;
  }
  const uint32_t queued = frames_.enqueue(c.out, frame);
  stats_.add(Counter::frames_queued);
  stats_.add(Counter::items_delivered, frames_.frame(frame).items);
  // A backlog over the limit by itself may be a burst a fast reader is about to take (see on_send for
  // the real test); this hard bound, four times the limit, caps the memory a stalled reader can pin
  // while its send is stuck in the kernel.
  if (queued > 4 * static_cast<uint64_t>(config_.out_queue_bytes_max)) {
    cut_slow_consumer(c, id);
    return;
  }
  schedule_flush(c, id);
}

void Shard::cut_slow_consumer(Conn& c, uint32_t id) {
  // Cut after the current fan-out (membership must not change during it); never holds the others back.
  if (c.cut) return;
  c.cut = true;
  cuts_.push_back(id);
}

void Shard::process_cuts() {
  for (uint32_t id : cuts_) {
    Conn& c = slab_[id];
    c.cut = false;
    if (c.phase == Phase::dead || c.close_sent) continue;
    stats_.add(Counter::close_slow_consumer);
    close_ws(c, id, ws::close_code::policy_violation, "slow consumer: send backlog over out_queue_bytes_max",
             /*slow_consumer=*/true);
  }
  cuts_.clear();
}

void Shard::relieve_ring_pressure() {
  pressure_checked_ns_ = now_ns_;
  const uint64_t held = frames_.oldest_held(fanout_.cursor_pos());
  // Past half the ring, the connections holding the oldest frames are the ones stopping producers:
  // cut them (the per-connection byte limit catches most slow consumers long before this).
  if (fanout_.cursor_pos() - held <= setup_.ring.capacity() / 2) return;
  for (uint32_t id = 0; id < slab_.capacity(); ++id) {
    if (!slab_.constructed(id)) continue;
    Conn& c = slab_[id];
    if (c.phase != Phase::open || c.kind != ConnKind::client || c.out.empty() || c.close_sent) continue;
    if (frames_.head_epoch(c.out) != kNil && frames_.head_epoch(c.out) == frames_.oldest_epoch())
      cut_slow_consumer(c, id);
  }
  process_cuts();
}

// Limits hit since the last line, in one line: the first as soon as the 100 ms check sees it, then
// at most one per kLimitLogNs per shard with the counts in between. The counts come from the stats
// block, so the events themselves cost nothing extra.
void Shard::log_limits(bool report) {
  struct Limit {
    Counter counter;
    const char* what;
  };
  static constexpr Limit kLimits[] = {
      {Counter::close_slow_consumer, "slow consumers closed (1008)"},
      {Counter::frames_dropped, "PUSH frames dropped (slow or closing connections)"},
      {Counter::publish_refused_full, "publishes refused: ring full (503)"},
      {Counter::conns_refused, "connections refused: shard full (503)"},
      {Counter::api_conns_refused, "push API connections refused: api_conns_per_shard_max (503)"},
      {Counter::demo_publish_limited, "demo comments rate-limited (429)"},
      {Counter::token_refused, "upgrades refused: connect token (401)"},
      {Counter::origin_refused, "upgrades refused: origin not allowed (403)"},
      {Counter::api_unauthorized, "push API requests refused: api_token (401)"},
  };
  static_assert(std::size(kLimits) == std::size(decltype(limits_seen_){}));
  if (report && limits_logged_ns_ != 0 && now_ns_ - limits_logged_ns_ < kLimitLogNs) return;
  std::string line;
  for (size_t i = 0; i < std::size(kLimits); ++i) {
    const int64_t now = stats_.get(kLimits[i].counter);
    const int64_t delta = now - limits_seen_[i];
    limits_seen_[i] = now;
    if (delta <= 0 || !report) continue;
    if (!line.empty()) line += ", ";
    line += std::to_string(delta) + " " + kLimits[i].what;
  }
  if (line.empty()) return;
  limits_logged_ns_ = now_ns_;
  LOG_WARN("shard %u: limits hit: %s (next summary in %lld s at the earliest)", setup_.index, line.c_str(),
           static_cast<long long>(kLimitLogNs / 1000000000));
}

void Shard::queue_frame(Conn& c, uint32_t id, FrameId frame) {
  frames_.enqueue(c.out, frame);
  schedule_flush(c, id);
}

void Shard::queue_copy(Conn& c, uint32_t id, std::string_view bytes) {
  auto* copy = static_cast<uint8_t*>(std::malloc(bytes.size()));
  RC_ASSERT(copy != nullptr);
  std::memcpy(copy, bytes.data(), bytes.size());
  queue_frame(c, id, frames_.owned_frame(copy, static_cast<uint32_t>(bytes.size()), 0, false));
}

void Shard::queue_ws(Conn& c, uint32_t id, ws::Opcode op, std::string_view payload) {
  const size_t header = ws::server_header_bytes(payload.size());
  auto* bytes = static_cast<uint8_t*>(std::malloc(header + payload.size() + 1));
  RC_ASSERT(bytes != nullptr);
  ws::encode_server_header(bytes, op, payload.size());
  if (!payload.empty()) std::memcpy(bytes + header, payload.data(), payload.size());
  queue_frame(c, id, frames_.owned_frame(bytes, static_cast<uint32_t>(header + payload.size()), 0, false));
}

void Shard::schedule_flush(Conn& c, uint32_t id) {
  if (c.in_flush_list || c.sending || c.phase == Phase::dead) return;
  c.in_flush_list = true;
  flush_list_.push_back(id);
}

void Shard::flush_sends() {
  if (flush_list_.empty()) return;
  // One clock read for the whole batch: the publish -> flush latency of every frame it sends is
  // measured against it (a read per send would cost more than the bucket it feeds).
  const int64_t flush_ns = io_.now_ns();
  // issue_send never adds to the list, so iterating by index over a stable size is safe.
  for (size_t i = 0; i < flush_list_.size(); ++i) {
    const uint32_t id = flush_list_[i];
    Conn& c = slab_[id];
    c.in_flush_list = false;
    if (c.phase == Phase::dead || c.sending || c.out.empty()) continue;
    issue_send(c, id, flush_ns);
  }
  flush_list_.clear();
}

void Shard::issue_send(Conn& c, uint32_t id, int64_t flush_ns) {
  iovec iov[kMaxIov];
  int64_t published_ns[kMaxIov];
  size_t total = 0;
  const int n =
      frames_.gather(c.out, iov, kMaxIov, config_.send_bytes_per_iteration_max, total, published_ns);
  RC_ASSERT(n > 0);
  for (int i = 0; i < n; ++i)
    if (published_ns[i] > 0) stats_.observe_latency(flush_ns - published_ns[i]);
  c.sending = true;
  c.send_offered = static_cast<uint32_t>(total);
  const uint64_t ud = user_data(Op::send, c.generation, id);
  if (n == 1) {
    io_.send(c.fd, iov[0].iov_base, iov[0].iov_len, ud);
    return;
  }
  // A multi-frame send needs a msghdr and its iovec until it completes. It is sized to this send and
  // freed on completion: a pool of largest-size slots would keep the peak of a connect or broadcast
  // burst (thousands of sends in flight) resident for good.
  const size_t bytes = sizeof(msghdr) + sizeof(iovec) * static_cast<size_t>(n);
  auto* msg = static_cast<msghdr*>(std::malloc(bytes));
  RC_ASSERT(msg != nullptr);
  auto* vec = reinterpret_cast<iovec*>(msg + 1);
  std::memcpy(vec, iov, sizeof(iovec) * static_cast<size_t>(n));
  *msg = msghdr{};
  msg->msg_iov = vec;
  msg->msg_iovlen = static_cast<size_t>(n);
  uint32_t slot;
  if (!free_send_msgs_.empty()) {
    slot = free_send_msgs_.back();
    free_send_msgs_.pop_back();
    send_msgs_[slot] = msg;
  } else {
    slot = static_cast<uint32_t>(send_msgs_.size());
    send_msgs_.push_back(msg);
  }
  c.send_slot = slot;
  io_.sendmsg(c.fd, msg, ud);
}

void Shard::on_send(uint32_t id, const Completion& cqe) {
  Conn& c = slab_[id];
  c.sending = false;
  if (c.send_slot != kNil) {
    std::free(send_msgs_[c.send_slot]);
    send_msgs_[c.send_slot] = nullptr;
    free_send_msgs_.push_back(c.send_slot);
    c.send_slot = kNil;
  }
  if (cqe.res < 0) {
    frames_.complete(c.out, 0);
    if (cqe.res == -EINTR || cqe.res == -EAGAIN) {
      schedule_flush(c, id);
      return;
    }
    terminate(c, id);  // reset, broken pipe, or our own shutdown
    maybe_release(c, id);
    return;
  }
  stats_.add(Counter::sends);
  stats_.add(Counter::bytes_out, cqe.res);
  const bool short_send = static_cast<uint32_t>(cqe.res) < c.send_offered;
  stats_.add(Counter::frames_sent, frames_.complete(c.out, static_cast<size_t>(cqe.res)));
  if (c.phase == Phase::dead) {
    maybe_release(c, id);
    return;
  }
  if (!c.out.empty()) {
    // A slow consumer: the kernel would not take all we offered (the peer's window and our socket
    // buffer are full) and the backlog is still over the limit. A fast reader hit by a burst has its
    // sends taken whole, so it is never cut for the burst alone.
    if (short_send && c.out.bytes > config_.out_queue_bytes_max && c.kind == ConnKind::client && !c.close_sent) {
      cut_slow_consumer(c, id);
      process_cuts();
      return;
    }
    schedule_flush(c, id);
    return;
  }
  after_flush(c, id);
}

void Shard::after_flush(Conn& c, uint32_t id) {
  switch (c.after_flush) {
    case AfterFlush::nothing:
      return;
    case AfterFlush::terminate:
      terminate(c, id);
      maybe_release(c, id);
      return;
    case AfterFlush::linger:
      // Shut our side and keep reading until the peer closes: closing at once could turn the bytes
      // it is still sending into a reset that destroys the answer we just sent.
      c.after_flush = AfterFlush::nothing;
      io_.shutdown(c.fd, SHUT_WR);
      c.phase = Phase::linger;
      arm_timer_ms(id, now_tick_, kLingerMs);
      return;
  }
}

void Shard::http_error_and_close(Conn& c, uint32_t id, std::string_view response) {
  delete c.inbuf;
  c.inbuf = nullptr;
  queue_copy(c, id, response);
  c.after_flush = AfterFlush::linger;
  // Nothing more is read from this peer; if the answer cannot even be sent in time, it is cut.
  c.phase = Phase::linger;
  arm_timer_ms(id, now_tick_, kLingerMs + config_.close_timeout_ms);
}

void Shard::leave_rooms(Conn& c, uint32_t id) {
  if (c.kind != ConnKind::client || (c.phase != Phase::open && c.phase != Phase::close_wait)) return;
  if (c.close_sent) return;  // left when the close was queued
  if (config_.presence_events && !stopping_) {
    std::vector<std::string> left;
    rooms_.for_each_room_of(id, [&](const Room& r) { left.push_back(r.name); });
    const std::string uid(rooms_.user_of(id));
    rooms_.leave_all(id);
    for (const std::string& room : left) publish_presence_event(c, id, "leave", room, uid);
  } else {
    rooms_.leave_all(id);
  }
  stats_.add(Counter::ws_open, -1);
}

void Shard::close_ws(Conn& c, uint32_t id, uint16_t code, std::string_view reason, bool slow_consumer) {
  if (c.close_sent || c.phase == Phase::dead) return;
  leave_rooms(c, id);
  c.close_sent = true;
  // Pushes not yet sent are dropped (counted); the handshake answer and replies queued before stay.
  // At shutdown they stay too: what was accepted before the stop still goes out, ahead of the close
  // (within shutdown_drain_ms).
  const bool draining = stopping_ && code == ws::close_code::going_away;
  if (uint32_t dropped = draining ? 0 : frames_.drop_unsent(c.out, true)) {
    stats_.add(Counter::frames_dropped, dropped);
    stats_.add(slow_consumer ? Counter::frames_dropped_slow : Counter::frames_dropped_closing, dropped);
  }
  // Pomelo: every close we start is announced by a kick packet carrying the reason.
  if (c.nano && !c.close_received) nano_.kick(c, id, reason);
  char payload[ws::kMaxControlPayloadBytes];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xFF);
  // A close reason is at most 123 bytes; ours are constant ASCII, cut to fit.
  const size_t reason_len = std::min(reason.size(), ws::kMaxControlPayloadBytes - 2);
  // (An empty reason may have a null data(): memcpy must not see it, even for 0 bytes.)
  if (reason_len) std::memcpy(payload + 2, reason.data(), reason_len);
  queue_ws(c, id, ws::Opcode::close, {payload, 2 + reason_len});
  if (code == ws::close_code::going_away && stopping_) stats_.add(Counter::close_going_away);
  c.phase = Phase::close_wait;
  arm_timer_ms(id, now_tick_, config_.close_timeout_ms);
}

void Shard::terminate(Conn& c, uint32_t id) {
  if (c.phase == Phase::dead || c.phase == Phase::free) return;
  leave_rooms(c, id);
  timers_.disarm(id);
  delete c.inbuf;
  c.inbuf = nullptr;
  if (!c.parsing) c.parser.release();  // else handle_ws_bytes releases it once feed() returns
  if (uint32_t dropped = frames_.drop_unsent(c.out)) {
    stats_.add(Counter::frames_dropped, dropped);
    stats_.add(Counter::frames_dropped_closing, dropped);
  }
  // Shutting the socket down ends the multishot recv (and any send) in the kernel; the slot is freed
  // when both have completed.
  io_.shutdown(c.fd, SHUT_RDWR);
  c.phase = Phase::dead;
}

void Shard::maybe_release(Conn& c, uint32_t id) {
  if (c.phase != Phase::dead || c.recv_armed || c.sending || c.parsing) return;
  frames_.clear(c.out);
  grants_.release(c.grant);
  --(c.kind == ConnKind::client ? live_clients_ : live_api_);
  if (config_.demo) demo_buckets_.erase(id);
  if (c.nano) nano_.forget(id);
  io_.close(c.fd);
  const uint32_t next_generation = c.generation + 1;
  c.~Conn();
  new (&c) Conn();
  c.generation = next_generation;
  slab_.release(id);
}

void Shard::arm_timer_ms(uint32_t id, uint64_t from_tick, uint32_t ms) {
  timers_.arm(id, from_tick + (static_cast<uint64_t>(ms) * 1000000 + kTickNs - 1) / kTickNs);
}

void Shard::on_timer(uint32_t id) {
  Conn& c = slab_[id];
  switch (c.phase) {
    case Phase::handshake:
      if (c.http_served && (!c.inbuf || c.inbuf->empty())) {
        // --demo: an idle kept-alive HTTP connection, not a slow upgrade: closed without a word.
        terminate(c, id);
        maybe_release(c, id);
        return;
      }
      stats_.add(Counter::handshake_timeouts);
      http_error_and_close(c, id, handshake::build_error_response(408, "upgrade request not complete in time"));
      return;
    case Phase::open: {
      if (c.kind == ConnKind::api && !parked_.empty() && parked(id, c.generation)) {
        arm_timer_ms(id, now_tick_, 100);  // waiting for a presence answer (bounded by its timeout)
        return;
      }
      if (c.kind == ConnKind::api && stopping_ && (!c.inbuf || c.inbuf->empty()) &&
          c.after_flush == AfterFlush::nothing) {
        // Draining, and no request arrived in the grace time: close. (One being answered lingers.)
        if (c.out.empty() && !c.sending) {
          terminate(c, id);
          maybe_release(c, id);
        }
        return;
      }
      if (c.nano) return nano_.on_timer(c, id);
      const uint32_t ms = c.kind == ConnKind::client ? config_.heartbeat_timeout_ms : config_.api_idle_timeout_ms;
      const uint64_t due = c.last_rx_tick + (static_cast<uint64_t>(ms) * 1000000 + kTickNs - 1) / kTickNs;
      if (due > now_tick_) {
        timers_.arm(id, due);  // heard from since the timer was armed: re-arm lazily
        return;
      }
      if (c.kind == ConnKind::client) {
        stats_.add(Counter::heartbeat_timeouts);
        close_ws(c, id, ws::close_code::going_away, "heartbeat timeout");
      } else if (c.inbuf && !c.inbuf->empty()) {
        stats_.add(Counter::api_errors);
        http_error_and_close(c, id, [] {
          std::string r;
          http::append_error(r, 408, "request not complete in time", false);
          return r;
        }());
      } else {
        terminate(c, id);
        maybe_release(c, id);
      }
      return;
    }
    case Phase::close_wait:
    case Phase::linger:
      terminate(c, id);
      maybe_release(c, id);
      return;
    case Phase::dead:
    case Phase::free:
      return;
  }
}

void Shard::begin_shutdown() {
  stopping_ = true;
  drain_deadline_ns_ = now_ns_ + static_cast<int64_t>(config_.shutdown_drain_ms) * 1000000;
  DeliverToShard deliver{this};
  fanout_.drain(now_ns_, deliver);  // what was accepted before the stop still goes out
  fanout_.flush_all(deliver);
  nano_.end_fanout();
  for (uint32_t id = 0; id < slab_.capacity(); ++id) {
    if (!slab_.constructed(id)) continue;
    Conn& c = slab_[id];
    if (c.phase == Phase::free || c.phase == Phase::dead) continue;
    if (c.kind == ConnKind::client) {
      if (c.phase == Phase::open)
        close_ws(c, id, ws::close_code::going_away, "server shutting down");
      else if (c.phase == Phase::handshake)
        terminate(c, id);
    } else if (c.phase == Phase::open && (!c.inbuf || c.inbuf->empty())) {
      // Idle keep-alive API connection: a request sent just before the stop may still be on its way
      // (or in a completion not reaped yet); it gets a short grace (see on_timer), then is closed.
      if (c.out.empty() && !c.sending)
        arm_timer_ms(id, now_tick_, kStopGraceMs);
      else
        c.after_flush = AfterFlush::linger;
    }
  }
  // Stop accepting. Connections the kernel has completed but nobody accepted yet may carry a request
  // already, and shutting the listener down would reset them: take them first (each is answered
  // within the drain time: 503 for an upgrade or a push). Shutting a listener down then completes
  // its multishot accept.
  const std::pair<int, ConnKind> listeners[] = {{setup_.client_listen_fd, ConnKind::client},
                                                {setup_.api_listen_fd, ConnKind::api}};
  for (auto [listen_fd, kind] : listeners) {
    if (listen_fd < 0) continue;
    for (int fd; (fd = io_.accept_now(listen_fd)) >= 0;) admit(kind, fd);
    io_.shutdown(listen_fd, SHUT_RDWR);
  }
  LOG_DEBUG("shard %u: draining %u connections", setup_.index, slab_.live());
}

// The room table was cleared (a process died holding its lock, mid-change): put this shard's rooms
// back. Rooms the table can no longer take keep their local members; the log says so.
void Shard::resync_room_table() {
  room_table_epoch_ = setup_.room_table.resync_epoch();
  uint32_t lost = 0;
  rooms_.for_each_room([&](const Room& room) {
    if (!setup_.room_table.add(setup_.index, room.name)) ++lost;
  });
  LOG_WARN("shard %u: room table rebuilt after a process died holding it%s", setup_.index,
           lost ? "; some rooms did not fit in rooms_max and get no cluster traffic" : "");
}

}  // namespace ringcast
