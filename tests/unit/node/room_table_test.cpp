// Unit tests for engine/room_table: the node-wide room -> shards table in shared memory. Rooms appear
// and disappear node-wide once however many shards share them; the change queue reports exactly
// those transitions (and overflows into a rescan); the room limit; a dead worker's shards taken out;
// tombstone churn that forces rebuilds; and the repair when a process dies holding the lock.
#include "engine/node/room_table.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "engine/node/shm.h"

namespace ringcast {
namespace {

// numbered("r", i) trips GCC 12's -Wrestrict false positive; append instead.
std::string numbered(const char* prefix, uint32_t i) {
  std::string s(prefix);
  s.append(std::to_string(i));
  return s;
}

class RoomTableTest : public ::testing::Test {
 protected:
  void make(uint32_t rooms_max, uint32_t name_bytes_max = 64) {
    std::string error;
    ASSERT_TRUE(region_.create(64 * 1024, RoomTableShape{rooms_max, name_bytes_max}, error)) << error;
    table_ = region_.room_table();
  }
  std::vector<std::string> changes(bool* overflow = nullptr) {
    std::vector<std::string> names;
    const bool o = table_.take_changes(names);
    if (overflow) *overflow = o;
    return names;
  }
  std::set<std::string> live() {
    std::vector<std::string> names;
    table_.live_rooms(names);
    return {names.begin(), names.end()};
  }

  SharedRegion region_;
  RoomTable table_;
};

TEST_F(RoomTableTest, ARoomIsLiveWhileAnyShardHasIt) {
  make(16);
  EXPECT_EQ(table_.live(), 0u);
  EXPECT_TRUE(table_.add(0, "r"));
  EXPECT_TRUE(table_.add(3, "r"));
  EXPECT_TRUE(table_.add(200, "r"));  // any shard index of a node, up to kMaxConsumers
  EXPECT_EQ(table_.live(), 1u);
  EXPECT_TRUE(table_.has_members("r"));
  EXPECT_FALSE(table_.has_members("s"));
  EXPECT_EQ(changes(), std::vector<std::string>{"r"});  // one node-wide appearance
  table_.remove(3, "r");
  table_.remove(0, "r");
  EXPECT_TRUE(table_.has_members("r"));
  EXPECT_TRUE(changes().empty());
  table_.remove(200, "r");
  EXPECT_FALSE(table_.has_members("r"));
  EXPECT_EQ(table_.live(), 0u);
  EXPECT_EQ(changes(), std::vector<std::string>{"r"});  // one disappearance
}

TEST_F(RoomTableTest, AddIsIdempotentPerShardAndRemoveOfUnknownIsHarmless) {
  make(16);
  EXPECT_TRUE(table_.add(1, "r"));
  EXPECT_TRUE(table_.add(1, "r"));
  table_.remove(1, "r");
  EXPECT_FALSE(table_.has_members("r"));
  table_.remove(1, "never-added");
  EXPECT_EQ(table_.live(), 0u);
}

TEST_F(RoomTableTest, NamesAreComparedWhole) {
  make(16);
  // Any bytes a room name may hold, and names that are prefixes of each other.
  const std::vector<std::string> names = {"a", "ab", "a.b", "a b", "*", ">", "\xc3\xa9t\xc3\xa9", "x"};
  for (const auto& n : names) EXPECT_TRUE(table_.add(0, n));
  EXPECT_EQ(live(), std::set<std::string>(names.begin(), names.end()));
  table_.remove(0, "ab");
  EXPECT_TRUE(table_.has_members("a"));
  EXPECT_FALSE(table_.has_members("ab"));
}

TEST_F(RoomTableTest, TheRoomLimitRefusesOnlyNewRooms) {
  make(16);
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(table_.add(0, numbered("r", i)));
  EXPECT_EQ(table_.rooms_max(), 16u);
  EXPECT_FALSE(table_.add(0, "one-too-many"));
  EXPECT_EQ(table_.refused(), 1u);
  EXPECT_TRUE(table_.add(1, "r3"));  // another shard joining a live room is not a new room
  table_.remove(0, "r0");
  EXPECT_TRUE(table_.add(0, "one-too-many"));
  EXPECT_EQ(table_.live(), 16u);
}

TEST_F(RoomTableTest, ADeadWorkersShardsLeaveEveryRoom) {
  make(64);
  table_.add(0, "only-worker-0");
  table_.add(2, "only-worker-1");
  table_.add(3, "only-worker-1");
  table_.add(1, "both");
  table_.add(2, "both");
  changes();
  table_.drop_shards(2, 2);  // worker 1 ran shards 2 and 3
  EXPECT_EQ(live(), (std::set<std::string>{"only-worker-0", "both"}));
  EXPECT_EQ(changes(), std::vector<std::string>{"only-worker-1"});
  table_.remove(1, "both");
  EXPECT_FALSE(table_.has_members("both"));
}

TEST_F(RoomTableTest, TooManyChangesOverflowIntoARescan) {
  make(4096);
  for (uint32_t i = 0; i < kRoomEventsMax + 10; ++i) table_.add(0, numbered("r", i));
  bool overflow = false;
  EXPECT_EQ(changes(&overflow).size(), kRoomEventsMax);
  EXPECT_TRUE(overflow);
  EXPECT_EQ(live().size(), kRoomEventsMax + 10);
  table_.add(0, "next");
  EXPECT_EQ(changes(&overflow), std::vector<std::string>{"next"});
  EXPECT_FALSE(overflow);
}

TEST_F(RoomTableTest, ChurnThroughTombstonesKeepsEveryLiveRoom) {
  make(64);  // 128 slots: a rebuild every 32 removals
  std::set<std::string> expected;
  for (int round = 0; round < 200; ++round) {
    const std::string name = numbered("room-", round);
    ASSERT_TRUE(table_.add(round % 7, name));
    expected.insert(name);
    if (expected.size() > 40) {
      const std::string victim = *expected.begin();
      for (uint32_t s = 0; s < 7; ++s) table_.remove(s, victim);
      expected.erase(victim);
    }
  }
  EXPECT_EQ(live(), expected);
  EXPECT_EQ(table_.live(), expected.size());
  for (const auto& n : expected) EXPECT_TRUE(table_.has_members(n));
  EXPECT_FALSE(table_.has_members("room-0"));
}

TEST_F(RoomTableTest, TheFirstQueuedChangeWakesTheBridge) {
  make(16);
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  table_.set_notify_fd(fd);
  uint64_t value = 0;
  table_.add(0, "a");
  table_.add(0, "b");  // queued behind "a": no second wake-up needed
  ASSERT_EQ(read(fd, &value, sizeof(value)), 8);
  EXPECT_EQ(value, 1u);
  table_.add(1, "a");  // no node-wide change
  EXPECT_LT(read(fd, &value, sizeof(value)), 0);
  changes();
  table_.remove(0, "b");
  ASSERT_EQ(read(fd, &value, sizeof(value)), 8);
  close(fd);
}

TEST_F(RoomTableTest, WorkerProcessesShareTheTable) {
  make(16);
  table_.add(0, "parent");
  const pid_t child = fork();
  if (child == 0) {
    RoomTable t = region_.room_table();
    const bool ok = t.add(1, "child") && t.has_members("parent");
    t.remove(0, "parent");
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(live(), std::set<std::string>{"child"});
}

TEST_F(RoomTableTest, AProcessThatDiesHoldingTheLockLeavesATableToRebuild) {
  make(16);
  table_.add(0, "r");
  changes();
  const uint64_t epoch = table_.resync_epoch();
  const pid_t child = fork();
  if (child == 0) {
    // A worker killed in the middle of a change: it holds the lock and never releases it.
    pthread_mutex_lock(&table_.header()->lock);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  // The next user gets the lock back; the table may be half-changed, so it is cleared and every
  // shard is asked to add its rooms again.
  EXPECT_TRUE(table_.add(1, "s"));
  EXPECT_EQ(table_.resync_epoch(), epoch + 1);
  bool overflow = false;
  changes(&overflow);
  EXPECT_TRUE(overflow);  // the bridge rescans
  EXPECT_EQ(live(), std::set<std::string>{"s"});
  EXPECT_TRUE(table_.add(0, "r"));  // shard 0 re-adds its room
  EXPECT_EQ(table_.live(), 2u);
}

}  // namespace
}  // namespace ringcast
