// The broadcast ring's producer and consumer protocol. See ring.h for the layout; the reasoning about
// memory order is next to each atomic operation.
#include "engine/broadcast/ring.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace ringcast {
namespace {

constexpr uint64_t kAlign = 8;

uint64_t align_up(uint64_t v) { return (v + kAlign - 1) & ~(kAlign - 1); }

// A 16-byte atomic read: a compare-and-swap that succeeds only if the value is all zero and writes
// zero then, so it never changes anything, but returns the value atomically.
unsigned __int128 load_head(unsigned __int128* head) { return __sync_val_compare_and_swap(head, 0, 0); }

}  // namespace

void Ring::initialize(RingControl* control, std::atomic<uint64_t>* commits, uint64_t capacity) {
  RC_ASSERT(capacity && !(capacity & (capacity - 1)) && capacity >= 4096);
  control->commit_slots = capacity / kMinEntryBytes;
  for (uint64_t i = 0; i < 2 * control->commit_slots; ++i) commits[i].store(0, std::memory_order_relaxed);
  uint64_t epoch = 0;
  if (getrandom(&epoch, sizeof(epoch), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(epoch))) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    epoch = static_cast<uint64_t>(ts.tv_sec) * 1000000007ULL ^ static_cast<uint64_t>(ts.tv_nsec) ^
            (static_cast<uint64_t>(getpid()) << 40);
  }
  control->epoch = epoch ? epoch : 1;
  control->head = static_cast<unsigned __int128>(1) << 64;  // position 0, first seq 1
  control->min_held_cache.store(0, std::memory_order_relaxed);
  control->publish_refused.store(0, std::memory_order_relaxed);
  control->capacity = capacity;
  control->slots_in_use.store(0, std::memory_order_relaxed);
  for (auto& slot : control->consumers) {
    slot.held_pos.store(0, std::memory_order_relaxed);
    slot.active.store(0, std::memory_order_relaxed);
    slot.sleeping.store(0, std::memory_order_relaxed);
    slot.wake_fd = -1;
  }
}

uint32_t Ring::frame_offset_for(size_t room_len) { return align_up(sizeof(RingEntry) + room_len); }

uint32_t Ring::entry_bytes(size_t room_len, size_t frame_len) {
  uint64_t bytes = align_up(frame_offset_for(room_len) + frame_len);
  return static_cast<uint32_t>(bytes < kMinEntryBytes ? kMinEntryBytes : bytes);
}

uint64_t Ring::min_held(uint64_t head_pos) const {
  uint64_t min_held = head_pos;
  const uint32_t in_use = control_->slots_in_use.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < in_use; ++i) {
    auto& slot = control_->consumers[i];
    if (!slot.active.load(std::memory_order_acquire)) continue;
    uint64_t held = slot.held_pos.load(std::memory_order_acquire);
    if (held < min_held) min_held = held;
  }
  return min_held;
}

uint64_t Ring::recompute_min_held(uint64_t head_pos) {
  const uint64_t held = min_held(head_pos);
  control_->min_held_cache.store(held, std::memory_order_relaxed);
  return held;
}

bool Ring::try_claim(uint32_t size, RingClaim& claim, ClaimRecord* record) {
  RC_ASSERT(size % kAlign == 0 && size >= kMinEntryBytes);
  const uint64_t capacity = control_->capacity;
  if (size > capacity / 2) return false;
  unsigned __int128 head = load_head(&control_->head);
  uint64_t min_held = control_->min_held_cache.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t pos = static_cast<uint64_t>(head);
    const uint64_t seq = static_cast<uint64_t>(head >> 64);
    if (pos + size - min_held > capacity) {
      min_held = recompute_min_held(pos);
      if (pos + size - min_held > capacity) {
        control_->publish_refused.fetch_add(1, std::memory_order_relaxed);
        if (record) record->busy.store(0, std::memory_order_release);
        return false;
      }
    }
    const unsigned __int128 next =
        (static_cast<unsigned __int128>(seq + 1) << 64) | static_cast<unsigned __int128>(pos + size);
    if (record) {
      // The intent, written before the CAS (whose locked instruction orders these stores first).
      record->pos.store(pos, std::memory_order_relaxed);
      record->seq.store(seq, std::memory_order_relaxed);
      record->size.store(size, std::memory_order_relaxed);
      record->busy.store(1, std::memory_order_relaxed);
    }
    const unsigned __int128 seen = __sync_val_compare_and_swap(&control_->head, head, next);
    if (seen == head) {
      claim.pos = pos;
      claim.seq = seq;
      claim.size = size;
      claim.entry = reinterpret_cast<RingEntry*>(data_ + (pos & (capacity - 1)));
      return true;
    }
    head = seen;  // another producer won; retry from what it left
  }
}

void Ring::commit(const RingClaim& claim, ClaimRecord* record) {
  claim.entry->size = claim.size;
  claim.entry->seq = claim.seq;
  const uint64_t slot = claim.seq & (control_->commit_slots - 1);
  // The position first: a history reader that sees the commit finds the position beside it.
  commits_[control_->commit_slots + slot].store(claim.pos, std::memory_order_relaxed);
  commits_[slot].store(claim.seq, std::memory_order_release);
  if (record) record->busy.store(0, std::memory_order_release);
  // Dekker pairing with prepare_to_sleep(): either the consumer sees our entry before it blocks, or we
  // see its sleeping flag here and wake it. The full fence orders our store before our loads.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint32_t in_use = control_->slots_in_use.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < in_use; ++i) {
    auto& slot = control_->consumers[i];
    if (!slot.sleeping.load(std::memory_order_relaxed)) continue;
    if (slot.sleeping.exchange(0, std::memory_order_acq_rel) == 1 && slot.wake_fd >= 0) {
      uint64_t one = 1;
      // Best effort: an eventfd write only fails when the counter would overflow, which means the
      // consumer has wake-ups pending anyway.
      [[maybe_unused]] ssize_t n = write(slot.wake_fd, &one, sizeof(one));
    }
  }
}

bool Ring::recover_claim(uint32_t index) {
  ClaimRecord& dead = control_->claims[index];
  if (!dead.busy.load(std::memory_order_acquire)) return false;
  const uint64_t pos = dead.pos.load(std::memory_order_relaxed);
  const uint64_t seq = dead.seq.load(std::memory_order_relaxed);
  const uint32_t size = dead.size.load(std::memory_order_relaxed);
  dead.busy.store(0, std::memory_order_relaxed);
  auto& commit_slot = commits_[seq & (control_->commit_slots - 1)];
  // The record may be only an intent whose CAS failed or never ran; then either nobody claimed
  // (pos, seq) yet, or a live producer did and will commit it. A live producer with the same intent
  // is still deciding: give it a moment.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (commit_slot.load(std::memory_order_acquire) == seq) return false;
    uint64_t head_pos = 0, next_seq = 0;
    read_head(head_pos, next_seq);
    if (next_seq <= seq) return false;  // (pos, seq) was never claimed
    bool live_owner = false;
    for (uint32_t i = 0; i < kMaxConsumers; ++i) {
      const ClaimRecord& r = control_->claims[i];
      if (i != index && r.busy.load(std::memory_order_acquire) && r.seq.load(std::memory_order_relaxed) == seq &&
          r.pos.load(std::memory_order_relaxed) == pos)
        live_owner = true;
    }
    if (!live_owner) {
      auto* e = reinterpret_cast<RingEntry*>(data_ + (pos & (control_->capacity - 1)));
      e->frame_offset = sizeof(RingEntry);
      e->frame_len = 0;
      e->items_offset = 0;
      e->items_len = 0;
      e->item_count = 0;
      e->publish_ns = 0;
      e->room_len = 0;
      e->target = Target::skip;
      e->flags = 0;
      e->origin = 0;
      RingClaim claim;
      claim.entry = e;
      claim.pos = pos;
      claim.seq = seq;
      claim.size = size;
      commit(claim);
      return true;
    }
    usleep(1000);
  }
  return false;
}

const RingEntry* Ring::history_entry(uint64_t seq, uint64_t& pos) const {
  if (seq == 0) return nullptr;
  const uint64_t slot = seq & (control_->commit_slots - 1);
  if (commits_[slot].load(std::memory_order_acquire) != seq) return nullptr;  // overwritten, or not yet
  pos = commits_[control_->commit_slots + slot].load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  // A newer entry of the same slot may have committed between the two loads (then `pos` may be its).
  if (commits_[slot].load(std::memory_order_relaxed) != seq) return nullptr;
  if (!history_intact(pos)) return nullptr;  // its bytes are claimed by a newer entry
  return reinterpret_cast<const RingEntry*>(data_ + (pos & (control_->capacity - 1)));
}

bool Ring::history_intact(uint64_t pos) const {
  // Producers claim (advance the head with a locked CAS) before they write, and claims advance in
  // position order; so while the head, read after the copy, is no more than one capacity past the
  // entry's first byte, nothing the copy read was being rewritten. (The caller also checks the
  // entry's own seq, in case `pos` belonged to another entry.)
  std::atomic_thread_fence(std::memory_order_acquire);
  uint64_t head_pos = 0, next_seq = 0;
  read_head(head_pos, next_seq);
  return head_pos - pos <= control_->capacity;
}

void Ring::read_head(uint64_t& pos, uint64_t& next_seq) const {
  unsigned __int128 head = load_head(&control_->head);
  pos = static_cast<uint64_t>(head);
  next_seq = static_cast<uint64_t>(head >> 64);
}

void Ring::attach(uint32_t index, int wake_fd, uint64_t& pos, uint64_t& next_seq) {
  RC_ASSERT(index < kMaxConsumers);
  ConsumerSlot& slot = control_->consumers[index];
  uint64_t first_pos = 0, first_seq = 0;
  read_head(first_pos, first_seq);
  // Announce a held position no later than where we will start, before starting: producers that
  // look at the slots from now on keep [first_pos, ...) for us.
  slot.wake_fd = wake_fd;
  slot.sleeping.store(0, std::memory_order_relaxed);
  slot.held_pos.store(first_pos, std::memory_order_release);
  uint32_t in_use = control_->slots_in_use.load(std::memory_order_relaxed);
  while (in_use <= index &&
         !control_->slots_in_use.compare_exchange_weak(in_use, index + 1, std::memory_order_acq_rel)) {
  }
  slot.active.store(1, std::memory_order_seq_cst);
  // A producer that computed its minimum before we were active may have claimed space up to
  // first_pos + capacity; starting at the head read *after* activation keeps us clear of that.
  read_head(pos, next_seq);
  slot.held_pos.store(pos, std::memory_order_release);
}

void Ring::resume(uint32_t index, int wake_fd, uint64_t pos) {
  RC_ASSERT(index < kMaxConsumers);
  ConsumerSlot& slot = control_->consumers[index];
  RC_ASSERT(slot.active.load(std::memory_order_acquire) && slot.held_pos.load(std::memory_order_acquire) <= pos);
  slot.wake_fd = wake_fd;
  slot.sleeping.store(0, std::memory_order_relaxed);
  slot.held_pos.store(pos, std::memory_order_release);
}

void Ring::detach(uint32_t index) {
  ConsumerSlot& slot = control_->consumers[index];
  slot.active.store(0, std::memory_order_release);
  slot.sleeping.store(0, std::memory_order_relaxed);
}

bool Ring::prepare_to_sleep(uint32_t index, uint64_t pos, uint64_t seq) {
  ConsumerSlot& slot = control_->consumers[index];
  slot.sleeping.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (peek(pos, seq)) {
    slot.sleeping.store(0, std::memory_order_relaxed);
    return false;
  }
  return true;
}

uint64_t Ring::used_bytes() const {
  uint64_t pos = 0, seq = 0;
  read_head(pos, seq);
  return pos - min_held(pos);
}

}  // namespace ringcast
