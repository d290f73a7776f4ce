// Fan-out: a shard drains the broadcast ring, groups the entries by room, turns each room's group into
// one PUSH frame (the entry's own frame in the ring when there is one entry, else a frame coalesced
// once for the shard) and hands a reference to that frame to every local member. With a merge window
// (go-push's maxMergerDelay) a room's group waits up to the window before it is emitted. A room whose
// drain made several frames (groups cut at their caps) hands them to each member together, member by
// member, so each member's record and queue are touched once per drain rather than once per frame.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include "engine/broadcast/frames.h"
#include "engine/broadcast/publish.h"
#include "engine/broadcast/ring.h"
#include "engine/broadcast/room.h"
#include "engine/codec/frame.h"
#include "engine/limits.h"
#include "engine/node/stats.h"

namespace ringcast {

struct FanoutLimits {
  int64_t merge_window_ns = 0;
  uint32_t batch_items_max = 100;
  size_t frame_bytes_max = 256 * 1024;
  uint32_t entries_per_drain_max = limits::kEntriesPerDrainMax;
};

class Fanout {
 public:
  Fanout(Ring ring, Frames& frames, RoomIndex& rooms, const FanoutLimits& limits, ShardStats* stats)
      : ring_(ring), frames_(frames), rooms_(rooms), limits_(limits), stats_(stats) {}

  // Registers this shard as ring consumer `slot`; consumption starts at the current head.
  void attach(uint32_t slot, int wake_fd) {
    slot_ = slot;
    ring_.attach(slot, wake_fd, pos_, seq_);
  }
  void detach() { ring_.detach(slot_); }

  // Drains committed entries (up to the per-drain cap) and fans them out. `deliver(conn, frames, n)`
  // queues n frames, in order, on a connection; it must not change room membership (cuts are deferred
  // by the caller). Returns the number of entries drained.
  template <class Deliver>
  uint32_t drain(int64_t now_ns, Deliver& deliver);

  // Emits the batches whose merge window has passed.
  template <class Deliver>
  void expire_windows(int64_t now_ns, Deliver& deliver);

  // Emits every pending batch now (shutdown, or the window setting is 0).
  template <class Deliver>
  void flush_all(Deliver& deliver);

  // When the earliest merge window ends, or INT64_MAX.
  int64_t next_deadline_ns() const { return windows_.empty() ? INT64_MAX : windows_.front().deadline_ns; }
  // True when committed entries wait at the cursor (the last drain stopped at its cap).
  bool backlog() const { return ring_.peek(pos_, seq_) != nullptr; }

  // Publishes the oldest ring position this shard still references.
  void publish_held() {
    ring_.slot(slot_).held_pos.store(frames_.oldest_held(pos_), std::memory_order_release);
  }
  bool prepare_to_sleep() { return ring_.prepare_to_sleep(slot_, pos_, seq_); }
  void woke_up() { ring_.woke_up(slot_); }
  uint64_t cursor_pos() const { return pos_; }
  // The sequence number the next drain starts at: every entry before it has been fanned out here, or
  // waits in a room's batch.
  uint64_t cursor_seq() const { return seq_; }

  // Emits a room's waiting batch now, before its window ends (a recovering member joins: what it
  // already has must not reach it again from the batch), after the frames the current drain sealed for
  // the room, so the members keep the room's order.
  template <class Deliver>
  void emit_now(RoomId id, Deliver& deliver);

  // A room is being freed: its pending batch has nobody left to go to.
  void drop_batch(RoomId id) { clear_batch(rooms_.room(id).batch); }

 private:
  struct Window {
    int64_t deadline_ns;
    RoomId room;
    uint32_t room_generation;
    uint32_t batch_serial;
  };

  // Empties a batch (emitted or dropped): its epoch is let go, and a window armed for it is stale now.
  void clear_batch(RoomBatch& b) {
    if (b.epoch != kNil) frames_.epoch_unref(b.epoch);
    b.entries.clear();
    b.items = 0;
    b.bytes = 0;
    b.epoch = kNil;
    ++b.serial;
  }

  uint32_t drain_epoch() {
    if (epoch_ == kNil) epoch_ = frames_.begin_epoch(drain_start_pos_);
    return epoch_;
  }

  // The whole coalesced frame (header, envelope, items and commas) if the batch also took `e`:
  // b.bytes already counts one separator per entry, and one of them is not needed.
  static uint64_t coalesced_frame_bytes(const RoomBatch& b, const RingEntry& e) {
    const uint64_t payload = kPushPrefix.size() + e.suffix().size() + b.bytes + e.items_len;
    return ws::server_header_bytes(payload) + payload;
  }

  template <class Deliver>
  void emit(RoomId id, Deliver& deliver);
  // The room's batch as one frame (the batch is emptied).
  FrameId make_frame(RoomBatch& b);
  // The batch is cut (at its item or byte cap) in the middle of a drain: its frame waits, in the
  // room's sealed chain, for the end of the drain.
  void seal(RoomId id);
  // Hands the frames to every member of the room, member by member, then lets go of the frames
  // nobody took.
  template <class Deliver>
  void deliver_frames(Room& r, const FrameId* frames, uint32_t n, Deliver& deliver);
  // A push to one connection id: the entry's own frame, now, if the connection is this shard's and
  // still open (Deliver::resolve_conn says). Not coalesced with the room batches of the same drain.
  template <class Deliver>
  void deliver_to_conn(const RingEntry& e, Deliver& deliver);
  // JetStream recovery: an entry of a replay for a JOIN of this shard, handed to Deliver::replay with
  // its frame (kNil for the last entry, which has none). The room's waiting batch goes out first: it
  // holds items the replay has, and the joining connection must not get them again.
  template <class Deliver>
  void deliver_replay(const RingEntry& e, Deliver& deliver);
  FrameId build_coalesced(const RoomBatch& b);

  Ring ring_;
  Frames& frames_;
  RoomIndex& rooms_;
  FanoutLimits limits_;
  ShardStats* stats_;
  uint32_t slot_ = 0;
  uint64_t pos_ = 0;  // read cursor
  uint64_t seq_ = 0;  // sequence expected at the cursor
  uint64_t drain_start_pos_ = 0;
  uint32_t epoch_ = kNil;  // this drain's epoch, opened on first need
  std::vector<RoomId> touched_;
  std::deque<Window> windows_;
  struct Sealed {
    FrameId frame;
    uint32_t next;
  };
  std::vector<Sealed> sealed_;        // this drain's sealed frames, chained per room
  std::vector<FrameId> room_frames_;  // one room's frames of this drain, in order
  std::vector<FrameId> now_frames_;   // one room's frames emitted before the drain ends (emit_now)

  // Moves the room's sealed frames, in order, to the end of `out`.
  void take_sealed(RoomBatch& b, std::vector<FrameId>& out) {
    for (uint32_t s = b.sealed_first; s != kNil; s = sealed_[s].next) out.push_back(sealed_[s].frame);
    b.sealed_first = b.sealed_last = kNil;
  }
};

// ---- implementation ----

template <class Deliver>
uint32_t Fanout::drain(int64_t now_ns, Deliver& deliver) {
  drain_start_pos_ = pos_;
  epoch_ = kNil;
  uint32_t drained = 0;
  while (drained < limits_.entries_per_drain_max) {
    const RingEntry* e = ring_.peek(pos_, seq_);
    if (!e) break;
    RoomId id = e->target == Target::all                                 ? kAllRoom
                : e->target == Target::room || e->target == Target::user ? rooms_.find(e->room())
                                                                         : kNil;
    if (e->target == Target::conn) deliver_to_conn(*e, deliver);
    // JetStream: a staged push is delivered when the stream sends it back with its position.
    if (e->target == Target::room && (e->flags & kEntryStaged)) id = kNil;
    if (e->target == Target::replay) deliver_replay(*e, deliver);
    if (id != kNil && rooms_.room(id).members.empty()) {
      // Nobody to send this entry to. A batch still waiting from before the room emptied goes too
      // (only the all-room outlives its last member): a connection that joins later must not get
      // those older items and then miss this one, a gap inside its membership (found by the sim).
      if (!rooms_.room(id).batch.entries.empty()) drop_batch(id);
      id = kNil;
    }
    if (id != kNil) {
      RoomBatch& b = rooms_.room(id).batch;
      if (!b.listed) {
        b.listed = true;
        touched_.push_back(id);
      }
      if (!b.entries.empty() && (b.items + e->item_count > limits_.batch_items_max ||
                                 coalesced_frame_bytes(b, *e) > limits_.frame_bytes_max)) {
        seal(id);
      }
      b.entries.push_back(e);
      b.items += e->item_count;
      b.bytes += e->items_len + 1;
      if (b.items >= limits_.batch_items_max) seal(id);
    }
    pos_ += e->size;
    ++seq_;
    ++drained;
  }
  stats_->add(Counter::entries_consumed, drained);
  for (RoomId id : touched_) {
    Room& r = rooms_.room(id);
    RoomBatch& b = r.batch;
    b.listed = false;
    room_frames_.clear();
    take_sealed(b, room_frames_);
    if (!b.entries.empty()) {
      if (limits_.merge_window_ns == 0) {
        room_frames_.push_back(make_frame(b));
      } else if (b.epoch == kNil) {
        // A new batch: it keeps its entries in the ring until its window ends.
        b.epoch = drain_epoch();
        frames_.epoch_ref(b.epoch);
        windows_.push_back(Window{now_ns + limits_.merge_window_ns, id, r.generation, b.serial});
      }
    }
    if (!room_frames_.empty())
      deliver_frames(r, room_frames_.data(), static_cast<uint32_t>(room_frames_.size()), deliver);
  }
  touched_.clear();
  sealed_.clear();
  return drained;
}

template <class Deliver>
void Fanout::expire_windows(int64_t now_ns, Deliver& deliver) {
  while (!windows_.empty() && windows_.front().deadline_ns <= now_ns) {
    const Window w = windows_.front();
    windows_.pop_front();
    // A window whose room was freed, reused or emitted since (its batch's serial moved on) is stale.
    Room& r = rooms_.room(w.room);
    if (!r.live || r.generation != w.room_generation || r.batch.serial != w.batch_serial) continue;
    if (!r.batch.entries.empty()) emit(w.room, deliver);
  }
}

template <class Deliver>
void Fanout::flush_all(Deliver& deliver) {
  expire_windows(INT64_MAX, deliver);
}

template <class Deliver>
void Fanout::emit_now(RoomId id, Deliver& deliver) {
  Room& r = rooms_.room(id);
  now_frames_.clear();
  take_sealed(r.batch, now_frames_);
  if (!r.batch.entries.empty()) now_frames_.push_back(make_frame(r.batch));
  if (!now_frames_.empty())
    deliver_frames(r, now_frames_.data(), static_cast<uint32_t>(now_frames_.size()), deliver);
}

template <class Deliver>
void Fanout::emit(RoomId id, Deliver& deliver) {
  Room& r = rooms_.room(id);
  const FrameId frame = make_frame(r.batch);
  deliver_frames(r, &frame, 1, deliver);
}

inline FrameId Fanout::make_frame(RoomBatch& b) {
  FrameId frame;
  if (b.entries.size() == 1) {
    const RingEntry* e = b.entries.front();
    // Zero copy: every member's send points at the entry's frame inside the ring.
    const uint32_t epoch = b.epoch != kNil ? b.epoch : drain_epoch();
    frame = frames_.ring_frame(e->frame(), e->frame_len, e->item_count, epoch, e->publish_ns);
  } else {
    frame = build_coalesced(b);
    stats_->add(Counter::frames_built);
  }
  clear_batch(b);
  return frame;
}

inline void Fanout::seal(RoomId id) {
  RoomBatch& b = rooms_.room(id).batch;
  const uint32_t s = static_cast<uint32_t>(sealed_.size());
  sealed_.push_back(Sealed{make_frame(b), kNil});
  if (b.sealed_last == kNil)
    b.sealed_first = s;
  else
    sealed_[b.sealed_last].next = s;
  b.sealed_last = s;
}

template <class Deliver>
void Fanout::deliver_frames(Room& r, const FrameId* frames, uint32_t n, Deliver& deliver) {
  // Held while the members take them: a frame every member so far got in another encoding must not
  // be freed (and its id reused) before the next member asks for it.
  for (uint32_t i = 0; i < n; ++i) frames_.ref(frames[i]);
  const uint32_t* members = r.members.data();
  const size_t count = r.members.size();
  for (size_t m = 0; m < count; ++m) {
    // A room's members are scattered over the slab: their records, and then the ends of their queues,
    // are loaded a few members ahead, so that a large room's fan-out does not wait on a cache miss
    // per member (limits::kPrefetchAhead).
    if constexpr (requires { deliver.prefetch_record(uint32_t{}); }) {
      if (m + limits::kPrefetchAhead < count) deliver.prefetch_record(members[m + limits::kPrefetchAhead]);
      if (m + limits::kPrefetchAhead / 2 < count)
        deliver.prefetch_queue(members[m + limits::kPrefetchAhead / 2]);
    }
    deliver(members[m], frames, n);
  }
  for (uint32_t i = 0; i < n; ++i) frames_.unref(frames[i]);
}

template <class Deliver>
void Fanout::deliver_to_conn(const RingEntry& e, Deliver& deliver) {
  if constexpr (requires { deliver.resolve_conn(e.room()); }) {
    const uint32_t conn = deliver.resolve_conn(e.room());
    if (conn == kNil) return;
    const FrameId frame =
        frames_.ring_frame(e.frame(), e.frame_len, e.item_count, drain_epoch(), e.publish_ns);
    deliver(conn, &frame, 1);
    frames_.release_if_unused(frame);
  }
}

template <class Deliver>
void Fanout::deliver_replay(const RingEntry& e, Deliver& deliver) {
  if constexpr (requires { deliver.replay(e, kNil); }) {
    if (!deliver.replay_wanted(e)) return;
    const RoomId room = rooms_.find(e.room());
    if (room != kNil) emit_now(room, deliver);
    const FrameId frame =
        e.frame_len ? frames_.ring_frame(e.frame(), e.frame_len, e.item_count, drain_epoch(), e.publish_ns)
                    : kNil;
    deliver.replay(e, frame);
    if (frame != kNil) frames_.release_if_unused(frame);
  }
}

inline FrameId Fanout::build_coalesced(const RoomBatch& b) {
  // The frame ends as its last entry does: that entry's seq is the frame's, and the room is the same.
  const std::string_view suffix = b.entries.back()->suffix();
  uint64_t payload = kPushPrefix.size() + suffix.size() + b.entries.size() - 1;
  uint32_t items = 0;
  int64_t oldest_ns = INT64_MAX;  // the frame's latency is its oldest item's
  for (const RingEntry* e : b.entries) {
    payload += e->items_len;
    items += e->item_count;
    oldest_ns = std::min(oldest_ns, e->publish_ns);
  }
  const ws::FrameBuffer frame = ws::alloc_server_frame(ws::Opcode::text, payload);
  uint8_t* bytes = frame.bytes;
  size_t at = static_cast<size_t>(frame.payload - frame.bytes);
  std::memcpy(bytes + at, kPushPrefix.data(), kPushPrefix.size());
  at += kPushPrefix.size();
  bool first = true;
  for (const RingEntry* e : b.entries) {
    if (!first) bytes[at++] = ',';
    first = false;
    std::memcpy(bytes + at, e->items().data(), e->items_len);
    at += e->items_len;
  }
  std::memcpy(bytes + at, suffix.data(), suffix.size());
  at += suffix.size();
  RC_ASSERT(at == frame.len);
  return frames_.owned_frame(bytes, frame.len, items, true, oldest_ns);
}

}  // namespace ringcast
