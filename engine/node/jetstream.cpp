// JetStream's pure parts: subjects, ids, control entries and a room's window (see jetstream.h).
#include "engine/node/jetstream.h"

#include <cstdio>
#include <cstring>

#include "engine/base/check.h"
#include "engine/codec/base64.h"

namespace ringcast::jetstream {

std::string stream_name(std::string_view prefix) {
  std::string name(prefix);
  for (char& c : name)
    if (c == '.') c = '_';
  return name;
}

void stored_room_subject(std::string& out, std::string_view prefix, std::string_view room) {
  out.assign(prefix);
  out += ".h.r.";
  base64url_append(out, room);
}

void live_room_subject(std::string& out, std::string_view prefix, std::string_view room) {
  out.assign(prefix);
  out += ".l.r.";
  base64url_append(out, room);
}

std::string stored_subjects(std::string_view prefix) {
  return std::string(prefix) + ".h.>";
}

std::string live_subjects(std::string_view prefix) {
  return std::string(prefix) + ".l.>";
}

std::string message_id(uint32_t node_id, uint64_t ring_epoch, uint64_t ring_seq) {
  char id[64];
  std::snprintf(id, sizeof(id), "%08x-%016llx-%llu", node_id, static_cast<unsigned long long>(ring_epoch),
                static_cast<unsigned long long>(ring_seq));
  return id;
}

uint64_t message_id_seq(std::string_view id) {
  const size_t dash = id.rfind('-');
  if (dash == std::string_view::npos || dash + 1 >= id.size()) return 0;
  uint64_t seq = 0;
  for (char c : id.substr(dash + 1)) {
    if (c < '0' || c > '9') return 0;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  return seq;
}

uint64_t epoch_of(std::string_view stream, int64_t created_ns) {
  // FNV-1a over the name, mixed with the creation time: two streams (or one deleted and made again)
  // never share an epoch in practice, and every node computes the same one.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : stream) h = (h ^ c) * 1099511628211ULL;
  h ^= static_cast<uint64_t>(created_ns);
  h *= 0x9E3779B97F4A7C15ULL;
  h ^= h >> 29;
  return h ? h : 1;
}

bool commit_control(Ring& ring, ClaimRecord* record, Target target, std::string_view room, uint32_t ticket,
                    uint8_t flags, uint64_t value) {
  const uint32_t size = Ring::entry_bytes(room.size(), sizeof(uint64_t));
  RingClaim claim;
  if (!ring.try_claim(size, claim, record)) return false;
  RingEntry* e = claim.entry;
  e->frame_offset = Ring::frame_offset_for(room.size());
  e->frame_len = 0;  // no frame: the value sits where a frame would
  e->items_offset = 0;
  e->items_len = 0;
  e->item_count = 0;
  e->publish_ns = 0;
  e->room_len = static_cast<uint16_t>(room.size());
  e->target = target;
  e->flags = flags;
  e->origin = ticket;
  if (!room.empty()) std::memcpy(e + 1, room.data(), room.size());
  std::memcpy(reinterpret_cast<uint8_t*>(e) + e->frame_offset, &value, sizeof(value));
  ring.commit(claim, record);
  return true;
}

uint64_t control_value(const RingEntry& entry) {
  uint64_t value = 0;
  std::memcpy(&value, reinterpret_cast<const uint8_t*>(&entry) + entry.frame_offset, sizeof(value));
  return value;
}

void RoomWindow::start(uint64_t last) {
  started_ = true;
  last_ = from_ = last;
  items_.clear();
  bytes_ = 0;
}

RoomWindow::Fit RoomWindow::fit(uint64_t position, uint64_t previous) const {
  if (!started_) return Fit::next;  // the first item seen since subscribing starts the window
  if (position <= last_) return Fit::duplicate;
  // The stream numbers a room's items in order, so `previous` is last_ unless items came between.
  return previous <= last_ ? Fit::next : Fit::gap;
}

size_t RoomWindow::append(uint64_t position, uint64_t previous, std::string_view items) {
  RC_ASSERT(!started_ || position > last_);
  if (!started_ || previous > last_) {
    // Nothing before this item is known to be complete: the window starts at it.
    started_ = true;
    from_ = previous;
    items_.clear();
    bytes_ = 0;
  }
  last_ = position;
  items_.push_back(WindowItem{position, std::string(items)});
  bytes_ += items.size();
  return items.size();
}

void RoomWindow::skip(uint64_t position, uint64_t previous) {
  if (started_ && position <= last_) return;
  if (!started_ || previous > last_) {
    started_ = true;
    from_ = previous;
    items_.clear();
    bytes_ = 0;
  }
  last_ = position;
}

size_t RoomWindow::prepend(std::vector<WindowItem>& older, uint64_t new_from) {
  RC_ASSERT(new_from <= from_);
  size_t added = 0;
  for (auto it = older.rbegin(); it != older.rend(); ++it) {
    RC_ASSERT(it->position <= from_ && it->position > new_from);
    added += it->items.size();
    items_.push_front(std::move(*it));
  }
  older.clear();
  from_ = new_from;
  bytes_ += added;
  return added;
}

size_t RoomWindow::trim(size_t bytes) {
  size_t freed = 0;
  while (freed < bytes && !items_.empty()) {
    freed += items_.front().items.size();
    from_ = items_.front().position;
    items_.pop_front();
  }
  bytes_ -= freed;
  return freed;
}

bool RoomWindow::collect(uint64_t since, std::vector<const WindowItem*>& out) const {
  if (since < from_) return false;
  for (const WindowItem& item : items_)
    if (item.position > since) out.push_back(&item);
  return true;
}

}  // namespace ringcast::jetstream
