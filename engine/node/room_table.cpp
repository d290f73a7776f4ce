// The node-wide room table: open addressing with linear probing over parallel arrays (states and
// hashes are compact, so probing and full scans touch little memory; masks and names are read only
// for a matching hash or a live slot). Removal leaves a tombstone that a later insert reuses; when
// tombstones pass a quarter of the slots the table is rebuilt in place, so at least a quarter of the
// slots stay empty and every probe ends.
#include "engine/node/room_table.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/base/check.h"

namespace ringcast {
namespace {

constexpr uint32_t kNotFound = UINT32_MAX;

size_t align_to(size_t v, size_t to) { return (v + to - 1) / to * to; }

uint32_t slots_for(uint32_t rooms_max) {
  uint32_t slots = 64;
  while (slots < 2ull * rooms_max) slots *= 2;
  return slots;
}

uint32_t stride_for(uint32_t name_bytes_max) { return static_cast<uint32_t>(align_to(2 + name_bytes_max, 8)); }

// Offsets of the arrays after the header, for a table of `slots` slots and names of `stride` bytes.
struct Layout {
  size_t states, hashes, masks, names, events, total;
  Layout(uint32_t slots, uint32_t stride) {
    states = align_to(sizeof(RoomTableHeader), 64);
    hashes = align_to(states + slots, 64);
    masks = align_to(hashes + 4ull * slots, 64);
    names = align_to(masks + 8ull * kShardMaskWords * slots, 64);
    events = align_to(names + static_cast<size_t>(stride) * slots, 64);
    total = align_to(events + static_cast<size_t>(stride) * kRoomEventsMax, 64);
  }
};

// FNV-1a: the same in every process (std::hash makes no such promise).
uint32_t hash_name(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

bool mask_empty(const uint64_t* mask) {
  for (uint32_t w = 0; w < kShardMaskWords; ++w)
    if (mask[w]) return false;
  return true;
}

}  // namespace

// Holds the table's lock. A process that died holding it (a worker killed in the middle of a join)
// may have left the table half-changed: the next owner clears it and bumps the resync epoch, and
// every live shard re-adds its rooms (see Shard::resync_room_table).
struct RoomTable::Locked {
  explicit Locked(RoomTable& table) : table(table) {
    const int rc = pthread_mutex_lock(&table.header_->lock);
    if (rc == EOWNERDEAD) {
      pthread_mutex_consistent(&table.header_->lock);
      table.clear_after_owner_death();
      notify = true;
    } else {
      RC_ASSERT(rc == 0);
    }
  }
  ~Locked() {
    pthread_mutex_unlock(&table.header_->lock);
    if (notify) table.notify();
  }
  RoomTable& table;
  bool notify = false;
};

size_t RoomTable::bytes_for(const RoomTableShape& shape) {
  return Layout(slots_for(shape.rooms_max), stride_for(shape.name_bytes_max)).total;
}

void RoomTable::initialize(void* at, const RoomTableShape& shape) {
  auto* h = new (at) RoomTableHeader();
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&h->lock, &attr);
  pthread_mutexattr_destroy(&attr);
  h->slots = slots_for(shape.rooms_max);
  h->rooms_max = shape.rooms_max;
  h->name_stride = stride_for(shape.name_bytes_max);
  h->tombstones = 0;
  h->event_first = 0;
  h->event_count = 0;
  h->event_overflow = 0;
  h->notify_fd = -1;
  h->live.store(0, std::memory_order_relaxed);
  h->resync_epoch.store(0, std::memory_order_relaxed);
  h->refused.store(0, std::memory_order_relaxed);
  h->changes.store(0, std::memory_order_relaxed);
  // The arrays are zero (fresh memfd pages): every slot empty.
}

uint8_t* RoomTable::states() const {
  return reinterpret_cast<uint8_t*>(header_) + Layout(header_->slots, header_->name_stride).states;
}
uint32_t* RoomTable::hashes() const {
  return reinterpret_cast<uint32_t*>(reinterpret_cast<uint8_t*>(header_) +
                                     Layout(header_->slots, header_->name_stride).hashes);
}
uint64_t* RoomTable::masks(uint32_t slot) const {
  return reinterpret_cast<uint64_t*>(reinterpret_cast<uint8_t*>(header_) +
                                     Layout(header_->slots, header_->name_stride).masks) +
         static_cast<size_t>(slot) * kShardMaskWords;
}
uint8_t* RoomTable::name_at(uint32_t slot) const {
  return reinterpret_cast<uint8_t*>(header_) + Layout(header_->slots, header_->name_stride).names +
         static_cast<size_t>(slot) * header_->name_stride;
}
uint8_t* RoomTable::event_at(uint32_t index) const {
  return reinterpret_cast<uint8_t*>(header_) + Layout(header_->slots, header_->name_stride).events +
         static_cast<size_t>(index) * header_->name_stride;
}

std::string_view RoomTable::name(uint32_t slot) const {
  const uint8_t* p = name_at(slot);
  const uint16_t len = static_cast<uint16_t>(p[0] | (p[1] << 8));
  return {reinterpret_cast<const char*>(p + 2), len};
}

uint32_t RoomTable::find(std::string_view room, uint32_t hash, uint32_t& insert_at) const {
  const uint32_t mask = header_->slots - 1;
  const uint8_t* st = states();
  const uint32_t* hs = hashes();
  insert_at = kNotFound;
  for (uint32_t i = hash & mask, probes = 0; probes < header_->slots; i = (i + 1) & mask, ++probes) {
    if (st[i] == kEmpty) {
      if (insert_at == kNotFound) insert_at = i;
      return kNotFound;
    }
    if (st[i] == kTombstone) {
      if (insert_at == kNotFound) insert_at = i;
    } else if (hs[i] == hash && name(i) == room) {
      return i;
    }
  }
  RC_ASSERT(false && "room table without an empty slot");
  return kNotFound;
}

void RoomTable::place(uint32_t slot, std::string_view room, uint32_t hash) {
  uint8_t* p = name_at(slot);
  p[0] = static_cast<uint8_t>(room.size() & 0xFF);
  p[1] = static_cast<uint8_t>(room.size() >> 8);
  if (!room.empty()) std::memcpy(p + 2, room.data(), room.size());
  hashes()[slot] = hash;
  std::memset(masks(slot), 0, 8 * kShardMaskWords);
  if (states()[slot] == kTombstone) --header_->tombstones;
  states()[slot] = kLive;
}

void RoomTable::queue_change(std::string_view room, bool& notify) {
  header_->changes.fetch_add(1, std::memory_order_relaxed);
  if (header_->event_overflow) return;
  if (header_->event_count == kRoomEventsMax) {
    header_->event_overflow = 1;
    return;
  }
  uint8_t* p = event_at((header_->event_first + header_->event_count) % kRoomEventsMax);
  p[0] = static_cast<uint8_t>(room.size() & 0xFF);
  p[1] = static_cast<uint8_t>(room.size() >> 8);
  std::memcpy(p + 2, room.data(), room.size());
  // The bridge takes every queued change at once, so only the first one after that needs a wake-up.
  if (header_->event_count++ == 0) notify = true;
}

void RoomTable::kill_slot(uint32_t slot, bool& notify) {
  queue_change(name(slot), notify);
  states()[slot] = kTombstone;
  ++header_->tombstones;
  header_->live.fetch_sub(1, std::memory_order_relaxed);
}

void RoomTable::rebuild() {
  struct Saved {
    std::string name;
    uint32_t hash;
    uint64_t mask[kShardMaskWords];
  };
  std::vector<Saved> saved;
  saved.reserve(header_->live.load(std::memory_order_relaxed));
  uint8_t* st = states();
  for (uint32_t i = 0; i < header_->slots; ++i) {
    if (st[i] != kLive) continue;
    Saved s{std::string(name(i)), hashes()[i], {}};
    std::memcpy(s.mask, masks(i), sizeof(s.mask));
    saved.push_back(std::move(s));
  }
  std::memset(st, kEmpty, header_->slots);
  header_->tombstones = 0;
  for (const Saved& s : saved) {
    uint32_t at = kNotFound;
    RC_ASSERT(find(s.name, s.hash, at) == kNotFound && at != kNotFound);
    place(at, s.name, s.hash);
    std::memcpy(masks(at), s.mask, sizeof(s.mask));
  }
}

void RoomTable::clear_after_owner_death() {
  std::memset(states(), kEmpty, header_->slots);
  header_->tombstones = 0;
  header_->live.store(0, std::memory_order_relaxed);
  header_->event_count = 0;
  header_->event_first = 0;
  header_->event_overflow = 1;
  header_->resync_epoch.fetch_add(1, std::memory_order_release);
}

void RoomTable::notify() {
  if (header_->notify_fd < 0) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(header_->notify_fd, &one, sizeof(one));
}

bool RoomTable::add(uint32_t shard, std::string_view room) {
  RC_ASSERT(shard < kMaxConsumers && room.size() + 2 <= header_->name_stride);
  const uint32_t hash = hash_name(room);
  bool notify_bridge = false;
  {
    Locked locked(*this);
    uint32_t at = kNotFound;
    uint32_t slot = find(room, hash, at);
    if (slot == kNotFound) {
      if (header_->live.load(std::memory_order_relaxed) >= header_->rooms_max) {
        header_->refused.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      slot = at;
      place(slot, room, hash);
      header_->live.fetch_add(1, std::memory_order_relaxed);
      queue_change(room, notify_bridge);
    }
    masks(slot)[shard / 64] |= uint64_t{1} << (shard % 64);
  }
  if (notify_bridge) notify();
  return true;
}

void RoomTable::remove(uint32_t shard, std::string_view room) {
  const uint32_t hash = hash_name(room);
  bool notify_bridge = false;
  {
    Locked locked(*this);
    uint32_t at = kNotFound;
    const uint32_t slot = find(room, hash, at);
    // Not found: the table was cleared after a dead owner and this shard has not re-added it yet.
    if (slot == kNotFound) return;
    uint64_t* mask = masks(slot);
    mask[shard / 64] &= ~(uint64_t{1} << (shard % 64));
    if (mask_empty(mask)) kill_slot(slot, notify_bridge);
    if (header_->tombstones > header_->slots / 4) rebuild();
  }
  if (notify_bridge) notify();
}

void RoomTable::drop_shards(uint32_t first, uint32_t count) {
  bool notify_bridge = false;
  {
    Locked locked(*this);
    const uint8_t* st = states();
    for (uint32_t i = 0; i < header_->slots; ++i) {
      if (st[i] != kLive) continue;
      uint64_t* mask = masks(i);
      for (uint32_t s = first; s < first + count; ++s) mask[s / 64] &= ~(uint64_t{1} << (s % 64));
      if (mask_empty(mask)) kill_slot(i, notify_bridge);
    }
    if (header_->tombstones > header_->slots / 4) rebuild();
  }
  if (notify_bridge) notify();
}

bool RoomTable::has_members(std::string_view room) {
  const uint32_t hash = hash_name(room);
  Locked locked(*this);
  uint32_t at = kNotFound;
  return find(room, hash, at) != kNotFound;
}

bool RoomTable::take_changes(std::vector<std::string>& names) {
  Locked locked(*this);
  for (uint32_t k = 0; k < header_->event_count; ++k) {
    const uint8_t* p = event_at((header_->event_first + k) % kRoomEventsMax);
    names.emplace_back(reinterpret_cast<const char*>(p + 2), static_cast<size_t>(p[0] | (p[1] << 8)));
  }
  header_->event_first = (header_->event_first + header_->event_count) % kRoomEventsMax;
  header_->event_count = 0;
  const bool overflow = header_->event_overflow != 0;
  header_->event_overflow = 0;
  return overflow;
}

void RoomTable::live_rooms(std::vector<std::string>& names) {
  Locked locked(*this);
  const uint8_t* st = states();
  for (uint32_t i = 0; i < header_->slots; ++i)
    if (st[i] == kLive) names.emplace_back(name(i));
}

}  // namespace ringcast
