// Where the fan-out hands a frame to one member: the member's encoding of it (encodings.h), queued on
// the send path; a member whose backlog passed the hard bound is cut once the fan-out is over. Also
// finds the member a push to one connection id names. This is the functor the fan-out's templates
// are instantiated with (fanout.h), so delivering costs no virtual call.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/broadcast/encodings.h"
#include "engine/broadcast/ring.h"
#include "engine/broadcast/sender.h"
#include "engine/conn/conns.h"
#include "engine/node/stats.h"

namespace ringcast {

class Delivery {
 public:
  Delivery(Conns& conns, Sender& sender, Encodings& encodings, ShardStats& stats)
      : conns_(conns), sender_(sender), encodings_(encodings), stats_(stats) {}

  // The member's share of a drain: n frames of one room, in order.
  void operator()(uint32_t id, const FrameId* frames, uint32_t n) {
    Conn& c = conns_[id];
    for (uint32_t i = 0; i < n; ++i) {
      if (c.cut) {
        stats_.add(Counter::frames_dropped, n - i);
        stats_.add(Counter::frames_dropped_slow, n - i);
        return;
      }
      const FrameId encoded = encodings_.encode(frames[i], c.encoding);
      if (encoded == kNil) continue;
      if (!sender_.push(c, id, encoded)) conns_.cut(c, id);
    }
  }
  // The fan-out's hints for members a few steps ahead: the record, then the end of its queue.
  void prefetch_record(uint32_t id) const { __builtin_prefetch(&conns_[id], 1); }
  void prefetch_queue(uint32_t id) const { sender_.prefetch_queue_tail(conns_[id]); }
  uint32_t resolve_conn(std::string_view conn_id) const { return conns_.resolve(conn_id); }
  // The fan-out phase is over: encodings kept for its frames go.
  void end_fanout() { encodings_.end_fanout(); }

  // JetStream recovery (docs/cluster.md): the entries of a replay the NATS bridge answers a JOIN with
  // go to whoever set the handler (the shard's go-push connections); `wanted` is the cheap check that
  // the entry is for this shard at all.
  struct ReplayHandler {
    bool (*wanted)(void* context, const RingEntry& entry) = nullptr;
    void (*handle)(void* context, const RingEntry& entry, FrameId frame) = nullptr;
    void* context = nullptr;
  };
  void set_replay_handler(const ReplayHandler& handler) { replay_ = handler; }
  bool replay_wanted(const RingEntry& entry) const {
    return replay_.wanted && replay_.wanted(replay_.context, entry);
  }
  void replay(const RingEntry& entry, FrameId frame) { replay_.handle(replay_.context, entry, frame); }

 private:
  Conns& conns_;
  Sender& sender_;
  Encodings& encodings_;
  ShardStats& stats_;
  ReplayHandler replay_;
};

}  // namespace ringcast
