// The shard's event loop: set-up, the turn with its phases in their fixed order, the dispatch of every
// completion to the unit it belongs to, the ring's pressure, and the drain at shutdown.
#include "engine/shard/shard.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/broadcast/users.h"
#include "engine/codec/tls_hello.h"
#include "engine/limits.h"
#include "engine/node/jetstream.h"

namespace ringcast {
namespace {

FanoutLimits fanout_limits(const Config& c) {
  FanoutLimits l;
  l.merge_window_ns = static_cast<int64_t>(c.merge_window_ms) * 1000000;
  l.batch_items_max = c.merge_batch_items_max;
  l.frame_bytes_max = c.merge_frame_bytes_max;
  l.entries_per_drain_max = limits::kEntriesPerDrainMax;
  return l;
}

ApiContext api_context(const ShardSetup& setup, Publisher& publisher) {
  ApiContext api;
  api.ring = setup.ring;
  api.publisher = &publisher;
  api.stats = &setup.shared->stats[setup.index];
  api.all_stats = setup.shared->stats;
  api.shard_count = setup.shard_count;
  api.config = setup.config;
  api.node = NodeView{&setup.room_table, &setup.shared->cluster};
  return api;
}

}  // namespace

Shard::Shard(const ShardSetup& setup)
    : setup_(setup),
      config_(*setup.config),
      settings_(*setup.settings),
      stats_(setup.shared->stats[setup.index]),
      // Clients and API connections have separate budgets (see Conns::admit) in one slab.
      slab_(setup.config->conns_per_shard_max + setup.config->api_conns_per_shard_max),
      tls_(stats_),
      sender_(io_, frames_, slab_, tls_, stats_, config_),
      conns_(slab_, io_, frames_, sender_, stats_, config_),
      encodings_(frames_, settings_.nano_routes, config_.nano_push_route,
                 CompressionOptions{config_.compression_level, config_.compression_min_bytes}, &stats_),
      delivery_(conns_, sender_, encodings_, stats_),
      fanout_(setup.ring, frames_, rooms_, fanout_limits(config_), &stats_),
      publisher_(settings_.publish),
      membership_(config_, settings_, stats_, conns_, rooms_, fanout_, delivery_, publisher_, setup.ring,
                  setup_.room_table, setup.index),
      gopush_(config_, stats_, conns_, sender_, frames_, membership_),
      nano_(config_, settings_, stats_, conns_, sender_, frames_, membership_, publisher_, setup.ring,
            setup.index),
      streams_(config_, stats_, conns_, sender_, frames_, membership_),
      http_(HttpConnSetup{&config_, &settings_, &stats_, &conns_, &sender_, &membership_, &streams_,
                          &publisher_, setup.ring, setup.shared->stats, setup.shard_count, setup.api_port}),
      api_(ApiConnSetup{&config_, &stats_, &conns_, &sender_, &rooms_, setup.presence, setup.index,
                        api_context(setup, publisher_)}),
      limit_log_(stats_, setup.index) {
  publisher_.set_claim_record(&setup.ring.control()->claims[setup.index]);
  publisher_.set_cluster_gate(&setup.shared->cluster);
  room_table_epoch_ = setup_.room_table.resync_epoch();
  rooms_.set_on_room_freed([](void* self, RoomId id) { static_cast<Shard*>(self)->on_room_freed(id); }, this);
  Delivery::ReplayHandler replay;
  replay.wanted = [](void* self, const RingEntry& e) { return static_cast<Shard*>(self)->replay_wanted(e); };
  replay.handle = [](void* self, const RingEntry& e, FrameId frame) {
    static_cast<Shard*>(self)->on_replay(e, frame);
  };
  replay.context = this;
  delivery_.set_replay_handler(replay);
}

Shard::~Shard() {
  // (References to TLS contexts the shard never took over, when it was not set up.)
  SSL_CTX_free(setup_.client_tls);
  SSL_CTX_free(setup_.api_tls);
  conns_.for_each([&](Conn& c, uint32_t) {
    delete c.inbuf;
    c.inbuf = nullptr;
    if (c.fd >= 0) io_.close(c.fd);
  });
}

void Shard::on_room_freed(RoomId id) {
  fanout_.drop_batch(id);
  if (is_user_room(rooms_.room(id).name)) return;  // node-local, not a room (users.h)
  stats_.add(Counter::rooms, -1);
  // A JOIN waiting for its replay keeps the room (and the node's subscription to it).
  if (!membership_.recovering_room(rooms_.room(id).name))
    setup_.room_table.remove(setup_.index, rooms_.room(id).name);
}

// JetStream recovery (docs/cluster.md): the bridge's answer to a JOIN with `since` of this shard, in
// ring order with the room's live items. Its items go to the connection; its last entry joins it.
bool Shard::replay_wanted(const RingEntry& e) const {
  return membership_.recoveries_pending() && jetstream::ticket_shard(e.origin) == setup_.index;
}

void Shard::on_replay(const RingEntry& e, FrameId frame) {
  PendingRecovery* p = membership_.pending_recovery(e.origin);
  if (!p) return;  // it left, closed or timed out meanwhile
  if (!conns_.constructed(p->conn) || conns_[p->conn].generation != p->generation ||
      conns_[p->conn].phase != Phase::open || conns_[p->conn].close_sent) {
    membership_.drop_recovery(e.origin);
    return;
  }
  if (frame != kNil) {
    delivery_(p->conn, &frame, 1);
    p->replayed += e.item_count;
  }
  if (e.flags & jetstream::kReplayDone)
    finish_recovery(e.origin, jetstream::control_value(e), !(e.flags & jetstream::kReplayFailed));
}

// The connection's protocol answers its JOIN (go-push: JOINED; SSE and NDJSON: the joined marker).
void Shard::finish_recovery(uint32_t ticket, uint64_t position, bool recovered) {
  const PendingRecovery* p = membership_.pending_recovery(ticket);
  if (!p) return;
  if (conns_.constructed(p->conn) && is_http_stream(conns_[p->conn].protocol))
    streams_.finish_recovery(ticket, position, recovered);
  else
    gopush_.finish_recovery(ticket, position, recovered);
}

// JOINs whose replay did not come in time join now, told recovered:false (the bridge or NATS is down).
void Shard::expire_recoveries(int64_t now_ns) {
  expired_.clear();
  membership_.expired_recoveries(now_ns, expired_);
  for (uint32_t ticket : expired_) finish_recovery(ticket, 0, false);
}

bool Shard::setup(std::string& error) {
  tls_.attach(setup_.client_tls, setup_.api_tls, setup_.tls_mailbox, setup_.tls_kernel_tx);
  setup_.client_tls = setup_.api_tls = nullptr;  // (the references are tls_'s now)
  if (!io_.init(limits::kSubmissionEntries, limits::kCompletionEntries, error)) return false;
  if (!io_.setup_buffers(config_.recv_buffer_count, config_.recv_buffer_bytes, error)) return false;
  conns_.set_now(clock::monotonic_ns());
  // A restarted shard frees its presence box (its previous life may have died answering) and moves to
  // a new incarnation, so the connection ids it hands out differ from its predecessor's.
  const uint32_t incarnation = setup_.presence.valid() ? setup_.presence.reset(setup_.index) : 0;
  ConnEvents events;
  events.listener = this;
  events.leaving = [](void* s, Conn& c, uint32_t id) { static_cast<Shard*>(s)->leaving(c, id); };
  events.closing = [](void* s, Conn& c, uint32_t id, std::string_view reason) {
    static_cast<Shard*>(s)->closing(c, id, reason);
  };
  events.released = [](void* s, Conn& c, uint32_t id) { static_cast<Shard*>(s)->released(c, id); };
  events.last_bytes = [](void* s, Conn& c, uint32_t id) {
    Shard& shard = *static_cast<Shard*>(s);
    if (!c.tls || !shard.tls_.close_notify(id)) return false;
    shard.sender_.wake(c, id);
    return true;
  };
  conns_.attach(events, setup_.index, incarnation, conns_.now_tick());
  fanout_.attach(setup_.index, setup_.wake_fd);
  io_.read(setup_.wake_fd, &wake_value_, sizeof(wake_value_), user_data(Op::wake, 0, 0));
  arm_accepts();
  limit_log_.rebase();
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
//     into the ring), finished sends; then presence queries other shards left in our box, and ours;
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
  conns_.set_now(clock::monotonic_ns());
  const int64_t now_ns = conns_.now_ns();
  io_.drain_completions([this](const Completion& c) { on_completion(c); });
  // Every buffer is back now: half of them go to connections that found none, the rest stay for the
  // connections whose recv is armed.
  if (conns_.recv_starved()) conns_.rearm_starved(config_.recv_buffer_count / 2);

  if (!stopping_ && (setup_.shared->stopping.load(std::memory_order_relaxed) ||
                     setup_.shared->shard_stop[setup_.index].load(std::memory_order_relaxed)))
    begin_shutdown();
  if (setup_.room_table.resync_epoch() != room_table_epoch_) resync_room_table();
  if (setup_.presence.valid()) setup_.presence.serve(setup_.index, rooms_, setup_.ring);
  api_.poll_presence();

  fanout_.drain(now_ns, delivery_);
  if (membership_.recoveries_pending()) expire_recoveries(now_ns);
  conns_.apply_cuts();
  fanout_.expire_windows(now_ns, delivery_);
  if (stopping_) fanout_.flush_all(delivery_);
  conns_.apply_cuts();
  delivery_.end_fanout();
  conns_.advance_timers([this](uint32_t id) { on_timer(id); });
  if (!stopping_ && accept_retry_ns_ && now_ns >= accept_retry_ns_) {
    accept_retry_ns_ = 0;
    arm_accepts();
  }
  if (now_ns - pressure_checked_ns_ > limits::kPressureCheckNs) {
    relieve_ring_pressure();
    frames_.trim_idle_chunks();
    limit_log_.report(now_ns);
  }
  sender_.flush();
  fanout_.publish_held();

  if (stopping_) {
    if (conns_.live() == 0 && !accept_armed_client_ && !accept_armed_api_) {
      fanout_.detach();
      return false;
    }
    if (now_ns >= drain_deadline_ns_) {
      // The drain time is up: whoever has not finished the close handshake is cut.
      conns_.for_each([&](Conn& c, uint32_t id) { conns_.terminate(c, id); });
      drain_deadline_ns_ = INT64_MAX;
    }
  }

  int64_t wake_at = (static_cast<int64_t>(conns_.now_tick()) + 1) * limits::kTickNs;
  wake_at = std::min(wake_at, fanout_.next_deadline_ns());
  if (accept_retry_ns_) wake_at = std::min(wake_at, accept_retry_ns_);
  if (stopping_) wake_at = std::min(wake_at, drain_deadline_ns_);
  // A parked presence query: the shards answering wake us, but a box another asker holds is retried
  // (and the timeout checked) on a short period.
  if (api_.presence_pending()) wake_at = std::min(wake_at, now_ns + limits::kPresencePollNs);
  if (conns_.recv_starved()) wake_at = std::min(wake_at, now_ns + limits::kStarvedRecvPollNs);
  const bool busy = fanout_.backlog() || sender_.pending();
  if (!busy && fanout_.prepare_to_sleep()) {
    io_.submit(true, std::max<int64_t>(wake_at - now_ns, 1000));
    fanout_.woke_up();
  } else {
    io_.submit(false, 0);
  }
  return true;
}

void Shard::on_completion(const Completion& cqe) {
  const uint32_t id = user_data_id(cqe.user_data);
  switch (user_data_op(cqe.user_data)) {
    case Op::accept_client:
      on_accept(Protocol::upgrade, cqe);
      return;
    case Op::accept_api:
      on_accept(Protocol::api, cqe);
      return;
    case Op::wake:
      if (!setup_.shared->stopping.load(std::memory_order_relaxed) || cqe.res != -ECANCELED)
        io_.read(setup_.wake_fd, &wake_value_, sizeof(wake_value_), user_data(Op::wake, 0, 0));
      return;
    case Op::recv:
    case Op::send: {
      const Conn& c = conns_[id];
      // Every operation holds its connection's slot until it completes, so a completion always finds
      // the generation it was issued under.
      RC_ASSERT((c.generation & 0xFFFFFF) == user_data_generation(cqe.user_data) && c.phase != Phase::free);
      if (user_data_op(cqe.user_data) == Op::recv)
        on_recv(id, cqe);
      else
        on_send(id, cqe);
      return;
    }
  }
  RC_ASSERT(false && "unknown operation in completion");
}

void Shard::on_accept(Protocol protocol, const Completion& cqe) {
  bool& armed = on_api_port(protocol) ? accept_armed_api_ : accept_armed_client_;
  if (!cqe.more()) armed = false;
  if (cqe.res < 0) {
    if (stopping_) return;
    if (cqe.res == -EMFILE || cqe.res == -ENFILE || cqe.res == -ENOBUFS || cqe.res == -ENOMEM) {
      // Out of descriptors or memory: back off instead of spinning; one line per kLimitLogNs at most.
      const int64_t now_ns = conns_.now_ns();
      ++accept_backoffs_;
      if (accept_error_logged_ns_ == 0 || now_ns - accept_error_logged_ns_ >= limits::kLimitLogNs) {
        LOG_WARN(
            "shard %u: accept failed: %s; pausing accepts for %lld ms (%u back-offs since the last "
            "line; raise the open-files limit, see tuning/)",
            setup_.index, std::strerror(-cqe.res), static_cast<long long>(limits::kAcceptRetryNs / 1000000),
            accept_backoffs_);
        accept_error_logged_ns_ = now_ns;
        accept_backoffs_ = 0;
      }
      accept_retry_ns_ = now_ns + limits::kAcceptRetryNs;
      return;
    }
    if (!armed) arm_accepts();
    return;
  }
  if (!armed && !stopping_) arm_accepts();
  // Accepted while stopping too: the peer may have sent its request already, and is answered.
  admit(protocol, cqe.res);
}

void Shard::admit(Protocol protocol, int fd) {
  const TlsListener listener = on_api_port(protocol) ? TlsListener::api : TlsListener::client;
  const bool tls = tls_.listener_tls(listener);
  const uint32_t id = conns_.admit(protocol, fd, tls);
  if (id == kNil) return;
  if (tls) tls_.open(id, listener, conns_.capacity());
  membership_.reserve(conns_.capacity());
}

void Shard::on_recv(uint32_t id, const Completion& cqe) {
  Conn& c = conns_[id];
  if (!cqe.more()) c.recv_armed = false;
  if (cqe.res <= 0) {
    if (cqe.has_buffer()) io_.recycle_buffer(cqe.buffer_id());
    if (cqe.res == -ENOBUFS && c.phase != Phase::dead) {
      conns_.starve_recv(c, id);  // every provided buffer was in use: read on when it is its turn
      return;
    }
    // 0: the peer closed its side; <0: reset or our own shutdown. Either way nothing more to read.
    conns_.end(c, id);
    return;
  }
  RC_ASSERT(cqe.has_buffer());
  const uint16_t buffer_id = cqe.buffer_id();
  stats_.add(Counter::bytes_in, cqe.res);
  c.last_rx_tick = static_cast<uint32_t>(conns_.now_tick());
  switch (c.phase) {
    case Phase::handshake:
    case Phase::open:
    case Phase::close_wait:
      if (c.tls)
        on_tls_bytes(c, id, io_.buffer(buffer_id), static_cast<size_t>(cqe.res));
      else
        on_bytes(c, id, io_.buffer(buffer_id), static_cast<size_t>(cqe.res));
      break;
    case Phase::linger:
    case Phase::dead:
    case Phase::free:
      break;  // discarded: we are only waiting for the peer to go
  }
  io_.recycle_buffer(buffer_id);
  // (The record may have been closed, or closed and freed, while its bytes were handled.)
  if (c.phase == Phase::dead)
    conns_.release_if_done(c, id);
  else if (c.phase != Phase::free)
    conns_.arm_recv(c, id);
}

// A connection's bytes go to the handler of its protocol.
void Shard::on_bytes(Conn& c, uint32_t id, uint8_t* data, size_t len) {
  switch (c.protocol) {
    case Protocol::upgrade:
    case Protocol::demo: {
      const Upgraded upgraded = http_.on_bytes(c, id, data, len);
      if (upgraded.upgraded) opened(c, id, upgraded);
      return;
    }
    case Protocol::go_push:
      gopush_.on_bytes(c, id, data, len);
      return;
    case Protocol::nano:
      nano_.on_bytes(c, id, data, len);
      return;
    case Protocol::api:
      api_.on_bytes(c, id, data, len);
      return;
    case Protocol::sse:
    case Protocol::ndjson:
      streams_.on_bytes(c, id, data, len);
      return;
  }
}

// A TLS connection's ciphertext: the handshake, or records whose plaintext goes to the connection's
// protocol as a plain connection's bytes would (piece by piece, as long as the protocol reads on).
void Shard::on_tls_bytes(Conn& c, uint32_t id, const uint8_t* data, size_t len) {
  const bool was_established = tls_.established(id);
  switch (tls_.feed(id, data, len)) {
    case TlsInput::more:
      break;
    case TlsInput::plaintext_http: {
      // The client speaks plain HTTP: the one answer it can read, in one non-blocking write.
      const char* answer = tls::plaintext_http_answer();
      io_.send_now(c.fd, answer, std::strlen(answer));
      conns_.end(c, id);
      return;
    }
    case TlsInput::failed: {
      // OpenSSL wrote an alert saying why: one non-blocking write of it, then the close.
      const uint8_t* alert = nullptr;
      size_t alert_len = 0;
      if (!c.sending && tls_.has_output(id)) {
        tls_.output(id, alert, alert_len);
        io_.send_now(c.fd, alert, alert_len);
      }
      conns_.end(c, id);
      return;
    }
    case TlsInput::closed:
      conns_.end(c, id);
      return;
    case TlsInput::plaintext: {
      // An API connection's idle deadline starts once its handshake is done.
      if (!was_established && on_api_port(c.protocol)) conns_.arm_ms(id, config_.api_idle_timeout_ms);
      uint8_t* plain = nullptr;
      size_t plain_len = 0;
      while ((c.phase == Phase::handshake || c.phase == Phase::open || c.phase == Phase::close_wait) &&
             (plain_len = tls_.read_plaintext(id, plain)) > 0)
        on_bytes(c, id, plain, plain_len);
      if (c.phase != Phase::dead && c.phase != Phase::free && (tls_.failed(id) || tls_.peer_closed(id))) {
        conns_.end(c, id);
        return;
      }
      break;
    }
  }
  if (c.phase != Phase::dead && c.phase != Phase::free && tls_.has_output(id)) sender_.wake(c, id);
}

// A TLS connection still in its TLS handshake at its deadline: ended and counted (no HTTP answer is
// possible yet). True when the timer was handled here.
bool Shard::on_tls_timer(Conn& c, uint32_t id) {
  if (!c.tls || tls_.established(id)) return false;
  if (conns_.unread_input(c, id)) {
    // Its bytes wait on our side (a connect storm): the deadline measures us, not the peer.
    stats_.add(Counter::handshake_deadlines_deferred);
    conns_.arm_ms(id, config_.handshake_timeout_ms);
    return true;
  }
  stats_.add(Counter::tls_handshake_timeouts);
  conns_.end(c, id);
  return true;
}

// The 101 went out: the new protocol takes the connection, and the bytes its client sent right behind
// the request.
void Shard::opened(Conn& c, uint32_t id, const Upgraded& upgraded) {
  if (c.protocol == Protocol::nano)
    nano_.open(c, id);
  else
    gopush_.open(c, id);
  if (!upgraded.rest.empty()) on_bytes(c, id, upgraded.rest.data(), upgraded.rest.size());
  delete upgraded.held;
}

void Shard::on_send(uint32_t id, const Completion& cqe) {
  Conn& c = conns_[id];
  switch (sender_.complete(c, id, cqe.res)) {
    case SendResult::ok:
    case SendResult::retry:
      return;
    case SendResult::slow:
      conns_.cut(c, id);
      conns_.apply_cuts();
      return;
    case SendResult::failed:
      conns_.end(c, id);
      return;
    case SendResult::drained:
      conns_.after_flush(c, id);
      return;
  }
}

void Shard::on_timer(uint32_t id) {
  Conn& c = conns_[id];
  switch (c.phase) {
    case Phase::close_wait:
    case Phase::linger:
      conns_.end(c, id);
      return;
    case Phase::dead:
    case Phase::free:
      return;
    case Phase::handshake:
    case Phase::open:
      break;
  }
  if (on_tls_timer(c, id)) return;
  switch (c.protocol) {
    case Protocol::upgrade:
    case Protocol::demo:
      http_.on_timer(c, id);
      return;
    case Protocol::go_push:
      gopush_.on_timer(c, id);
      return;
    case Protocol::nano:
      nano_.on_timer(c, id);
      return;
    case Protocol::api:
      api_.on_timer(c, id);
      return;
    case Protocol::sse:
    case Protocol::ndjson:
      streams_.on_timer(c, id);
      return;
  }
}

void Shard::closing(Conn& c, uint32_t id, std::string_view reason) {
  // Pomelo: every close we start is announced by a kick packet carrying the reason; an HTTP stream
  // ends with its close event and last chunk.
  if (c.protocol == Protocol::nano) nano_.kick(c, id, reason);
  if (is_http_stream(c.protocol)) streams_.closing(c, id, reason);
}

void Shard::released(Conn& c, uint32_t id) {
  membership_.release(c, id);
  if (c.tls) tls_.release(id);
  if (!on_api_port(c.protocol)) http_.forget(id);  // a demo rate limit outlives the upgrade
  if (c.protocol == Protocol::nano) nano_.forget(id);
}

void Shard::relieve_ring_pressure() {
  pressure_checked_ns_ = conns_.now_ns();
  const uint64_t held = frames_.oldest_held(fanout_.cursor_pos());
  // Past half the ring, the connections holding the oldest frames are the ones stopping producers:
  // cut them (the per-connection byte limit catches most slow consumers long before this).
  if (fanout_.cursor_pos() - held <= setup_.ring.capacity() / 2) return;
  conns_.for_each([&](Conn& c, uint32_t id) {
    if (c.phase != Phase::open || on_api_port(c.protocol) || c.out.empty() || c.close_sent) return;
    if (frames_.head_epoch(c.out) != kNil && frames_.head_epoch(c.out) == frames_.oldest_epoch())
      conns_.cut(c, id);
  });
  conns_.apply_cuts();
}

void Shard::begin_shutdown() {
  stopping_ = true;
  conns_.begin_stopping();
  drain_deadline_ns_ = conns_.now_ns() + static_cast<int64_t>(config_.shutdown_drain_ms) * 1000000;
  fanout_.drain(conns_.now_ns(), delivery_);  // what was accepted before the stop still goes out
  fanout_.flush_all(delivery_);
  delivery_.end_fanout();
  conns_.for_each([&](Conn& c, uint32_t id) {
    if (c.phase == Phase::dead) return;
    if (on_api_port(c.protocol)) {
      api_.begin_stopping(c, id);
    } else if (c.phase == Phase::open) {
      conns_.close_ws(c, id, ws::close_code::going_away, "server shutting down");
    } else if (c.phase == Phase::handshake) {
      conns_.terminate(c, id);
    }
  });
  // Stop accepting. Connections the kernel has completed but nobody accepted yet may carry a request
  // already, and shutting the listener down would reset them: take them first (each is answered
  // within the drain time: 503 for an upgrade or a push). Shutting a listener down then completes
  // its multishot accept.
  const std::pair<int, Protocol> listeners[] = {{setup_.client_listen_fd, Protocol::upgrade},
                                                {setup_.api_listen_fd, Protocol::api}};
  for (auto [listen_fd, protocol] : listeners) {
    if (listen_fd < 0) continue;
    for (int fd; (fd = io_.accept_now(listen_fd)) >= 0;) admit(protocol, fd);
    io_.shutdown(listen_fd, SHUT_RDWR);
  }
  LOG_DEBUG("shard %u: draining %u connections", setup_.index, conns_.live());
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
