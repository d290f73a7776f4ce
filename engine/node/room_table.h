// The node-wide room table, in the shared region: room name -> the set of shards (in every worker
// process) that have members in it. A shard adds itself when a room appears in its RoomIndex and
// removes itself when the room empties there; so the table holds exactly the rooms with members on
// this node. The NATS bridge subscribes to those rooms' subjects (learning of changes through a small
// queue of names and the bridge's eventfd), /stats reads its live count (the exact roomCount), and the
// supervisor of --workers takes a dead worker's shards out of every room.
//
// Writers serialise on one process-shared, robust mutex. This is the control path (a room appearing
// or emptying on a shard, not a message), and a lock makes deletion, the change queue and the repair
// after a dead worker simple; the fan-out never touches the table.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/broadcast/ring.h"

namespace ringcast {

struct RoomTableShape {
  uint32_t rooms_max = 1024;       // rooms with members on the node, all shards together
  uint32_t name_bytes_max = 128;   // longest room name
};

// Queued change notifications (room names). More changes than this between two looks of the bridge
// set the overflow flag instead, and the bridge rescans the whole table.
constexpr uint32_t kRoomEventsMax = 1024;
constexpr uint32_t kShardMaskWords = kMaxConsumers / 64;

struct RoomTableHeader {
  pthread_mutex_t lock;
  uint32_t slots;        // a power of two, at least twice rooms_max: probes stay short
  uint32_t rooms_max;
  uint32_t name_stride;  // bytes per stored name: 2-byte length, the name, padding to 8
  uint32_t tombstones;   // removed slots not yet reused (rebuilt in place past slots / 4)
  uint32_t event_first;
  uint32_t event_count;
  uint32_t event_overflow;
  int32_t notify_fd;                     // eventfd written when a change is queued (the bridge's), or -1
  std::atomic<uint32_t> live;            // rooms with members: the exact roomCount
  std::atomic<uint64_t> resync_epoch;    // bumped when the table had to be cleared: shards re-add theirs
  std::atomic<uint64_t> refused;         // rooms refused because rooms_max were live
  std::atomic<uint64_t> changes;         // rooms that appeared or emptied, node-wide
};

// A handle on the table (a pointer); cheap to copy, usable from any thread of any process that maps it.
class RoomTable {
 public:
  RoomTable() = default;
  explicit RoomTable(RoomTableHeader* header) : header_(header) {}

  static size_t bytes_for(const RoomTableShape& shape);
  // Sets up a table in zeroed shared memory of bytes_for(shape) bytes.
  static void initialize(void* at, const RoomTableShape& shape);

  bool valid() const { return header_ != nullptr; }
  RoomTableHeader* header() const { return header_; }
  uint32_t live() const { return header_->live.load(std::memory_order_relaxed); }
  uint32_t rooms_max() const { return header_->rooms_max; }
  uint64_t refused() const { return header_->refused.load(std::memory_order_relaxed); }
  uint64_t resync_epoch() const { return header_->resync_epoch.load(std::memory_order_acquire); }
  void set_notify_fd(int fd) { header_->notify_fd = fd; }

  // Shard `shard` has members in `room`. False (nothing changed) when the room is new to the node and
  // rooms_max rooms are live: the caller refuses the JOIN.
  bool add(uint32_t shard, std::string_view room);
  // Shard `shard` has no members left in `room`.
  void remove(uint32_t shard, std::string_view room);
  // Shards [first, first + count) are gone (their worker died): out of every room.
  void drop_shards(uint32_t first, uint32_t count);

  // Bridge side. Whether any shard has members in `room`.
  bool has_members(std::string_view room);
  // Moves the queued change notifications into `names`; true when some were lost to overflow (then
  // the caller rescans with live_rooms()).
  bool take_changes(std::vector<std::string>& names);
  // Every room with members.
  void live_rooms(std::vector<std::string>& names);

 private:
  struct Locked;
  enum State : uint8_t { kEmpty = 0, kLive = 1, kTombstone = 2 };

  uint8_t* states() const;
  uint32_t* hashes() const;
  uint64_t* masks(uint32_t slot) const;
  uint8_t* name_at(uint32_t slot) const;
  uint8_t* event_at(uint32_t index) const;
  std::string_view name(uint32_t slot) const;

  // All of these run with the lock held.
  uint32_t find(std::string_view room, uint32_t hash, uint32_t& insert_at) const;
  void place(uint32_t slot, std::string_view room, uint32_t hash);
  void queue_change(std::string_view room, bool& notify);
  void kill_slot(uint32_t slot, bool& notify);
  void rebuild();
  void clear_after_owner_death();
  void notify();

  RoomTableHeader* header_ = nullptr;
};

}  // namespace ringcast
