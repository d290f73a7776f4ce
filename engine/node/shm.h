// The node's shared memory: one memfd holding the ring's control block, the per-shard stats blocks,
// the cluster state, the ring's commit array, the node-wide room table and the ring's data area. The
// data area is mapped twice back to back, so an entry that runs past the end of the ring reads on
// contiguously. Created before any thread or worker process starts; workers inherit the mapping
// across fork().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/node/cluster_state.h"
#include "engine/node/presence.h"
#include "engine/broadcast/ring.h"
#include "engine/node/room_table.h"
#include "engine/node/stats.h"

namespace ringcast {

// The fixed part at the start of the region.
struct SharedHeader {
  RingControl ring;
  ShardStats stats[kMaxConsumers];
  alignas(64) std::atomic<uint32_t> stopping;  // set once: every shard drains and exits
  std::atomic<uint32_t> shard_count;
  std::atomic<uint32_t> shards_ready;          // workers mode: shards serving, for the supervisor
  std::atomic<uint32_t> shard_stop[kMaxConsumers];  // one shard drains and exits (its worker got SIGTERM)
  ClusterState cluster;                        // the NATS bridge's state (cluster.h); zero without --nats
};

class SharedRegion {
 public:
  SharedRegion() = default;
  ~SharedRegion();
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;

  // Creates and maps the region for a ring of `ring_bytes` (a power of two, multiple of the page size),
  // a room table of the given shape and `presence_boxes` presence mailboxes (one per shard; 0: none,
  // then presence queries see only the asking shard).
  bool create(size_t ring_bytes, const RoomTableShape& rooms, uint32_t presence_boxes, std::string& error);
  bool create(size_t ring_bytes, const RoomTableShape& rooms, std::string& error) {
    return create(ring_bytes, rooms, 0, error);
  }
  bool create(size_t ring_bytes, std::string& error) { return create(ring_bytes, RoomTableShape{}, error); }

  SharedHeader* header() const { return header_; }
  Ring ring() const { return Ring(&header_->ring, commits_, data_); }
  RoomTable room_table() const { return RoomTable(room_table_); }
  PresenceBoard presence() const { return presence_ ? PresenceBoard(presence_) : PresenceBoard(); }
  // Bytes of the region (RSS accounting: the ring is not per-connection memory).
  size_t mapped_bytes() const { return fixed_bytes_ + ring_bytes_; }

 private:
  SharedHeader* header_ = nullptr;
  std::atomic<uint64_t>* commits_ = nullptr;
  RoomTableHeader* room_table_ = nullptr;
  uint8_t* presence_ = nullptr;
  uint8_t* data_ = nullptr;
  uint8_t* base_ = nullptr;
  size_t fixed_bytes_ = 0;
  size_t ring_bytes_ = 0;
  int fd_ = -1;
};

}  // namespace ringcast
