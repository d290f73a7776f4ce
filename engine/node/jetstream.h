// JetStream, the cluster's one history (docs/cluster.md): the pure parts the NATS bridge builds on.
// The stream's name and subjects, the epoch clients see, the control entries a shard and the bridge
// exchange through the ring (a JOIN's replay request; a replay's last entry), and RoomWindow: one
// room's recent items on this node, with the rule that tells whether an item the stream republished
// is the next one, one already committed, or comes after a gap the bridge must fill from the stream.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "engine/broadcast/ring.h"

namespace ringcast::jetstream {

// The stream: its name (the subject prefix with '.' as '_'), the subjects it stores
// (<prefix>.h.r.<token>: a room's items as the nodes publish them) and where it republishes each item
// once stored, with its position in the Nats-Sequence header and the room's previous position in
// Nats-Last-Sequence (<prefix>.l.r.<token>, which the nodes subscribe to per room as before).
std::string stream_name(std::string_view prefix);
void stored_room_subject(std::string& out, std::string_view prefix, std::string_view room);
void live_room_subject(std::string& out, std::string_view prefix, std::string_view room);
std::string stored_subjects(std::string_view prefix);  // <prefix>.h.>
std::string live_subjects(std::string_view prefix);    // <prefix>.l.>
// A message id for the stream's de-duplication: the same staged entry sent twice (an ack timeout) is
// stored once. Unique per node, ring life and ring sequence.
std::string message_id(uint32_t node_id, uint64_t ring_epoch, uint64_t ring_seq);
// The ring sequence a message id names (0 when it is not one of ours).
uint64_t message_id_seq(std::string_view id);
// The epoch clients get in JOINED: names the stream (recreating it starts another history).
uint64_t epoch_of(std::string_view stream, int64_t created_ns);
// A marker: a message the bridge stores in a room's subject (with this header, no items) to learn
// where its live subscription stands: every item stored before it reaches the node before it.
constexpr const char* kMarkerHeader = "Ringcast-Marker";

// ---- control entries (Target::replay_request, Target::replay), exchanged through the ring ----
// replay_request flags: "since":null (only the position), or an epoch that is not the cluster's
// (the position, recovered:false, nothing replayed).
constexpr uint8_t kRequestSinceNow = 1;
constexpr uint8_t kRequestNoReplay = 2;
// replay flags: the last entry of a replay (its value: the position the fan-out takes over from), and
// with it, recovered:false.
constexpr uint8_t kReplayDone = 1;
constexpr uint8_t kReplayFailed = 2;

// A request names its JOIN by a ticket: the shard's index and the shard's own request number.
constexpr uint32_t kTicketSerialBits = 24;
static_assert(kMaxConsumers <= (1u << (32 - kTicketSerialBits)), "a ticket holds any shard index");
inline uint32_t make_ticket(uint32_t shard, uint32_t serial) {
  return (shard << kTicketSerialBits) | (serial & ((1u << kTicketSerialBits) - 1));
}
inline uint32_t ticket_shard(uint32_t ticket) {
  return ticket >> kTicketSerialBits;
}

// Commits an entry without a frame: the room, the ticket (in `origin`), flags and one 64-bit value.
// False when the ring is full.
bool commit_control(Ring& ring, ClaimRecord* record, Target target, std::string_view room, uint32_t ticket,
                    uint8_t flags, uint64_t value);
uint64_t control_value(const RingEntry& entry);

// ---- one room's window ----
struct WindowItem {
  uint64_t position = 0;
  std::string items;  // the JSON array text, brackets included
};

class RoomWindow {
 public:
  enum class Fit { next, duplicate, gap };

  bool started() const { return started_; }
  uint64_t last() const { return last_; }  // the newest item committed to the ring (0: none yet)
  uint64_t from() const { return from_; }  // every item of the room in (from, last] is in the window
  size_t bytes() const { return bytes_; }
  size_t size() const { return items_.size(); }

  // Where this node starts when it has seen nothing of the room since subscribing: after the stream's
  // newest item of it (0: none). Nothing is held yet.
  void start(uint64_t last);
  // An item the stream republished: `position`, and `previous`, the room's item before it.
  Fit fit(uint64_t position, uint64_t previous) const;
  // Appends an item committed to the ring after last(). When `previous` is past last() (a gap the
  // stream could not fill), the window starts again at `previous`. Returns bytes added to the window.
  size_t append(uint64_t position, uint64_t previous, std::string_view items);
  // Puts items fetched from the stream in front (positions ascending, the last one <= from()); they
  // were every item of the room in (new_from, from()]. Returns bytes added.
  size_t prepend(std::vector<WindowItem>& older, uint64_t new_from);
  // A position of the room that is not an item (a marker, or the end of a range fetched whole): the
  // window then reaches up to it. When `previous` is past last(), the window starts again there.
  void skip(uint64_t position, uint64_t previous);
  // Drops the oldest items until at least `bytes` are freed or none is left. Returns bytes freed.
  size_t trim(size_t bytes);
  // The held items after `since`, oldest first. False when the window does not reach back that far
  // (since < from()).
  bool collect(uint64_t since, std::vector<const WindowItem*>& out) const;

 private:
  bool started_ = false;
  uint64_t last_ = 0;
  uint64_t from_ = 0;
  size_t bytes_ = 0;
  std::deque<WindowItem> items_;
};

}  // namespace ringcast::jetstream
