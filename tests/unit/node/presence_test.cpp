// Unit tests for engine/presence: one shard's part from its room index (distinct users, cursors,
// limits, the box's byte bound), the merge of parts (counts summed, names deduplicated, pages cut
// below a truncated part), paging through a room spread over shards until the end against a model,
// the JSON, request parsing, and the mailbox between threads (answers, a shard that is not running,
// a shard that does not answer: timeout, then the box is usable again).
#include "engine/node/presence.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "engine/node/shm.h"

namespace ringcast {
namespace {

PresenceQuery room_query(std::string room, bool users, uint32_t limit = 100, std::string cursor = {}) {
  PresenceQuery q;
  q.kind = PresenceKind::room;
  q.room = std::move(room);
  q.users = users;
  q.limit = limit;
  q.cursor = std::move(cursor);
  return q;
}

PresenceQuery rooms_query(uint32_t limit = 100, std::string cursor = {}) {
  PresenceQuery q;
  q.kind = PresenceKind::rooms;
  q.limit = limit;
  q.cursor = std::move(cursor);
  return q;
}

std::vector<std::string> names(const std::vector<std::pair<std::string, uint64_t>>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.first);
  return out;
}

TEST(PresenceLocal, DistinctUsersSortedAfterTheCursor) {
  RoomIndex index;
  index.reserve_conns(8);
  bool created;
  const char* uids[] = {"cy", "al", "cy", nullptr, "bo", "al", "dee", nullptr};
  for (uint32_t c = 0; c < 8; ++c) {
    if (uids[c]) index.bind_user(c, uids[c], created);
    if (c != 7) index.join(c, "r", created);
  }
  PresencePart part;
  presence_answer_local(index, room_query("r", false), part);
  EXPECT_EQ(part.members, 7u);
  EXPECT_TRUE(part.entries.empty());
  presence_answer_local(index, room_query("r", true), part);
  EXPECT_EQ(names(part.entries), (std::vector<std::string>{"al", "bo", "cy", "dee"}));
  EXPECT_FALSE(part.truncated);
  presence_answer_local(index, room_query("r", true, 2), part);
  EXPECT_EQ(names(part.entries), (std::vector<std::string>{"al", "bo"}));
  EXPECT_TRUE(part.truncated);
  presence_answer_local(index, room_query("r", true, 2, "bo"), part);
  EXPECT_EQ(names(part.entries), (std::vector<std::string>{"cy", "dee"}));
  EXPECT_FALSE(part.truncated);
  // The same query twice (the distinct-marks are stamped per query).
  presence_answer_local(index, room_query("r", true), part);
  EXPECT_EQ(part.entries.size(), 4u);
  // A byte bound smaller than the page: fewer entries, marked truncated.
  presence_answer_local(index, room_query("r", true), part, 2 * (2 + 2 + 8));
  EXPECT_EQ(names(part.entries), (std::vector<std::string>{"al", "bo"}));
  EXPECT_TRUE(part.truncated);
  // Unknown rooms and internal names: nothing.
  presence_answer_local(index, room_query("nope", true), part);
  EXPECT_EQ(part.members, 0u);
  presence_answer_local(index, room_query(user_room_name("al"), true), part);
  EXPECT_EQ(part.members, 0u);
}

TEST(PresenceLocal, RoomListingSkipsUserRooms) {
  RoomIndex index;
  index.reserve_conns(4);
  bool created;
  index.bind_user(0, "zed", created);
  index.join(0, "b", created);
  index.join(1, "b", created);
  index.join(1, "a", created);
  index.join(2, "c", created);
  PresencePart part;
  presence_answer_local(index, rooms_query(), part);
  ASSERT_EQ(part.entries.size(), 3u);
  EXPECT_EQ(part.entries[0], (std::pair<std::string, uint64_t>{"a", 1}));
  EXPECT_EQ(part.entries[1], (std::pair<std::string, uint64_t>{"b", 2}));
  EXPECT_EQ(part.entries[2], (std::pair<std::string, uint64_t>{"c", 1}));
  presence_answer_local(index, rooms_query(1, "a"), part);
  EXPECT_EQ(names(part.entries), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(part.truncated);
}

TEST(PresenceMerge, SumsDedupesAndStopsBelowATruncatedPart) {
  PresencePart a, b;
  a.members = 3;
  a.entries = {{"a", 1}, {"c", 2}};
  b.members = 4;
  b.entries = {{"b", 5}, {"c", 1}, {"d", 1}};
  PresencePage page;
  presence_merge({a, b}, rooms_query(), page);
  EXPECT_EQ(page.members, 7u);
  EXPECT_EQ(page.entries, (std::vector<std::pair<std::string, uint64_t>>{{"a", 1}, {"b", 5}, {"c", 3}, {"d", 1}}));
  EXPECT_FALSE(page.has_next);
  presence_merge({a, b}, rooms_query(2), page);
  EXPECT_EQ(names(page.entries), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(page.has_next);
  EXPECT_EQ(page.next, "b");
  // a is truncated after "c": "d" may have members in a beyond it; the page stops at "c".
  a.truncated = true;
  presence_merge({a, b}, rooms_query(10), page);
  EXPECT_EQ(names(page.entries), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(page.entries[2].second, 3u);
  EXPECT_TRUE(page.has_next);
  EXPECT_EQ(page.next, "c");
  // No parts at all (a node whose other shards are stopped, an unknown room).
  presence_merge({}, room_query("r", true), page);
  EXPECT_EQ(page.members, 0u);
  EXPECT_FALSE(page.has_next);
}

// Users spread at random over shards, paged with small limits and small box bounds: every user
// exactly once, in order, whatever the split.
TEST(PresenceMerge, PagingThroughShardsMatchesAModel) {
  std::mt19937 rng(7);
  for (int round = 0; round < 30; ++round) {
    const uint32_t shards = 1 + rng() % 4;
    std::vector<RoomIndex> indexes(shards);
    std::set<std::string> model;
    uint32_t members = 0;
    for (auto& index : indexes) index.reserve_conns(200);
    for (uint32_t c = 0; c < 200; ++c) {
      RoomIndex& index = indexes[rng() % shards];
      bool created;
      if (rng() % 5) {
        std::string uid(1, 'u');  // (not "u" + to_string: g++ 12's -Wrestrict false positive)
        uid += std::to_string(rng() % 60);
        index.bind_user(c, uid, created);
        model.insert(uid);
      }
      index.join(c, "room", created);
      ++members;
    }
    const uint32_t limit = 1 + rng() % 9;
    const size_t bytes_max = rng() % 2 ? kPresenceBoxDataBytes : 3 * (2 + 3 + 8);
    std::vector<std::string> seen;
    std::string cursor;
    for (int pages = 0; pages < 1000; ++pages) {
      std::vector<PresencePart> parts(shards);
      const PresenceQuery q = room_query("room", true, limit, cursor);
      for (uint32_t s = 0; s < shards; ++s) presence_answer_local(indexes[s], q, parts[s], bytes_max);
      PresencePage page;
      presence_merge(parts, q, page);
      EXPECT_EQ(page.members, members);
      EXPECT_LE(page.entries.size(), limit);
      for (const auto& e : page.entries) seen.push_back(e.first);
      if (!page.has_next) break;
      ASSERT_FALSE(page.entries.empty());
      cursor = page.next;
    }
    EXPECT_EQ(seen, std::vector<std::string>(model.begin(), model.end())) << "round " << round;
  }
}

TEST(PresenceJson, RoomAndRooms) {
  PresencePage page;
  page.members = 3;
  EXPECT_EQ(presence_json(room_query("a\"b", false), page), R"({"room":"a\"b","members":3})");
  page.entries = {{"al", 0}, {"bo", 0}};
  page.has_next = true;
  page.next = "bo";
  EXPECT_EQ(presence_json(room_query("r", true), page),
            R"({"room":"r","members":3,"users":["al","bo"],"next":"bo"})");
  page.entries = {{"x", 2}};
  page.has_next = false;
  EXPECT_EQ(presence_json(rooms_query(), page), R"({"rooms":[{"room":"x","members":2}],"next":null})");
}

TEST(PresenceRequest, Parsing) {
  PresenceQuery q;
  std::string_view why;
  ASSERT_TRUE(parse_presence_request("/rooms", "", 128, RoomCharset::utf8, q, why));
  EXPECT_EQ(q.kind, PresenceKind::rooms);
  EXPECT_EQ(q.limit, kPresencePageDefault);
  ASSERT_TRUE(parse_presence_request("/rooms/a%2Fb%20c+", "users=1&limit=1000&cursor=x%20y", 128,
                                     RoomCharset::utf8, q, why));
  EXPECT_EQ(q.kind, PresenceKind::room);
  EXPECT_EQ(q.room, "a/b c+");
  EXPECT_TRUE(q.users);
  EXPECT_EQ(q.limit, 1000u);
  EXPECT_EQ(q.cursor, "x y");
  ASSERT_TRUE(parse_presence_request("/rooms/%C3%BC", "users=0", 128, RoomCharset::utf8, q, why));
  EXPECT_EQ(q.room, "\xc3\xbc");
  EXPECT_FALSE(q.users);
  for (auto [path, query] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"/rooms/a%2", ""}, {"/rooms/%zz", ""}, {"/rooms/%01", ""}, {"/rooms/a", "limit=0"},
           {"/rooms/a", "limit=1001"}, {"/rooms/a", "limit=1x"}, {"/rooms/a", "users=yes"},
           {"/rooms/a", "cursor=%"}, {"/roomsx", ""}, {"/rooms/%C3", ""}})
    EXPECT_FALSE(parse_presence_request(path, query, 128, RoomCharset::utf8, q, why)) << path << "?" << query;
  EXPECT_FALSE(parse_presence_request("/rooms/abc", "", 2, RoomCharset::utf8, q, why));
  EXPECT_FALSE(parse_presence_request("/rooms/a%20b", "", 128, RoomCharset::ascii, q, why));
}

// The mailbox between threads: shards 1 and 2 run a loop that serves their box; shard 0 asks.
class PresenceMailboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(region_.create(64 * 1024, RoomTableShape{}, 4, error)) << error;
    board_ = region_.presence();
    ring_ = region_.ring();
    for (uint32_t s = 0; s < 4; ++s) board_.reset(s);
    for (auto& index : indexes_) index.reserve_conns(16);
    bool created;
    indexes_[1].bind_user(0, "al", created);
    indexes_[1].join(0, "r", created);
    indexes_[1].join(1, "r", created);
    indexes_[2].bind_user(0, "bo", created);
    indexes_[2].join(0, "r", created);
    indexes_[3].join(0, "r", created);  // shard 3 is never running: not counted
  }
  void TearDown() override { stop_shards(); }

  void run_shard(uint32_t s) {
    ring_.slot(s).active.store(1);
    threads_.emplace_back([this, s] {
      while (!stop_.load()) {
        if (!paused_[s].load()) board_.serve(s, indexes_[s], ring_);
        std::this_thread::yield();
      }
    });
  }
  void stop_shards() {
    stop_.store(true);
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  PresenceAsk::Status ask(const PresenceQuery& q, PresenceAsk& a, int64_t timeout_ns, uint64_t ticket) {
    a.start(board_, ring_, 4, 0, q, now_ns(), timeout_ns, ticket);
    for (;;) {
      const PresenceAsk::Status st = a.poll(now_ns());
      if (st != PresenceAsk::Status::pending) return st;
      std::this_thread::yield();
    }
  }

  SharedRegion region_;
  PresenceBoard board_;
  Ring ring_;
  RoomIndex indexes_[4];
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_[4] = {};
};

TEST_F(PresenceMailboxTest, AsksEveryRunningShardAndMerges) {
  run_shard(1);
  run_shard(2);
  for (uint64_t ticket = 1; ticket <= 50; ++ticket) {
    PresenceAsk a;
    ASSERT_EQ(ask(room_query("r", true), a, 5'000'000'000, ticket), PresenceAsk::Status::done);
    PresencePage page;
    presence_merge(a.parts(), room_query("r", true), page);
    EXPECT_EQ(page.members, 3u);
    EXPECT_EQ(names(page.entries), (std::vector<std::string>{"al", "bo"}));
  }
  for (uint32_t s = 1; s < 3; ++s) EXPECT_EQ(board_.box(s).state.load(), kBoxFree);
}

TEST_F(PresenceMailboxTest, AShardThatDoesNotAnswerTimesOutAndItsBoxRecovers) {
  run_shard(1);
  run_shard(2);
  paused_[2].store(true);
  PresenceAsk a;
  // (Long enough for shard 1 to answer on a loaded machine: only shard 2 may be the one that failed.)
  ASSERT_EQ(ask(rooms_query(), a, 500'000'000, 1), PresenceAsk::Status::timed_out);
  EXPECT_EQ(a.failed_shard(), 2u);
  EXPECT_EQ(board_.box(2).state.load(), kBoxFree);  // withdrawn before the shard took it
  paused_[2].store(false);
  PresenceAsk b;
  ASSERT_EQ(ask(rooms_query(), b, 5'000'000'000, 2), PresenceAsk::Status::done);
  PresencePage page;
  presence_merge(b.parts(), rooms_query(), page);
  EXPECT_EQ(page.entries, (std::vector<std::pair<std::string, uint64_t>>{{"r", 3}}));
}

TEST_F(PresenceMailboxTest, AnAbandonedAnswerIsReclaimedAndAStuckAnswerIsRedoneAfterARestart) {
  // A box answered after its asker gave up is claimable by the next asker.
  PresenceBox& box = board_.box(1);
  ring_.slot(1).active.store(1);
  PresenceAsk a;
  a.start(board_, ring_, 2, 0, rooms_query(), now_ns(), 1'000'000'000, 1);
  EXPECT_EQ(a.poll(now_ns()), PresenceAsk::Status::pending);
  uint32_t requested = kBoxRequested;
  ASSERT_TRUE(box.state.compare_exchange_strong(requested, kBoxAnswering));  // the shard takes it...
  a.abandon();                                                              // ...the asker gives up
  EXPECT_EQ(box.abandoned.load(), 1u);
  box.state.store(kBoxAnswered);  // ...the shard finishes
  PresenceAsk b;
  b.start(board_, ring_, 2, 0, rooms_query(), now_ns(), 1'000'000'000, 2);
  EXPECT_EQ(b.poll(now_ns()), PresenceAsk::Status::pending);
  EXPECT_EQ(box.state.load(), kBoxRequested);
  EXPECT_EQ(box.ticket.load(), 2u);
  // The shard dies while answering; restarted, it answers the query again.
  ASSERT_TRUE(box.state.compare_exchange_strong(requested = kBoxRequested, kBoxAnswering));
  const uint32_t incarnation = box.incarnation.load();
  EXPECT_EQ(board_.reset(1), incarnation + 1);
  EXPECT_EQ(box.state.load(), kBoxRequested);
  EXPECT_TRUE(board_.serve(1, indexes_[1], ring_));
  EXPECT_EQ(b.poll(now_ns()), PresenceAsk::Status::done);
  ASSERT_EQ(b.parts().size(), 1u);
  EXPECT_EQ(b.parts()[0].entries, (std::vector<std::pair<std::string, uint64_t>>{{"r", 2}}));
  // A shard that is not running is not asked, and a stopped one's request is withdrawn.
  ring_.slot(1).active.store(0);
  PresenceAsk c;
  c.start(board_, ring_, 4, 0, rooms_query(), now_ns(), 1'000'000'000, 3);
  EXPECT_EQ(c.poll(now_ns()), PresenceAsk::Status::done);
  EXPECT_TRUE(c.parts().empty());
}

// Cluster mode: box 3 is the bridge's (shards 0..2). Its part (the other nodes') joins the merge with
// its node count and missing nodes; a bridge that is not running, or does not answer, makes the answer
// partial while the node's own shards still count.
TEST_F(PresenceMailboxTest, TheBridgesBoxAddsTheOtherNodesOrMakesTheAnswerPartial) {
  run_shard(1);
  run_shard(2);
  auto ask_cluster = [&](PresenceAsk& a, int64_t timeout_ns, uint64_t ticket) {
    a.start(board_, ring_, 3, 0, room_query("r", true), now_ns(), timeout_ns, ticket, true);
    for (;;) {
      const PresenceAsk::Status st = a.poll(now_ns());
      if (st != PresenceAsk::Status::pending) return st;
      std::this_thread::yield();
    }
  };
  // Not running: partial, nobody named (the other nodes were not asked).
  PresenceAsk a;
  ASSERT_EQ(ask_cluster(a, 5'000'000'000, 1), PresenceAsk::Status::done);
  PresencePage page;
  presence_merge(a.parts(), room_query("r", true), page);
  EXPECT_EQ(page.members, 3u);
  EXPECT_EQ((std::tuple(page.nodes, page.partial, page.missing.size())), std::tuple(1u, true, size_t{0}));

  // Running: its part carries the other nodes' members and users and names the silent ones.
  ring_.slot(3).active.store(1);
  std::thread bridge([&] {
    PresenceQuery q;
    while (!board_.take(3, q)) std::this_thread::yield();
    EXPECT_EQ(q.room, "r");
    PresencePart part;
    part.members = 10;
    part.entries = {{"bo", 0}, {"cy", 0}};
    part.nodes = 2;
    part.partial = true;
    part.missing = {33, 7};
    board_.answer(3, part, ring_);
  });
  PresenceAsk b;
  ASSERT_EQ(ask_cluster(b, 5'000'000'000, 2), PresenceAsk::Status::done);
  bridge.join();
  presence_merge(b.parts(), room_query("r", true), page);
  EXPECT_EQ(page.members, 13u);
  EXPECT_EQ(names(page.entries), (std::vector<std::string>{"al", "bo", "cy"}));
  EXPECT_EQ((std::tuple(page.nodes, page.partial)), std::tuple(2u, true));
  EXPECT_EQ(page.missing, (std::vector<uint32_t>{7, 33}));
  EXPECT_EQ(presence_json(room_query("r", false), page),
            R"({"room":"r","members":13,"nodes":2,"partial":true,"missing":[7,33]})");

  // Running but silent: the node's own shards answer, partial, when the asker's time is up.
  PresenceAsk c;
  ASSERT_EQ(ask_cluster(c, 500'000'000, 3), PresenceAsk::Status::done);
  presence_merge(c.parts(), room_query("r", true), page);
  EXPECT_EQ((std::tuple(page.members, page.partial)), std::tuple(3u, true));
  EXPECT_EQ(board_.box(3).state.load(), kBoxFree);  // withdrawn
}

}  // namespace
}  // namespace ringcast
