// The lifecycle of a shard's connections: admission within the per-port budgets, the timer wheel of
// their deadlines, the closes (a WebSocket close handshake, an HTTP answer then linger, a slow
// consumer's cut), the end of a connection and the release of its record once nothing of it is in
// flight. Protocols are told of what concerns them through ConnEvents; this unit knows none of them.
// Also the shard's clock for its connections and the node-unique ids they are known by.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/broadcast/frames.h"
#include "engine/broadcast/sender.h"
#include "engine/config.h"
#include "engine/conn/conn.h"
#include "engine/limits.h"
#include "engine/node/stats.h"
#include "engine/shard/io.h"
#include "engine/shard/timer_wheel.h"

namespace ringcast {

// What the lifecycle tells the protocols (the shard dispatches each to the connection's handler).
// Called once per connection per event, never per message. Plain function pointers over the
// listener, like Rooms' on_room_freed, not a virtual interface: the sanitizer build's vptr check of
// a virtual call probes memory through a pipe(), which fails once every descriptor is in use, and
// the lifecycle runs exactly then (connections closing while accepts back off, test_fd_exhaustion).
struct ConnEvents {
  void* listener = nullptr;
  // An open WebSocket or HTTP stream leaves its rooms: our close is queued, or the connection ends.
  void (*leaving)(void* listener, Conn& c, uint32_t id) = nullptr;
  // A close we start, before its close frame is queued: the protocol's last words (Pomelo's kick; an
  // HTTP stream's close event and final chunk, which are all it gets).
  void (*closing)(void* listener, Conn& c, uint32_t id, std::string_view reason) = nullptr;
  // The record is about to be freed: side tables drop what they hold for it.
  void (*released)(void* listener, Conn& c, uint32_t id) = nullptr;
  // Everything queued is sent and our side is about to be shut (linger): true when something more
  // was queued first (TLS's close_notify), to be sent before the shutdown.
  bool (*last_bytes)(void* listener, Conn& c, uint32_t id) = nullptr;
};

class Conns {
 public:
  Conns(ConnSlab& slab, Io& io, Frames& frames, Sender& sender, ShardStats& stats, const Config& config)
      : slab_(slab), io_(io), frames_(frames), sender_(sender), stats_(stats), config_(config) {}
  Conns(const Conns&) = delete;
  Conns& operator=(const Conns&) = delete;

  // Set-up: who hears of lifecycle events, and the parts of this shard's connection ids.
  void attach(const ConnEvents& events, uint32_t shard_index, uint32_t incarnation, uint64_t now_tick);

  // ---- the shard's clock, set once per loop turn ----
  void set_now(int64_t now_ns) {
    now_ns_ = now_ns;
    now_tick_ = static_cast<uint64_t>(now_ns / limits::kTickNs);
  }
  int64_t now_ns() const { return now_ns_; }
  uint64_t now_tick() const { return now_tick_; }
  // The node is stopping: drains instead of serving.
  void begin_stopping() { stopping_ = true; }
  bool stopping() const { return stopping_; }

  // ---- records ----
  Conn& operator[](uint32_t id) { return slab_[id]; }
  const Conn& operator[](uint32_t id) const { return const_cast<ConnSlab&>(slab_)[id]; }
  uint32_t capacity() const { return slab_.capacity(); }
  bool constructed(uint32_t id) const { return slab_.constructed(id); }
  uint32_t live() const { return slab_.live(); }
  // Calls fn(Conn&, id) for every record in use (not free).
  template <class Fn>
  void for_each(Fn&& fn) {
    for (uint32_t id = 0; id < slab_.capacity(); ++id)
      if (slab_.constructed(id) && slab_[id].phase != Phase::free) fn(slab_[id], id);
  }

  // A new connection on the client port (Protocol::upgrade) or the API port (Protocol::api), `tls`
  // when that listener speaks TLS: its record, its multishot recv and its first deadline (a TLS
  // connection has handshake_timeout_ms for its TLS handshake on either port). kNil when its port's
  // budget is spent: it was answered 503 (in plain HTTP only: a TLS client cannot read it) and closed.
  uint32_t admit(Protocol protocol, int fd, bool tls);
  // Re-arms the connection's multishot recv (the kernel ended it).
  void arm_recv(Conn& c, uint32_t id);
  // The kernel ended the connection's recv because every provided buffer was in use (a burst, a
  // connect storm): it waits its turn instead of being re-armed at once. Re-armed at once, thousands of
  // connections of a storm would each meet the empty buffer ring again on every turn, and the shard
  // would spend its core on failed receives (in one measured storm, 40% of it).
  void starve_recv(Conn& c, uint32_t id);
  // Re-arms up to `max` of the connections waiting for a buffer, oldest first (once per turn, after
  // the completions, which gave every buffer back).
  void rearm_starved(uint32_t max);
  bool recv_starved() const { return starved_head_ < starved_.size(); }
  // The peer's bytes wait on our side: its recv is not in the kernel, or the kernel holds bytes we have
  // not read (a burst took every provided buffer, or they came after this turn's last look). A deadline
  // then measures our backlog, not the peer.
  bool unread_input(Conn& c, uint32_t id);

  // ---- timers ----
  void arm_ms(uint32_t id, uint32_t ms) { timers_.arm(id, now_tick_ + limits::ticks_for_ms(ms)); }
  void arm_at_tick(uint32_t id, uint64_t tick) { timers_.arm(id, tick); }
  // Fires fn(id) for every deadline that passed.
  template <class Fn>
  void advance_timers(Fn&& fn) {
    timers_.advance(now_tick_, fn);
  }

  // ---- closes ----
  // Starts the WebSocket close handshake: leaves the rooms, drops the unsent pushes (not at a
  // shutdown's going-away: what was accepted before the stop still goes out), queues the close frame
  // and waits close_timeout_ms for the peer's. An HTTP stream (SSE, NDJSON) gets its protocol's last
  // event and final chunk instead (ConnEvents::closing), then lingers.
  void close_ws(Conn& c, uint32_t id, uint16_t code, std::string_view reason, bool slow_consumer = false);
  // An HTTP error answer: nothing more is read from the peer; once the answer is out, linger.
  void answer_and_close(Conn& c, uint32_t id, std::string_view response);
  // The answer queued last is final: linger once it is out.
  void close_after_answer(Conn& c, uint32_t id);
  // Everything queued has been sent: the connection's after-flush action.
  void after_flush(Conn& c, uint32_t id);
  // Marks a slow consumer during a fan-out; apply_cuts() closes it (1008) once the fan-out is over,
  // so room membership never changes in the middle of one.
  void cut(Conn& c, uint32_t id);
  void apply_cuts();

  // ---- ends ----
  // Shuts the socket down (ending its operations in the kernel); the record waits for them.
  void terminate(Conn& c, uint32_t id);
  // Frees the record once the connection is dead and nothing of it is in flight.
  void release_if_done(Conn& c, uint32_t id);
  void end(Conn& c, uint32_t id) {
    terminate(c, id);
    release_if_done(c, id);
  }

  // ---- ids (HELLO, BOUND, presence events, POST /push/conn) ----
  uint64_t public_id(const Conn& c, uint32_t id) const;
  std::string id_text(const Conn& c, uint32_t id) const;
  // The open WebSocket or HTTP stream a connection id names, if it is this shard's, else kNil.
  uint32_t resolve(std::string_view text) const;

 private:
  void leave(Conn& c, uint32_t id);

  ConnSlab& slab_;
  Io& io_;
  Frames& frames_;
  Sender& sender_;
  ShardStats& stats_;
  const Config& config_;
  ConnEvents events_;
  TimerWheel timers_;
  std::vector<uint32_t> cuts_;
  struct StarvedRecv {
    uint32_t id;
    uint32_t generation;
  };
  std::vector<StarvedRecv> starved_;  // FIFO from starved_head_; entries gone stale are skipped
  static constexpr size_t kStarvedKeep = 1024;  // entries an emptied queue keeps allocated
  size_t starved_head_ = 0;
  uint32_t shard_index_ = 0;
  uint32_t incarnation_ = 0;  // this shard's starts (connection ids)
  uint32_t live_clients_ = 0;
  uint32_t live_api_ = 0;
  int64_t now_ns_ = 0;
  uint64_t now_tick_ = 0;
  bool stopping_ = false;
};

}  // namespace ringcast
