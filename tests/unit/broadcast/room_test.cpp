// Unit tests for engine/room: joins, leaves and leave_all in random order against a reference model
// (std::map of sets), swap-remove bookkeeping, the freed-room callback, id recycling and the "all" room.
#include "engine/broadcast/room.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace ringcast {
namespace {

std::set<uint32_t> members_of(const RoomIndex& index, RoomId id) {
  const auto& m = index.room(id).members;
  std::set<uint32_t> out(m.begin(), m.end());
  EXPECT_EQ(out.size(), m.size()) << "a member listed twice in room " << id;
  return out;
}

struct FreedLog {
  std::vector<RoomId> ids;
  const RoomIndex* index = nullptr;
  std::vector<std::string> names;  // the name at the time of the call (the room is still intact)
  static void on_freed(void* ctx, RoomId id) {
    auto* self = static_cast<FreedLog*>(ctx);
    self->ids.push_back(id);
    self->names.push_back(self->index->room(id).name);
    EXPECT_TRUE(self->index->room(id).members.empty());
  }
};

TEST(RoomIndex, JoinAndLeaveOne) {
  RoomIndex index;
  index.reserve_conns(4);
  FreedLog freed;
  freed.index = &index;
  index.set_on_room_freed(&FreedLog::on_freed, &freed);
  EXPECT_EQ(index.find("r"), kNil);
  EXPECT_EQ(index.room_count(), 0u);

  bool created = false;
  EXPECT_TRUE(index.join(1, "r", created));
  EXPECT_TRUE(created);
  const RoomId r = index.find("r");
  ASSERT_NE(r, kNil);
  EXPECT_NE(r, kAllRoom);
  EXPECT_EQ(index.room(r).name, "r");
  EXPECT_TRUE(index.room(r).live);
  EXPECT_EQ(index.room_count(), 1u);
  EXPECT_EQ(index.rooms_of(1), 1u);
  EXPECT_TRUE(index.is_member(1, r));
  EXPECT_FALSE(index.is_member(2, r));

  EXPECT_FALSE(index.join(1, "r", created)) << "already a member";
  EXPECT_FALSE(created);
  EXPECT_EQ(index.rooms_of(1), 1u);
  EXPECT_TRUE(index.join(2, "r", created));
  EXPECT_FALSE(created);
  EXPECT_EQ(index.room(r).members, (std::vector<uint32_t>{1, 2}));

  bool removed = true;
  EXPECT_FALSE(index.leave(3, "r", removed)) << "not a member";
  EXPECT_FALSE(removed);
  EXPECT_FALSE(index.leave(1, "nope", removed));
  EXPECT_TRUE(index.leave(1, "r", removed));
  EXPECT_FALSE(removed);
  EXPECT_EQ(index.room(r).members, (std::vector<uint32_t>{2}));
  EXPECT_TRUE(freed.ids.empty());
  const uint32_t generation = index.room(r).generation;
  EXPECT_TRUE(index.leave(2, "r", removed));
  EXPECT_TRUE(removed);
  EXPECT_EQ(freed.ids, (std::vector<RoomId>{r}));
  EXPECT_EQ(freed.names, (std::vector<std::string>{"r"}));
  EXPECT_EQ(index.find("r"), kNil);
  EXPECT_EQ(index.room_count(), 0u);
  EXPECT_FALSE(index.room(r).live);
  EXPECT_EQ(index.room(r).generation, generation + 1);

  // The id is recycled for the next new room.
  EXPECT_TRUE(index.join(3, "s", created));
  EXPECT_TRUE(created);
  EXPECT_EQ(index.find("s"), r);
  EXPECT_TRUE(index.room(r).live);
  EXPECT_EQ(index.room(r).name, "s");
}

TEST(RoomIndex, SwapRemoveKeepsPositionsRight) {
  RoomIndex index;
  index.reserve_conns(10);
  bool flag = false;
  for (uint32_t c = 0; c < 10; ++c) {
    ASSERT_TRUE(index.join(c, "a", flag));
    ASSERT_TRUE(index.join(c, "b", flag));
  }
  const RoomId a = index.find("a");
  // Leave from the front: the last member moves into the hole, and its membership must know.
  ASSERT_TRUE(index.leave(0, "a", flag));
  EXPECT_EQ(index.room(a).members, (std::vector<uint32_t>{9, 1, 2, 3, 4, 5, 6, 7, 8}));
  ASSERT_TRUE(index.leave(9, "a", flag));  // the moved member leaves from its new position
  EXPECT_EQ(index.room(a).members, (std::vector<uint32_t>{8, 1, 2, 3, 4, 5, 6, 7}));
  ASSERT_TRUE(index.leave(8, "a", flag));
  ASSERT_TRUE(index.leave(7, "a", flag));  // the last member: no move
  EXPECT_EQ(index.room(a).members, (std::vector<uint32_t>{6, 1, 2, 3, 4, 5}));
  EXPECT_EQ(members_of(index, index.find("b")).size(), 10u);
}

TEST(RoomIndex, TheAllRoom) {
  RoomIndex index;
  index.reserve_conns(8);
  FreedLog freed;
  freed.index = &index;
  index.set_on_room_freed(&FreedLog::on_freed, &freed);
  EXPECT_TRUE(index.room(kAllRoom).live);
  EXPECT_TRUE(index.room(kAllRoom).members.empty());
  for (uint32_t c = 0; c < 5; ++c) index.join_all_room(c);
  EXPECT_EQ(index.room(kAllRoom).members, (std::vector<uint32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(index.room_count(), 0u) << "the all room is not counted";
  bool created = false;
  ASSERT_TRUE(index.join(2, "x", created));
  EXPECT_EQ(index.rooms_of(2), 1u);
  EXPECT_EQ(index.room_count(), 1u);

  EXPECT_EQ(index.leave_all(0), 0u);
  EXPECT_EQ(index.room(kAllRoom).members, (std::vector<uint32_t>{4, 1, 2, 3}));
  EXPECT_EQ(index.leave_all(2), 1u) << "x emptied";
  EXPECT_EQ(index.rooms_of(2), 0u);
  EXPECT_EQ(members_of(index, kAllRoom), (std::set<uint32_t>{1, 3, 4}));
  EXPECT_EQ(freed.ids.size(), 1u);
  EXPECT_EQ(index.room_count(), 0u);
  // Moved members (4 went to position 0, 3 to position 2) still leave cleanly.
  EXPECT_EQ(index.leave_all(4), 0u);
  EXPECT_EQ(index.leave_all(3), 0u);
  EXPECT_EQ(index.room(kAllRoom).members, (std::vector<uint32_t>{1}));
  // A connection may rejoin the all room after leaving it; leave_all of a conn in nothing is a no-op.
  index.join_all_room(0);
  EXPECT_EQ(index.leave_all(7), 0u);
  EXPECT_EQ(members_of(index, kAllRoom), (std::set<uint32_t>{0, 1}));
  EXPECT_TRUE(index.room(kAllRoom).live) << "the all room is never freed";
  EXPECT_EQ(index.find("*all*"), kNil) << "not reachable by name";
}

// Random joins, leaves and leave_alls over many connections and rooms, checked against a model after
// every operation.
TEST(RoomIndex, RandomOperationsMatchAReferenceModel) {
  constexpr uint32_t kConns = 120;
  constexpr int kRooms = 40;
  constexpr int kOps = 40000;
  RoomIndex index;
  index.reserve_conns(kConns);
  FreedLog freed;
  freed.index = &index;
  index.set_on_room_freed(&FreedLog::on_freed, &freed);
  std::map<std::string, std::set<uint32_t>> model;
  std::set<uint32_t> all_model;
  std::mt19937 rng(42);
  size_t frees_expected = 0;
  size_t max_rooms_seen = 0;

  auto room_name = [](int r) {
    std::string name = "room/";
    name += std::to_string(r);
    if (r % 3 == 0) name += "\xe6\x88\xbf";  // some multibyte names
    return name;
  };
  auto rooms_of_model = [&](uint32_t conn) {
    uint32_t n = 0;
    for (const auto& [name, members] : model) n += members.count(conn);
    return n;
  };

  for (int op = 0; op < kOps; ++op) {
    uint32_t conn = rng() % kConns;
    std::string name = room_name(static_cast<int>(rng() % kRooms));
    // Phases that fill rooms and phases that empty them (leaves aimed at actual members), so rooms
    // are created and freed often.
    const bool filling = (op / 1000) % 2 == 0;
    int kind = static_cast<int>(rng() % 100);
    if (!filling && kind < 55) {
      kind = 60;
      if (!model.empty()) {
        auto it = model.begin();
        std::advance(it, rng() % model.size());
        name = it->first;
        auto m = it->second.begin();
        std::advance(m, rng() % it->second.size());
        conn = *m;
      }
    }
    if (kind < 55) {
      bool created = false;
      const bool joined = index.join(conn, name, created);
      auto it = model.find(name);
      const bool was_member = it != model.end() && it->second.count(conn);
      ASSERT_EQ(joined, !was_member) << op;
      ASSERT_EQ(created, it == model.end()) << op;
      model[name].insert(conn);
    } else if (kind < 90) {
      const RoomId id_before = index.find(name);
      bool removed = false;
      const size_t freed_before = freed.ids.size();
      const bool left = index.leave(conn, name, removed);
      auto it = model.find(name);
      const bool was_member = it != model.end() && it->second.count(conn);
      ASSERT_EQ(left, was_member) << op;
      if (was_member) {
        it->second.erase(conn);
        const bool empties = it->second.empty();
        ASSERT_EQ(removed, empties) << op;
        if (empties) {
          model.erase(it);
          ++frees_expected;
          ASSERT_EQ(freed.ids.size(), freed_before + 1);
          ASSERT_EQ(freed.ids.back(), id_before);
          ASSERT_EQ(freed.names.back(), name);
        }
      } else {
        ASSERT_FALSE(removed);
        ASSERT_EQ(freed.ids.size(), freed_before);
      }
    } else if (kind < 95) {
      size_t emptied = 0;
      for (auto it = model.begin(); it != model.end();) {
        if (it->second.erase(conn) && it->second.empty()) {
          it = model.erase(it);
          ++emptied;
        } else {
          ++it;
        }
      }
      const size_t freed_before = freed.ids.size();
      ASSERT_EQ(index.leave_all(conn), emptied) << op;
      ASSERT_EQ(freed.ids.size(), freed_before + emptied);
      frees_expected += emptied;
      all_model.erase(conn);
    } else if (!all_model.count(conn)) {
      index.join_all_room(conn);
      all_model.insert(conn);
    }

    ASSERT_EQ(index.room_count(), model.size()) << op;
    max_rooms_seen = std::max(max_rooms_seen, model.size());
    if (op % 50 == 0 || op == kOps - 1) {
      for (const auto& [name, members] : model) {
        const RoomId id = index.find(name);
        ASSERT_NE(id, kNil) << name;
        ASSERT_TRUE(index.room(id).live);
        ASSERT_EQ(index.room(id).name, name);
        ASSERT_EQ(members_of(index, id), members) << name << " at op " << op;
        for (uint32_t m : members) ASSERT_TRUE(index.is_member(m, id));
      }
      for (int r = 0; r < kRooms; ++r) {
        if (!model.count(room_name(r))) {
          ASSERT_EQ(index.find(room_name(r)), kNil);
        }
      }
      for (uint32_t c = 0; c < kConns; c += 7) ASSERT_EQ(index.rooms_of(c), rooms_of_model(c)) << c;
      ASSERT_EQ(members_of(index, kAllRoom), all_model);
    }
  }
  EXPECT_EQ(freed.ids.size(), frees_expected);
  EXPECT_GT(frees_expected, 100u) << "the run must empty rooms often";
  EXPECT_EQ(max_rooms_seen, static_cast<size_t>(kRooms));

  // Everyone leaves: every remaining room is freed exactly once, and nothing is left.
  for (uint32_t c = 0; c < kConns; ++c) index.leave_all(c);
  EXPECT_EQ(index.room_count(), 0u);
  EXPECT_EQ(freed.ids.size(), frees_expected + model.size());
  EXPECT_TRUE(index.room(kAllRoom).members.empty());
}

}  // namespace
}  // namespace ringcast
