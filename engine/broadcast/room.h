// A shard's room index: room name -> the shard's local members, and each connection's memberships.
// Members are a dense vector of connection ids per room, because fan-out walks them for every frame;
// joins and leaves are O(1) (swap-remove) with each membership remembering its position. The room
// "all" (push/all) is room 0 and holds every open WebSocket connection of the shard. Touched by its
// shard's thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/broadcast/ring.h"
#include "engine/broadcast/frames.h"
#include "engine/broadcast/users.h"

namespace ringcast {

using RoomId = uint32_t;
constexpr RoomId kAllRoom = 0;

// Entries waiting to be coalesced into one PUSH frame for a room (see fanout.h).
struct RoomBatch {
  std::vector<const RingEntry*> entries;
  uint32_t items = 0;
  size_t bytes = 0;           // sum of the entries' items_len, plus one separator each
  uint32_t epoch = kNil;      // ring epoch pinned while entries wait (window mode)
  uint32_t serial = 0;        // bumped at every emit, so a stale window timer is recognised
  bool listed = false;        // in the fan-out's list of rooms touched by the current drain
  // Frames sealed during the current drain (batches cut at their item or byte cap), delivered with
  // the rest of the room's frames when the drain ends: a chain in the fan-out's sealed list.
  uint32_t sealed_first = kNil;
  uint32_t sealed_last = kNil;
};

struct Room {
  std::string name;
  std::vector<uint32_t> members;  // connection ids
  RoomBatch batch;
  uint32_t generation = 0;        // bumped when the id is recycled, so stale timers are ignored
  bool live = false;
};

class RoomIndex {
 public:
  RoomIndex();

  // Grows the per-connection tables to hold connection ids < n.
  void reserve_conns(uint32_t n);

  RoomId find(std::string_view name) const;
  Room& room(RoomId id) { return rooms_[id]; }
  const Room& room(RoomId id) const { return rooms_[id]; }
  // Rooms with members, "all" and the internal user rooms excluded.
  size_t room_count() const { return by_name_.size() - user_rooms_; }
  // Internal user rooms ("\x01" + uid) with members: the distinct bound users of the shard.
  size_t user_room_count() const { return user_rooms_; }
  // Rooms the connection is in, "all" excluded.
  uint32_t rooms_of(uint32_t conn) const { return conn_room_count_[conn]; }
  bool is_member(uint32_t conn, RoomId room) const;

  // Adds the connection to the named room (creating it). Returns false when it was already a member.
  // The caller checks limits first. `created` tells whether the room is new on this shard.
  bool join(uint32_t conn, std::string_view name, bool& created);
  // Returns false when the connection was not a member. `removed` tells whether the room is gone.
  bool leave(uint32_t conn, std::string_view name, bool& removed);
  // Leaves every room, "all" included. Returns how many named rooms were removed as a result.
  uint32_t leave_all(uint32_t conn);

  void join_all_room(uint32_t conn);

  // Binds the connection to a user: it joins the user's internal room (users.h), which does not count
  // against rooms_of() and is not listed by for_each_room(). One user per connection (the caller
  // checks); left by leave_all(). `created` tells whether the user is new on this shard.
  void bind_user(uint32_t conn, std::string_view uid, bool& created);
  // The connection's internal user room, or kNil when it is not bound.
  RoomId user_room_of(uint32_t conn) const { return conn_user_[conn]; }
  // The bound uid of a connection, empty when it is not bound.
  std::string_view user_of(uint32_t conn) const {
    return conn_user_[conn] == kNil ? std::string_view() : user_of_room(rooms_[conn_user_[conn]].name);
  }
  // Calls fn(const Room&) for every room with members, "all" and the internal user rooms excluded.
  template <class Fn>
  void for_each_room(Fn&& fn) const {
    for (size_t id = 1; id < rooms_.size(); ++id)
      if (rooms_[id].live && !is_user_room(rooms_[id].name)) fn(rooms_[id]);
  }
  // Calls fn(const Room&) for every room the connection is in, "all" and its user room excluded.
  template <class Fn>
  void for_each_room_of(uint32_t conn, Fn&& fn) const {
    for (uint32_t m = conn_first_[conn]; m != kNil; m = membership(m).next)
      if (membership(m).room != conn_user_[conn]) fn(rooms_[membership(m).room]);
  }
  // Room ids are below this (for tables indexed by room id).
  size_t room_id_bound() const { return rooms_.size(); }

  // Called back before a room is freed (so the fan-out can drop a pending batch).
  void set_on_room_freed(void (*fn)(void* ctx, RoomId id), void* ctx) {
    on_freed_ = fn;
    on_freed_ctx_ = ctx;
  }

 private:
  struct Membership {
    RoomId room;
    uint32_t pos;   // index in the room's members
    uint32_t next;  // next membership of the same connection
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void remove_member(RoomId room, uint32_t pos);
  void set_member_pos(uint32_t conn, RoomId room, uint32_t pos);
  void free_room(RoomId id);

  std::vector<Room> rooms_;
  std::vector<RoomId> free_rooms_;
  std::unordered_map<std::string, RoomId, Hash, std::equal_to<>> by_name_;
  // Memberships live in fixed-size chunks rather than one vector: a vector's doubling would leave up to
  // half of the largest table unused, and this one has an entry per connection per room.
  static constexpr uint32_t kMembershipChunk = 4096;
  Membership& membership(uint32_t m) { return membership_chunks_[m / kMembershipChunk][m % kMembershipChunk]; }
  const Membership& membership(uint32_t m) const {
    return membership_chunks_[m / kMembershipChunk][m % kMembershipChunk];
  }
  uint32_t new_membership();
  std::vector<std::unique_ptr<Membership[]>> membership_chunks_;
  uint32_t memberships_used_ = 0;
  uint32_t membership_free_ = kNil;
  std::vector<uint32_t> conn_first_;      // per connection: first membership, kNil when none
  std::vector<uint32_t> conn_all_pos_;    // per connection: position in room 0, kNil when not in it
  std::vector<uint16_t> conn_room_count_;
  std::vector<RoomId> conn_user_;         // per connection: its internal user room, kNil when unbound
  size_t user_rooms_ = 0;
  void (*on_freed_)(void*, RoomId) = nullptr;
  void* on_freed_ctx_ = nullptr;
};

}  // namespace ringcast
