// Room membership bookkeeping for one shard.
#include "engine/broadcast/room.h"

namespace ringcast {

RoomIndex::RoomIndex() {
  rooms_.emplace_back();
  rooms_[kAllRoom].live = true;
  rooms_[kAllRoom].name = "*all*";
}

void RoomIndex::reserve_conns(uint32_t n) {
  if (conn_first_.size() >= n) return;
  // Exact growth (no doubling): these tables are per connection and sized to the slab.
  conn_first_.reserve(n);
  conn_all_pos_.reserve(n);
  conn_room_count_.reserve(n);
  conn_user_.reserve(n);
  conn_first_.resize(n, kNil);
  conn_user_.resize(n, kNil);
  conn_all_pos_.resize(n, kNil);
  conn_room_count_.resize(n, 0);
}

RoomId RoomIndex::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? kNil : it->second;
}

bool RoomIndex::is_member(uint32_t conn, RoomId room) const {
  for (uint32_t m = conn_first_[conn]; m != kNil; m = membership(m).next)
    if (membership(m).room == room) return true;
  return false;
}

uint32_t RoomIndex::new_membership() {
  if (membership_free_ != kNil) {
    const uint32_t m = membership_free_;
    membership_free_ = membership(m).next;
    return m;
  }
  if (memberships_used_ == membership_chunks_.size() * kMembershipChunk)
    membership_chunks_.emplace_back(new Membership[kMembershipChunk]);
  return memberships_used_++;
}

bool RoomIndex::join(uint32_t conn, std::string_view name, bool& created) {
  created = false;
  RoomId id = find(name);
  if (id != kNil && is_member(conn, id)) return false;
  if (id == kNil) {
    if (!free_rooms_.empty()) {
      id = free_rooms_.back();
      free_rooms_.pop_back();
    } else {
      id = static_cast<RoomId>(rooms_.size());
      rooms_.emplace_back();
    }
    Room& r = rooms_[id];
    r.name.assign(name);
    r.live = true;
    by_name_.emplace(r.name, id);
    if (is_user_room(name)) ++user_rooms_;
    created = true;
  }
  Room& r = rooms_[id];
  const uint32_t m = new_membership();
  membership(m) = Membership{id, static_cast<uint32_t>(r.members.size()), conn_first_[conn]};
  conn_first_[conn] = m;
  r.members.push_back(conn);
  ++conn_room_count_[conn];
  return true;
}

void RoomIndex::set_member_pos(uint32_t conn, RoomId room, uint32_t pos) {
  if (room == kAllRoom) {
    conn_all_pos_[conn] = pos;
    return;
  }
  for (uint32_t m = conn_first_[conn]; m != kNil; m = membership(m).next) {
    if (membership(m).room == room) {
      membership(m).pos = pos;
      return;
    }
  }
  RC_ASSERT(false && "member without a membership");
}

void RoomIndex::remove_member(RoomId room, uint32_t pos) {
  auto& members = rooms_[room].members;
  RC_ASSERT(pos < members.size());
  uint32_t last = members.back();
  members[pos] = last;
  members.pop_back();
  if (pos < members.size()) set_member_pos(last, room, pos);
}

void RoomIndex::free_room(RoomId id) {
  if (on_freed_) on_freed_(on_freed_ctx_, id);
  Room& r = rooms_[id];
  by_name_.erase(r.name);
  if (is_user_room(r.name)) --user_rooms_;
  r.name.clear();
  r.members.clear();
  r.members.shrink_to_fit();
  r.live = false;
  ++r.generation;
  free_rooms_.push_back(id);
}

bool RoomIndex::leave(uint32_t conn, std::string_view name, bool& removed) {
  removed = false;
  RoomId id = find(name);
  if (id == kNil || id == conn_user_[conn]) return false;  // a user binding ends with the connection
  uint32_t prev = kNil;
  for (uint32_t m = conn_first_[conn]; m != kNil; prev = m, m = membership(m).next) {
    if (membership(m).room != id) continue;
    if (prev == kNil)
      conn_first_[conn] = membership(m).next;
    else
      membership(prev).next = membership(m).next;
    remove_member(id, membership(m).pos);
    membership(m).next = membership_free_;
    membership_free_ = m;
    --conn_room_count_[conn];
    if (rooms_[id].members.empty()) {
      free_room(id);
      removed = true;
    }
    return true;
  }
  return false;
}

uint32_t RoomIndex::leave_all(uint32_t conn) {
  uint32_t removed = 0;
  for (uint32_t m = conn_first_[conn]; m != kNil;) {
    uint32_t next = membership(m).next;
    RoomId id = membership(m).room;
    remove_member(id, membership(m).pos);
    membership(m).next = membership_free_;
    membership_free_ = m;
    if (rooms_[id].members.empty()) {
      free_room(id);
      ++removed;
    }
    m = next;
  }
  conn_first_[conn] = kNil;
  conn_room_count_[conn] = 0;
  conn_user_[conn] = kNil;
  if (conn_all_pos_[conn] != kNil) {
    uint32_t pos = conn_all_pos_[conn];
    conn_all_pos_[conn] = kNil;
    remove_member(kAllRoom, pos);
  }
  return removed;
}

void RoomIndex::bind_user(uint32_t conn, std::string_view uid, bool& created) {
  RC_ASSERT(conn_user_[conn] == kNil);
  const std::string name = user_room_name(uid);
  const bool joined = join(conn, name, created);
  RC_ASSERT(joined);
  --conn_room_count_[conn];  // not one of the client's rooms (rooms_per_conn_max)
  conn_user_[conn] = find(name);
}

void RoomIndex::join_all_room(uint32_t conn) {
  RC_ASSERT(conn_all_pos_[conn] == kNil);
  conn_all_pos_[conn] = static_cast<uint32_t>(rooms_[kAllRoom].members.size());
  rooms_[kAllRoom].members.push_back(conn);
}

}  // namespace ringcast
