// The lifecycle of a shard's connections (see conns.h).
#include "engine/conn/conns.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "engine/broadcast/users.h"
#include "engine/codec/http.h"

namespace ringcast {

void Conns::attach(const ConnEvents& events, uint32_t shard_index, uint32_t incarnation, uint64_t now_tick) {
  events_ = events;
  shard_index_ = shard_index;
  incarnation_ = incarnation;
  timers_ = TimerWheel(now_tick);
}

uint32_t Conns::admit(Protocol protocol, int fd, bool tls) {
  stats_.add(Counter::conns_accepted);
  const bool api = on_api_port(protocol);
  uint32_t& live = api ? live_api_ : live_clients_;
  const uint32_t id =
      live < (api ? config_.api_conns_per_shard_max : config_.conns_per_shard_max) ? slab_.allocate() : kNil;
  if (id == kNil) {
    // The shard is full: a clear answer in one non-blocking write, then close.
    static const std::string busy = [] {
      std::string r;
      http::append_error(r, 503, "server full: too many connections on this shard", false);
      return r;
    }();
    static const std::string api_busy = [] {
      std::string r;
      http::append_error(r, 503, "too many push API connections on this shard (api_conns_per_shard_max)",
                         false);
      return r;
    }();
    const std::string& answer = api ? api_busy : busy;
    if (!tls) io_.send_now(fd, answer.data(), answer.size());
    io_.close(fd);
    stats_.add(api ? Counter::api_conns_refused : Counter::conns_refused);
    return kNil;
  }
  ++live;
  timers_.reserve(slab_.capacity());
  Conn& c = slab_[id];
  c.fd = fd;
  c.protocol = protocol;
  c.phase = api ? Phase::open : Phase::handshake;
  c.tls = tls;
  c.tls_sealed = tls;
  c.after_flush = AfterFlush::nothing;
  c.last_rx_tick = static_cast<uint32_t>(now_tick_);
  c.recv_armed = false;
  arm_recv(c, id);
  arm_ms(id, stopping_     ? limits::kStopGraceMs
             : api && !tls ? config_.api_idle_timeout_ms
                           : config_.handshake_timeout_ms);
  return id;
}

void Conns::arm_recv(Conn& c, uint32_t id) {
  if (c.recv_armed) return;
  c.recv_armed = true;
  io_.recv_multishot(c.fd, user_data(Op::recv, c.generation, id));
}

void Conns::starve_recv(Conn& c, uint32_t id) {
  stats_.add(Counter::recv_buffers_exhausted);
  starved_.push_back(StarvedRecv{id, c.generation});
}

void Conns::rearm_starved(uint32_t max) {
  uint32_t armed = 0;
  while (armed < max && starved_head_ < starved_.size()) {
    const StarvedRecv s = starved_[starved_head_++];
    Conn& c = slab_[s.id];
    // Gone, ending, or armed meanwhile (a deadline found its bytes waiting: unread_input).
    if (c.generation != s.generation || c.phase == Phase::free || c.phase == Phase::dead || c.recv_armed)
      continue;
    arm_recv(c, s.id);
    ++armed;
  }
  if (starved_head_ < starved_.size()) return;
  starved_head_ = 0;
  starved_.clear();
  // A storm's queue is not kept for good: one entry per connection of the shard at its peak.
  if (starved_.capacity() > kStarvedKeep) starved_.shrink_to_fit();
}

bool Conns::unread_input(Conn& c, uint32_t id) {
  if (!c.recv_armed) {
    arm_recv(c, id);
    return true;
  }
  return io_.unread_bytes(c.fd) > 0;
}

void Conns::leave(Conn& c, uint32_t id) {
  if (!is_subscriber(c.protocol) || (c.phase != Phase::open && c.phase != Phase::close_wait)) return;
  if (c.close_sent) return;  // left when the close was queued
  events_.leaving(events_.listener, c, id);
}

void Conns::close_ws(Conn& c, uint32_t id, uint16_t code, std::string_view reason, bool slow_consumer) {
  if (c.close_sent || c.phase == Phase::dead) return;
  leave(c, id);
  c.close_sent = true;
  // Pushes not yet sent are dropped (counted); the handshake answer and replies queued before stay.
  // At shutdown they stay too: what was accepted before the stop still goes out, ahead of the close
  // (within shutdown_drain_ms).
  const bool draining = stopping_ && code == ws::close_code::going_away;
  if (!draining)
    sender_.drop_unsent(c, /*pushes_only=*/true,
                        slow_consumer ? DropReason::slow_consumer : DropReason::closing);
  if (!c.close_received) events_.closing(events_.listener, c, id, reason);
  if (is_http_stream(c.protocol)) {
    // An HTTP stream has no close handshake: its protocol queued the last event and the final chunk
    // (closing, above); once they are out our side is shut and we linger. A reader too slow to take
    // even those is ended by the close timeout.
    if (code == ws::close_code::going_away && stopping_) stats_.add(Counter::close_going_away);
    c.phase = Phase::close_wait;
    arm_ms(id, config_.close_timeout_ms);
    close_after_answer(c, id);
    return;
  }
  char payload[ws::kMaxControlPayloadBytes];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xFF);
  // A close reason is at most 123 bytes; ours are constant ASCII, cut to fit.
  const size_t reason_len = std::min(reason.size(), ws::kMaxControlPayloadBytes - 2);
  // (An empty reason may have a null data(): memcpy must not see it, even for 0 bytes.)
  if (reason_len) std::memcpy(payload + 2, reason.data(), reason_len);
  sender_.queue_ws(c, id, ws::Opcode::close, {payload, 2 + reason_len});
  if (code == ws::close_code::going_away && stopping_) stats_.add(Counter::close_going_away);
  c.phase = Phase::close_wait;
  arm_ms(id, config_.close_timeout_ms);
}

void Conns::answer_and_close(Conn& c, uint32_t id, std::string_view response) {
  delete c.inbuf;
  c.inbuf = nullptr;
  sender_.queue_copy(c, id, response);
  c.after_flush = AfterFlush::linger;
  // Nothing more is read from this peer; if the answer cannot even be sent in time, it is cut.
  c.phase = Phase::linger;
  arm_ms(id, limits::kLingerMs + config_.close_timeout_ms);
}

void Conns::close_after_answer(Conn& c, uint32_t id) {
  c.after_flush = AfterFlush::linger;
  if (sender_.idle(c, id)) after_flush(c, id);
}

void Conns::after_flush(Conn& c, uint32_t id) {
  switch (c.after_flush) {
    case AfterFlush::nothing:
      return;
    case AfterFlush::terminate:
      end(c, id);
      return;
    case AfterFlush::linger:
      // (A TLS connection's close_notify goes out first: the answer then ends where the peer can
      // tell it was not cut short.)
      if (events_.last_bytes && events_.last_bytes(events_.listener, c, id)) return;
      // Shut our side and keep reading until the peer closes: closing at once could turn the bytes
      // it is still sending into a reset that destroys the answer we just sent.
      c.after_flush = AfterFlush::nothing;
      io_.shutdown(c.fd, SHUT_WR);
      c.phase = Phase::linger;
      arm_ms(id, limits::kLingerMs);
      return;
  }
}

void Conns::cut(Conn& c, uint32_t id) {
  // Cut after the current fan-out (membership must not change during it); never holds the others back.
  if (c.cut) return;
  c.cut = true;
  cuts_.push_back(id);
}

void Conns::apply_cuts() {
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

void Conns::terminate(Conn& c, uint32_t id) {
  if (c.phase == Phase::dead || c.phase == Phase::free) return;
  leave(c, id);
  timers_.disarm(id);
  delete c.inbuf;
  c.inbuf = nullptr;
  if (!c.parsing) c.parser.release();  // else the WebSocket reader releases it once feed() returns
  sender_.drop_unsent(c, /*pushes_only=*/false, DropReason::closing);
  // Shutting the socket down ends the multishot recv (and any send) in the kernel; the slot is freed
  // when both have completed.
  io_.shutdown(c.fd, SHUT_RDWR);
  c.phase = Phase::dead;
}

void Conns::release_if_done(Conn& c, uint32_t id) {
  if (c.phase != Phase::dead || c.recv_armed || c.sending || c.parsing) return;
  frames_.clear(c.out);
  events_.released(events_.listener, c, id);
  --(on_api_port(c.protocol) ? live_api_ : live_clients_);
  io_.close(c.fd);
  const uint32_t next_generation = c.generation + 1;
  c.~Conn();
  new (&c) Conn();
  c.generation = next_generation;
  slab_.release(id);
}

uint64_t Conns::public_id(const Conn& c, uint32_t id) const {
  return pack_conn_id(ConnId{shard_index_, incarnation_, c.generation, id});
}

std::string Conns::id_text(const Conn& c, uint32_t id) const {
  return format_conn_id(ConnId{shard_index_, incarnation_, c.generation, id});
}

uint32_t Conns::resolve(std::string_view text) const {
  ConnId cid;
  if (!parse_conn_id(text, cid) || cid.shard != shard_index_ || cid.incarnation != (incarnation_ & 0xFF))
    return kNil;
  if (!slab_.constructed(cid.slot)) return kNil;
  const Conn& c = (*this)[cid.slot];
  if ((c.generation & ((1u << kConnIdGenerationBits) - 1)) != cid.generation || !is_subscriber(c.protocol) ||
      c.phase != Phase::open || c.close_sent)
    return kNil;
  return cid.slot;
}

}  // namespace ringcast
