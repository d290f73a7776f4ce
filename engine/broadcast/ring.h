// The broadcast ring: every published message, encoded once as a complete WebSocket frame, in one
// multi-producer ring in shared memory that every shard (in every worker process) consumes in order
// with its own cursor. Sends reference entry bytes directly, so the ring also tracks the oldest
// position each consumer still holds and refuses a publish rather than overwrite it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/base/check.h"
#include "engine/codec/push.h"

namespace ringcast {

// The head of every entry. Entries are 8-byte aligned and laid out back to back; the data area is
// mapped twice in a row (see SharedRegion), so an entry that crosses the end of the ring is still
// contiguous in memory and nobody handles wrap-around.
struct RingEntry {
  uint64_t seq;           // the node-wide order of this entry (also in the commit array)
  uint32_t size;          // whole entry in bytes, header included, multiple of 8
  uint32_t frame_offset;  // from the entry start to the WebSocket frame
  uint32_t frame_len;     // the complete server frame: header + {"type":"PUSH","data":{"items":[...]}}
  uint32_t items_offset;  // from the frame start to the first byte inside the items array
  uint32_t items_len;     // bytes between '[' and ']' (what coalescing splices together)
  uint32_t item_count;
  int64_t publish_ns;     // CLOCK_MONOTONIC when published (publish->flush latency)
  uint16_t room_len;      // room name bytes follow the header
  Target target;
  uint8_t flags;
  uint32_t origin;        // publishing node (cluster mode); 0 locally

  std::string_view room() const { return {reinterpret_cast<const char*>(this + 1), room_len}; }
  // The frame's bytes after the items array: `],"room":"r","seq":N}}` (the room only for room pushes).
  // A frame coalesced from several entries ends with its last entry's suffix.
  std::string_view suffix() const {
    const uint32_t at = items_offset + items_len;
    return {reinterpret_cast<const char*>(frame()) + at, frame_len - at};
  }
  const uint8_t* frame() const { return reinterpret_cast<const uint8_t*>(this) + frame_offset; }
  std::string_view items() const {
    return {reinterpret_cast<const char*>(frame()) + items_offset, items_len};
  }
};
static_assert(sizeof(RingEntry) == 48);

// RingEntry::flags, whose meaning depends on the target. Target::room, staged: a room push accepted on this
// node while the cluster's history is JetStream (docs/cluster.md). The NATS bridge sends it to the stream,
// which gives it its position; it comes back through the bridge with that position, and only that copy is
// delivered.
constexpr uint8_t kEntryStaged = 1;

constexpr uint32_t kMaxConsumers = 256;  // shards across all workers of one node

// One per consumer (shard), on its own cache line: written by its shard, read by producers.
struct alignas(64) ConsumerSlot {
  std::atomic<uint64_t> held_pos;  // oldest ring position this shard still references
  std::atomic<uint32_t> active;    // 1 while the shard runs; inactive slots hold nothing
  std::atomic<uint32_t> sleeping;  // 1 while the shard may block in the kernel: producers wake it
  int32_t wake_fd;                 // eventfd the shard's io_uring waits on
};

// Every entry takes at least this much, which bounds how many entries the ring can hold at once and
// so sizes the commit array (capacity / kMinEntryBytes slots).
constexpr uint32_t kMinEntryBytes = 64;

// What a producer is claiming, recorded *before* its compare-and-swap so that, if its process dies
// between claiming and committing, the supervisor can find the claimed bytes and commit them as a
// skip entry: otherwise every consumer would wait for that sequence number forever. One per shard.
struct alignas(64) ClaimRecord {
  std::atomic<uint64_t> pos;
  std::atomic<uint64_t> seq;
  std::atomic<uint32_t> size;
  std::atomic<uint32_t> busy;  // 1 from just before the CAS until the commit (or the refusal)
};

// The ring's shared control block (in the shared mapping).
//
// Commit protocol: a producer claims bytes and a sequence number together, writes its entry, then
// stores the sequence number into commits[seq % slots] with release order. A consumer waiting for
// sequence s at position p reads that slot: equal to s means every byte of the entry is written;
// smaller means "not yet" (it still holds s - slots or 0). The marker lives outside the data area
// because a claimed-but-unwritten position holds stale bytes of older entries, which could look like
// anything; a slot only ever holds older sequence numbers of its own residue class.
struct RingControl {
  // {position, next sequence} claimed together with one 16-byte CAS, so that positions and sequence
  // numbers are issued in the same order. Low 64 bits: byte position; high 64 bits: next seq.
  alignas(64) unsigned __int128 head;
  // A lower bound of every active consumer's held_pos, refreshed by producers only when space looks
  // short, so the common publish reads one cache line instead of all consumers'.
  alignas(64) std::atomic<uint64_t> min_held_cache;
  alignas(64) std::atomic<uint64_t> publish_refused;  // "ring full" answers, across all producers
  // Slots [0, slots_in_use) may be active: producers scan only those, not all kMaxConsumers.
  std::atomic<uint32_t> slots_in_use;
  uint64_t capacity;                                  // bytes, power of two
  uint64_t commit_slots;                              // capacity / kMinEntryBytes
  // Random at creation: sequence numbers mean something only within one ring's life, so a client that
  // resumes with a `since` from another node (or a restarted one) is told it cannot be recovered.
  uint64_t epoch;
  ConsumerSlot consumers[kMaxConsumers];
  ClaimRecord claims[kMaxConsumers];
};

struct RingClaim {
  RingEntry* entry = nullptr;
  uint64_t pos = 0;
  uint64_t seq = 0;
  uint32_t size = 0;
};

// A handle on the shared ring; cheap to copy (pointers only). All methods are safe from any thread
// of any process that maps the region.
class Ring {
 public:
  Ring() = default;
  Ring(RingControl* control, std::atomic<uint64_t>* commits, uint8_t* data)
      : control_(control), commits_(commits), data_(data) {}

  // Bytes of the commit array for a ring of this capacity: per slot, the committed sequence number and,
  // after the slots, the entry's position (what history reads look entries up by).
  static size_t commit_array_bytes(uint64_t capacity) { return capacity / kMinEntryBytes * 16; }

  // Sets up a fresh control block and commit array (once, before any producer or consumer runs).
  static void initialize(RingControl* control, std::atomic<uint64_t>* commits, uint64_t capacity);

  uint64_t capacity() const { return control_->capacity; }
  RingControl* control() const { return control_; }

  // Bytes an entry with this room and frame takes.
  static uint32_t entry_bytes(size_t room_len, size_t frame_len);
  // The frame's offset inside such an entry.
  static uint32_t frame_offset_for(size_t room_len);

  // Claims `size` bytes (from entry_bytes). False when the ring is full: consumers still hold the
  // bytes the claim would overwrite. Never blocks, never waits for consumers. Producers that run in a
  // worker process pass their ClaimRecord (see recover_claim).
  bool try_claim(uint32_t size, RingClaim& claim, ClaimRecord* record = nullptr);
  // Publishes a claimed entry whose fields (except seq) and bytes are written, then wakes sleeping
  // consumers.
  void commit(const RingClaim& claim, ClaimRecord* record = nullptr);

  // After the process owning claim record `index` died: if it had claimed bytes it never committed,
  // commits them as a skip entry. Returns true when it did. Call from the supervisor only.
  bool recover_claim(uint32_t index);

  // The current head {position, next seq}: where a consumer that starts now begins.
  void read_head(uint64_t& pos, uint64_t& next_seq) const;

  // Consumer side. The entry at (pos, seq) if it is committed, else nullptr.
  const RingEntry* peek(uint64_t pos, uint64_t seq) const {
    uint64_t s = commits_[seq & (control_->commit_slots - 1)].load(std::memory_order_acquire);
    if (s != seq) {
      // An older number: claimed but not committed yet. A newer one would mean a producer reused the
      // slot (and so overwrote bytes) this consumer had not read: the held-position protocol forbids it.
      RC_ASSERT(s < seq);
      return nullptr;
    }
    return reinterpret_cast<const RingEntry*>(data_ + (pos & (control_->capacity - 1)));
  }

  ConsumerSlot& slot(uint32_t index) { return control_->consumers[index]; }

  // History: the ring doubles as a short log, read by a shard replaying what a reconnecting client
  // missed. Unlike peek(), this reads entries no consumer holds, which a producer may overwrite at any
  // moment; so it is a seqlock-style read: find the entry (nullptr when `seq` is no longer, or not yet,
  // in the ring; `pos` receives its position), copy what is needed out of it, then check that the
  // entry's seq is still `seq` and history_intact(pos) still holds: only then is the copy good.
  const RingEntry* history_entry(uint64_t seq, uint64_t& pos) const;
  // True when no producer has claimed the bytes of an entry at `pos` for a newer entry.
  bool history_intact(uint64_t pos) const;
  uint64_t epoch() const { return control_->epoch; }

  // Registers consumer `index` and returns its starting cursor (the current head).
  void attach(uint32_t index, int wake_fd, uint64_t& pos, uint64_t& next_seq);
  void detach(uint32_t index);
  // Takes over consumer `index`, which stayed active holding `pos` after the process that ran it died
  // (a restarted NATS bridge carrying on from its predecessor's cursor).
  void resume(uint32_t index, int wake_fd, uint64_t pos);

  // Called by a consumer before it blocks: returns false (do not block) if an entry is already
  // waiting at (pos, seq). Pairs with the fence in commit() so that a wake-up is never lost.
  bool prepare_to_sleep(uint32_t index, uint64_t pos, uint64_t seq);
  void woke_up(uint32_t index) { control_->consumers[index].sleeping.store(0, std::memory_order_relaxed); }

  // Bytes between the oldest held position of all consumers and the head (for stats).
  uint64_t used_bytes() const;

 private:
  // The oldest position an active consumer holds (head_pos when none holds anything older).
  uint64_t min_held(uint64_t head_pos) const;
  uint64_t recompute_min_held(uint64_t head_pos);

  RingControl* control_ = nullptr;
  std::atomic<uint64_t>* commits_ = nullptr;
  uint8_t* data_ = nullptr;
};

}  // namespace ringcast
