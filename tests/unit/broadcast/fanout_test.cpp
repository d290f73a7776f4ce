// Unit tests for engine/fanout: a real ring, Frames and RoomIndex, with a Deliver that queues frames
// on per-connection OutQueues and records what each connection got. Zero copy for single entries,
// coalescing of entries drained together (and its item and byte cuts), rooms without local members,
// push/all, merge windows, and the held ring position that keeps referenced entries from being
// overwritten.
#include "engine/broadcast/fanout.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/codec/frame.h"
#include "tests/unit/push_frame.h"
#include "engine/node/shm.h"

namespace ringcast {
namespace {

template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

using testing_push::parse_push_frame;
using testing_push::PushParts;

// A PUSH of these items (the text between '[' and ']'), as parse_push_frame gives it.
std::string push_frame(std::string_view items) { return cat("[", items, "]"); }

struct Delivery {
  uint32_t conn;
  FrameId frame;
  const uint8_t* data;
  std::string bytes;  // the items, "[...]"
  std::string room;
  uint64_t seq;
  std::string raw;    // the whole frame
};

struct Recorder {
  Frames* frames;
  std::map<uint32_t, OutQueue>* queues;
  std::vector<Delivery> log;
  void operator()(uint32_t conn, const FrameId* ids, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
      const Frame& f = frames->frame(ids[i]);
      PushParts parts = parse_push_frame(f.data, f.len);
      log.push_back({conn, ids[i], f.data, parts.items, parts.room, parts.seq,
                     std::string(reinterpret_cast<const char*>(f.data), f.len)});
      frames->enqueue((*queues)[conn], ids[i]);
    }
  }
};

class FanoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(region_.create(1 << 20, error)) << error;
    ring_ = region_.ring();
    stats_.clear();
    rooms_.reserve_conns(64);
    rooms_.set_on_room_freed([](void* ctx, RoomId id) { static_cast<FanoutTest*>(ctx)->fanout_->drop_batch(id); },
                             this);
    start();
  }

  // (Re)creates the fan-out with the current limits, attached as consumer 0.
  void start() {
    if (fanout_) fanout_->detach();
    fanout_ = std::make_unique<Fanout>(ring_, frames_, rooms_, limits_, &stats_);
    fanout_->attach(0, -1);
  }

  void join(uint32_t conn, std::string_view room) {
    bool created = false;
    ASSERT_TRUE(rooms_.join(conn, room, created));
  }

  uint64_t publish(std::string_view room, std::string_view items, Target target = Target::room) {
    PublishOutcome out = publisher_.publish(ring_, target, room, items);
    EXPECT_EQ(out.error, PublishError::none) << items;
    return out.seq;
  }

  uint32_t drain(int64_t now_ns = 0) { return fanout_->drain(now_ns, recorder_); }

  // Sends everything queued for the connection, as if the kernel took it all.
  void flush(uint32_t conn) {
    OutQueue& q = queues_[conn];
    while (!q.empty()) {
      iovec iov[16];
      size_t total = 0;
      frames_.gather(q, iov, 16, SIZE_MAX, total);
      frames_.complete(q, total);
    }
  }
  void flush_all() {
    for (auto& [conn, q] : queues_) flush(conn);
  }

  uint64_t held() const { return ring_.control()->consumers[0].held_pos.load(); }

  std::vector<uint32_t> conns_logged() const {
    std::vector<uint32_t> out;
    for (const Delivery& d : recorder_.log) out.push_back(d.conn);
    return out;
  }
  std::vector<std::string> frames_logged() const {
    std::vector<std::string> out;
    for (const Delivery& d : recorder_.log) out.push_back(d.bytes);
    return out;
  }

  void TearDown() override {
    flush_all();
    if (fanout_) fanout_->flush_all(recorder_);
    flush_all();
    fanout_->publish_held();
    EXPECT_EQ(frames_.frames_live(), 0u) << "every frame released";
    EXPECT_EQ(frames_.epochs_live(), 0u);
    EXPECT_EQ(held(), fanout_->cursor_pos());
  }

  SharedRegion region_;
  Ring ring_;
  Frames frames_;
  RoomIndex rooms_;
  ShardStats stats_;
  FanoutLimits limits_;
  std::unique_ptr<Fanout> fanout_;
  Publisher publisher_{PublishRules{128}};
  std::map<uint32_t, OutQueue> queues_;
  Recorder recorder_{&frames_, &queues_, {}};
};

TEST_F(FanoutTest, FramesCarryTheirLastItemsSeqAndTheRoom) {
  join(1, "r\"q");
  rooms_.join_all_room(1);
  const uint64_t first = publish("r\"q", "[1]");
  const uint64_t second = publish("r\"q", "[2,3]");
  const uint64_t everyone = publish("", R"(["all"])", Target::all);
  drain();
  ASSERT_EQ(recorder_.log.size(), 2u);
  // One coalesced frame for the room: its seq is the last entry's, its room the (escaped) name.
  const Delivery* room_frame = &recorder_.log[0];
  const Delivery* all_frame = &recorder_.log[1];
  if (room_frame->room.empty()) std::swap(room_frame, all_frame);
  EXPECT_EQ(room_frame->bytes, "[1,2,3]");
  EXPECT_LT(first, second);
  EXPECT_EQ(room_frame->seq, second);
  EXPECT_EQ(room_frame->room, "r\\\"q") << "JSON-escaped";
  EXPECT_EQ(all_frame->bytes, R"(["all"])");
  EXPECT_EQ(all_frame->seq, everyone);
  EXPECT_EQ(all_frame->room, "") << "push/all names no room";
}

TEST_F(FanoutTest, OneEntryGoesOutAsTheRingFrameItself) {
  join(1, "r");
  join(2, "r");
  join(3, "r");
  join(4, "other");
  const uint64_t pos = fanout_->cursor_pos();
  const uint64_t seq = publish("r", R"([{"a":1}, 2])");
  const RingEntry* entry = ring_.peek(pos, seq);
  ASSERT_NE(entry, nullptr);

  EXPECT_EQ(drain(), 1u);
  EXPECT_EQ(conns_logged(), (std::vector<uint32_t>{1, 2, 3}));
  for (const Delivery& d : recorder_.log) {
    EXPECT_EQ(d.data, entry->frame()) << "zero copy: the member's frame points into the ring";
    EXPECT_EQ(d.frame, recorder_.log[0].frame) << "one frame for all members";
    EXPECT_EQ(d.bytes, push_frame(R"({"a":1},2)"));
  }
  const Frame& f = frames_.frame(recorder_.log[0].frame);
  EXPECT_EQ(f.refs, 3u);
  EXPECT_EQ(f.items, 2u);
  EXPECT_EQ(f.owned, nullptr);
  EXPECT_NE(f.epoch, kNil);
  EXPECT_EQ(stats_.get(Counter::entries_consumed), 1);
  EXPECT_EQ(stats_.get(Counter::frames_built), 0);
  EXPECT_EQ(fanout_->cursor_pos(), pos + entry->size);
  EXPECT_EQ(drain(), 0u);
  EXPECT_EQ(recorder_.log.size(), 3u);
}

TEST_F(FanoutTest, EntriesDrainedTogetherAreCoalescedPerRoom) {
  join(1, "r");
  join(2, "r");
  join(3, "s");
  publish("r", "[1]");
  publish("s", R"(["only s"])");
  publish("r", R"(["b", 2])");
  publish("r", R"([{"c": [3]}])");
  EXPECT_EQ(drain(), 4u);
  ASSERT_EQ(recorder_.log.size(), 3u);
  // Rooms are emitted in the order the drain first touched them.
  EXPECT_EQ(conns_logged(), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(recorder_.log[0].bytes, push_frame(R"(1,"b",2,{"c":[3]})"));
  EXPECT_EQ(recorder_.log[1].frame, recorder_.log[0].frame);
  EXPECT_EQ(frames_.frame(recorder_.log[0].frame).items, 4u);
  EXPECT_NE(frames_.frame(recorder_.log[0].frame).owned, nullptr) << "coalesced: built once, owned";
  EXPECT_EQ(frames_.frame(recorder_.log[0].frame).epoch, kNil);
  EXPECT_EQ(recorder_.log[2].bytes, push_frame(R"("only s")"));
  EXPECT_EQ(frames_.frame(recorder_.log[2].frame).owned, nullptr) << "a single entry stays in the ring";
  EXPECT_EQ(stats_.get(Counter::frames_built), 1);
  EXPECT_EQ(stats_.get(Counter::entries_consumed), 4);

  // The next drain starts a new batch.
  publish("r", "[5]");
  EXPECT_EQ(drain(), 1u);
  ASSERT_EQ(recorder_.log.size(), 5u);
  EXPECT_EQ(recorder_.log[3].bytes, push_frame("5"));
}

TEST_F(FanoutTest, CoalescedFrameLargerThan125BytesUsesTheLongHeader) {
  join(1, "r");
  const std::string a = cat("[\"", std::string(100, 'a'), "\"]");
  const std::string b = cat("[\"", std::string(70000, 'b'), "\"]");
  publish("r", a);
  publish("r", a);
  EXPECT_EQ(drain(), 2u);
  publish("r", a);
  publish("r", b);
  EXPECT_EQ(drain(), 2u);
  ASSERT_EQ(recorder_.log.size(), 2u);
  EXPECT_EQ(recorder_.log[0].bytes, push_frame(cat(a.substr(1, a.size() - 2), ",", a.substr(1, a.size() - 2))));
  EXPECT_EQ(static_cast<uint8_t>(recorder_.log[0].raw[1]), 126);
  EXPECT_EQ(recorder_.log[1].bytes, push_frame(cat(a.substr(1, a.size() - 2), ",", b.substr(1, b.size() - 2))));
  EXPECT_EQ(static_cast<uint8_t>(recorder_.log[1].raw[1]), 127);
}

TEST_F(FanoutTest, BatchItemsMaxCuts) {
  limits_.batch_items_max = 2;
  start();
  join(1, "r");
  for (int i = 1; i <= 5; ++i) publish("r", cat("[", std::to_string(i), "]"));
  publish("r", "[6, 7, 8]");  // more than the cap alone: its own frame
  publish("r", "[9]");
  EXPECT_EQ(drain(), 7u);
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("1,2"), push_frame("3,4"), push_frame("5"),
                                                        push_frame("6,7,8"), push_frame("9")}));
  EXPECT_EQ(stats_.get(Counter::frames_built), 2);
  // A batch that reaches the cap exactly goes at once; the rest at the end of the drain.
  recorder_.log.clear();
  publish("r", "[10, 11]");
  publish("r", "[12]");
  EXPECT_EQ(drain(), 2u);
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("10,11"), push_frame("12")}));
}

// One frame per item (merge_batch_items_max 1): a room's frames of one drain reach each member
// together, member by member, in order; each member's queue has them all, and a member in two rooms
// gets each room's frames in that room's order.
TEST_F(FanoutTest, ARoomsFramesOfADrainGoMemberByMember) {
  limits_.batch_items_max = 1;
  start();
  join(1, "r");
  join(2, "r");
  join(2, "s");
  join(3, "s");
  publish("r", "[1]");
  publish("s", "[2]");
  publish("r", "[3]");
  publish("s", "[4]");
  publish("r", "[5]");
  EXPECT_EQ(drain(), 5u);
  std::vector<std::pair<uint32_t, std::string>> got;
  for (const Delivery& d : recorder_.log) got.push_back({d.conn, d.bytes});
  using P = std::pair<uint32_t, std::string>;
  EXPECT_EQ(got, (std::vector<P>{P{1, push_frame("1")}, P{1, push_frame("3")}, P{1, push_frame("5")},
                                 P{2, push_frame("1")}, P{2, push_frame("3")}, P{2, push_frame("5")},
                                 P{2, push_frame("2")}, P{2, push_frame("4")}, P{3, push_frame("2")},
                                 P{3, push_frame("4")}}));
  // Zero copy still: every member's frame of an item is the entry's frame in the ring, the same bytes.
  EXPECT_EQ(recorder_.log[0].data, recorder_.log[3].data);
  EXPECT_EQ(stats_.get(Counter::frames_built), 0);
  EXPECT_EQ(queues_[2].bytes, recorder_.log[3].raw.size() + recorder_.log[4].raw.size() +
                                  recorder_.log[5].raw.size() + recorder_.log[6].raw.size() +
                                  recorder_.log[7].raw.size());
}

TEST_F(FanoutTest, FrameBytesMaxCuts) {
  // Ten entries of one 12-byte item (seqs 1..10): a frame of n of them ending with a one-digit seq is
  // 57 + 13n bytes (header, prefix, items and commas, the suffix `],"room":"r","seq":7}}`), so 148 holds 7.
  limits_.frame_bytes_max = 148;
  start();
  join(1, "r");
  for (int i = 0; i < 10; ++i) publish("r", R"(["xxxxxxxxx0"])");
  EXPECT_EQ(drain(), 10u);
  ASSERT_EQ(recorder_.log.size(), 2u);
  const std::string item = R"("xxxxxxxxx0")";
  EXPECT_EQ(recorder_.log[0].bytes, push_frame(cat(item, ",", item, ",", item, ",", item, ",", item, ",", item, ",", item)));
  EXPECT_EQ(recorder_.log[0].raw.size(), 148u) << "exactly at the limit, never past it";
  EXPECT_EQ(recorder_.log[0].seq, 7u);
  EXPECT_EQ(recorder_.log[1].bytes, push_frame(cat(item, ",", item, ",", item)));
  EXPECT_EQ(recorder_.log[1].seq, 10u);

  // Seqs 11..17 have two digits (58 + 13n bytes): 7 entries would be 149, one byte past 148, so the
  // cut comes one entry earlier.
  flush_all();
  start();
  recorder_.log.clear();
  for (int i = 0; i < 7; ++i) publish("r", R"(["xxxxxxxxx0"])");
  EXPECT_EQ(drain(), 7u);
  ASSERT_EQ(recorder_.log.size(), 2u);
  EXPECT_EQ(recorder_.log[0].raw.size(), 58 + 13u * 6);
  EXPECT_EQ(recorder_.log[1].bytes, push_frame(item));
  for (const Delivery& d : recorder_.log) EXPECT_LE(d.raw.size(), 148u);
}

TEST_F(FanoutTest, RoomsWithoutLocalMembersAreSkipped) {
  join(1, "r");
  publish("nobody-here", "[1]");
  publish("r", "[2]");
  publish("gone", "[3]");
  publish("", "[4]", Target::all);  // nobody in the all room either
  EXPECT_EQ(drain(), 4u);
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("2")}));
  EXPECT_EQ(stats_.get(Counter::entries_consumed), 4);
  // A room whose members all left is skipped too.
  bool removed = false;
  ASSERT_TRUE(rooms_.leave(1, "r", removed));
  EXPECT_TRUE(removed);
  publish("r", "[5]");
  EXPECT_EQ(drain(), 1u);
  EXPECT_EQ(recorder_.log.size(), 1u);
}

TEST_F(FanoutTest, PushAllGoesToTheAllRoom) {
  rooms_.join_all_room(5);
  rooms_.join_all_room(6);
  join(7, "r");  // in a room but not in the all room (e.g. not open yet)
  join(5, "r");
  publish("", R"(["to all"])", Target::all);
  publish("r", R"(["to r"])");
  publish("", R"(["again all"])", Target::all);
  EXPECT_EQ(drain(), 3u);
  ASSERT_EQ(recorder_.log.size(), 4u);
  EXPECT_EQ(conns_logged(), (std::vector<uint32_t>{5, 6, 7, 5}));
  EXPECT_EQ(recorder_.log[0].bytes, push_frame(R"("to all","again all")"));
  EXPECT_EQ(recorder_.log[2].bytes, push_frame(R"("to r")"));
}

TEST_F(FanoutTest, EntriesPerDrainMaxLeavesABacklog) {
  limits_.entries_per_drain_max = 2;
  start();
  join(1, "r");
  for (int i = 1; i <= 5; ++i) publish("r", cat("[", std::to_string(i), "]"));
  EXPECT_EQ(drain(), 2u);
  EXPECT_TRUE(fanout_->backlog());
  EXPECT_EQ(drain(), 2u);
  EXPECT_TRUE(fanout_->backlog());
  EXPECT_EQ(drain(), 1u);
  EXPECT_FALSE(fanout_->backlog());
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("1,2"), push_frame("3,4"), push_frame("5")}));
}

TEST_F(FanoutTest, MergeWindowHoldsEntriesUntilItsDeadline) {
  limits_.merge_window_ns = 1000;
  start();
  join(1, "r");
  join(2, "s");
  EXPECT_EQ(fanout_->next_deadline_ns(), INT64_MAX);
  const uint64_t first_pos = fanout_->cursor_pos();
  publish("r", "[1]");
  publish("r", "[2]");
  EXPECT_EQ(drain(100), 2u);
  EXPECT_TRUE(recorder_.log.empty());
  EXPECT_EQ(fanout_->next_deadline_ns(), 1100);
  publish("s", "[10]");
  publish("r", "[3]");
  EXPECT_EQ(drain(600), 2u);
  EXPECT_TRUE(recorder_.log.empty());
  EXPECT_EQ(fanout_->next_deadline_ns(), 1100) << "r keeps its first deadline";

  // The waiting entries stay pinned in the ring.
  fanout_->publish_held();
  EXPECT_EQ(held(), first_pos);
  EXPECT_NE(fanout_->cursor_pos(), first_pos);

  fanout_->expire_windows(1099, recorder_);
  EXPECT_TRUE(recorder_.log.empty());
  fanout_->expire_windows(1100, recorder_);
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("1,2,3")}));
  EXPECT_EQ(fanout_->next_deadline_ns(), 1600);
  fanout_->expire_windows(1600, recorder_);
  ASSERT_EQ(recorder_.log.size(), 2u);
  EXPECT_EQ(recorder_.log[1].conn, 2u);
  EXPECT_EQ(recorder_.log[1].bytes, push_frame("10"));
  EXPECT_EQ(fanout_->next_deadline_ns(), INT64_MAX);

  // s's single entry went out as the ring frame, still pinned until sent.
  fanout_->publish_held();
  EXPECT_LT(held(), fanout_->cursor_pos());
  flush_all();
  fanout_->publish_held();
  EXPECT_EQ(held(), fanout_->cursor_pos());
}

TEST_F(FanoutTest, MergeWindowStillCutsAtTheItemCap) {
  limits_.merge_window_ns = 1000;
  limits_.batch_items_max = 3;
  start();
  join(1, "r");
  publish("r", "[1, 2]");
  EXPECT_EQ(drain(0), 1u);
  EXPECT_TRUE(recorder_.log.empty());
  publish("r", "[3]");
  EXPECT_EQ(drain(10), 1u);
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("1,2,3")})) << "full: no need to wait";
  publish("r", "[4]");
  EXPECT_EQ(drain(20), 1u);
  EXPECT_EQ(recorder_.log.size(), 1u);
  // The stale window of the emitted batch (deadline 1000) does nothing; the new one fires at 1020.
  fanout_->expire_windows(1000, recorder_);
  EXPECT_EQ(recorder_.log.size(), 1u);
  fanout_->expire_windows(1020, recorder_);
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("1,2,3"), push_frame("4")}));
}

TEST_F(FanoutTest, FlushAllEmitsPendingWindows) {
  limits_.merge_window_ns = 1000000;
  start();
  join(1, "r");
  join(2, "s");
  publish("r", "[1]");
  publish("s", "[2]");
  publish("r", "[3]");
  drain(0);
  EXPECT_TRUE(recorder_.log.empty());
  fanout_->flush_all(recorder_);
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("1,3"), push_frame("2")}));
  EXPECT_EQ(fanout_->next_deadline_ns(), INT64_MAX);
}

TEST_F(FanoutTest, RoomFreedWhileItsBatchWaits) {
  limits_.merge_window_ns = 1000;
  start();
  join(1, "r");
  publish("r", "[1]");
  drain(0);
  fanout_->publish_held();
  EXPECT_LT(held(), fanout_->cursor_pos());
  bool removed = false;
  ASSERT_TRUE(rooms_.leave(1, "r", removed));
  ASSERT_TRUE(removed);
  fanout_->publish_held();
  EXPECT_EQ(held(), fanout_->cursor_pos()) << "the dropped batch no longer pins the ring";
  // The id is recycled for a new room before the old window ends: the old timer must not fire it.
  join(2, "new");
  publish("new", "[2]");
  drain(500);
  fanout_->expire_windows(1000, recorder_);
  EXPECT_TRUE(recorder_.log.empty());
  fanout_->expire_windows(1500, recorder_);
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("2")}));
  EXPECT_EQ(conns_logged(), (std::vector<uint32_t>{2}));
}

// The all-room is never freed, so its waiting batch outlives its last member. An entry drained while
// the room is empty reaches nobody; a connection that joins afterwards must not get the older batch
// and then miss that entry: a gap inside its membership (found by the simulation).
TEST_F(FanoutTest, AllRoomEmptiedWhileItsBatchWaitsStartsAfresh) {
  limits_.merge_window_ns = 1000;
  start();
  rooms_.join_all_room(1);
  publish("", "[1]", Target::all);
  drain(0);
  rooms_.leave_all(1);
  publish("", "[2]", Target::all);  // nobody in the room
  drain(100);
  fanout_->publish_held();
  EXPECT_EQ(held(), fanout_->cursor_pos()) << "the dropped batch no longer pins the ring";
  rooms_.join_all_room(2);
  publish("", "[3]", Target::all);
  drain(200);
  fanout_->expire_windows(1000, recorder_);
  EXPECT_TRUE(recorder_.log.empty()) << "the old batch's window does nothing";
  fanout_->expire_windows(1200, recorder_);
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("3")}));
  EXPECT_EQ(conns_logged(), (std::vector<uint32_t>{2}));
}

// The held position never passes a frame a connection still references, so producers cannot
// overwrite it; once every reference is gone it moves to the cursor.
TEST_F(FanoutTest, HeldPositionFollowsReferencedFrames) {
  join(1, "r");
  join(2, "r");
  fanout_->publish_held();
  const uint64_t start_pos = fanout_->cursor_pos();
  EXPECT_EQ(held(), start_pos);
  const uint64_t seq = publish("r", R"(["keep me"])");
  const RingEntry* entry = ring_.peek(start_pos, seq);
  ASSERT_NE(entry, nullptr);
  const std::string expected = push_frame(R"("keep me")");
  drain();
  fanout_->publish_held();
  EXPECT_EQ(held(), start_pos);

  // Fill the ring: producers stop short of the referenced entry.
  int accepted = 0;
  for (;;) {
    PublishOutcome out = publisher_.publish(ring_, Target::room, "elsewhere", R"(["filler filler filler"])");
    if (out.error == PublishError::ring_full) break;
    ASSERT_EQ(out.error, PublishError::none);
    ++accepted;
    // Drain as a shard would: the cursor moves on, the held position must not.
    drain();
    fanout_->publish_held();
    ASSERT_EQ(held(), start_pos);
  }
  EXPECT_GT(accepted, 100);
  EXPECT_EQ(parse_push_frame(entry->frame(), entry->frame_len).items, expected);

  flush(1);
  fanout_->publish_held();
  EXPECT_EQ(held(), start_pos) << "member 2 still holds it";
  // A partial send still references the frame.
  OutQueue& q = queues_[2];
  iovec iov[4];
  size_t total = 0;
  frames_.gather(q, iov, 4, SIZE_MAX, total);
  EXPECT_EQ(iov[0].iov_base, entry->frame());
  frames_.complete(q, 3);
  fanout_->publish_held();
  EXPECT_EQ(held(), start_pos);
  flush(2);
  fanout_->publish_held();
  EXPECT_EQ(held(), fanout_->cursor_pos());
  EXPECT_EQ(publisher_.publish(ring_, Target::room, "elsewhere", "[1]").error, PublishError::none);
}

TEST_F(FanoutTest, CoalescedFramesDoNotPinTheRing) {
  join(1, "r");
  publish("r", "[1]");
  publish("r", "[2]");
  drain();
  fanout_->publish_held();
  EXPECT_EQ(held(), fanout_->cursor_pos()) << "the coalesced frame is a copy";
  EXPECT_EQ(frames_logged(), (std::vector<std::string>{push_frame("1,2")}));
}

}  // namespace
}  // namespace ringcast
