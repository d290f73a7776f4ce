// Unit tests for engine/node/jetstream: subjects and ids, control entries through a real ring, and a
// room's window: the next item, a duplicate, a gap; the window restarting after an unfilled gap;
// items fetched from the stream put in front; trimming; what a replay from `since` collects.
#include "engine/node/jetstream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/node/shm.h"

namespace ringcast::jetstream {
namespace {

TEST(JetStreamNames, SubjectsAndStream) {
  std::string s;
  stored_room_subject(s, "ringcast", "lobby");
  EXPECT_EQ(s, "ringcast.h.r.bG9iYnk");
  live_room_subject(s, "a.b", "lobby");
  EXPECT_EQ(s, "a.b.l.r.bG9iYnk");
  EXPECT_EQ(stored_subjects("a.b"), "a.b.h.>");
  EXPECT_EQ(live_subjects("a.b"), "a.b.l.>");
  EXPECT_EQ(stream_name("a.b-c.d"), "a_b-c_d");
}

TEST(JetStreamNames, MessageIdCarriesTheRingSequence) {
  const std::string id = message_id(0xabcd, 0x1234, 987654321);
  EXPECT_EQ(message_id_seq(id), 987654321u);
  EXPECT_NE(id, message_id(0xabcd, 0x1235, 987654321));  // another ring life
  EXPECT_NE(id, message_id(0xabce, 0x1234, 987654321));  // another node
  EXPECT_EQ(message_id_seq("no-number-x"), 0u);
  EXPECT_EQ(message_id_seq(""), 0u);
}

TEST(JetStreamNames, EpochNamesTheStream) {
  EXPECT_EQ(epoch_of("ringcast", 42), epoch_of("ringcast", 42));
  EXPECT_NE(epoch_of("ringcast", 42), epoch_of("ringcast", 43));  // the stream made again
  EXPECT_NE(epoch_of("ringcast", 42), epoch_of("other", 42));
  EXPECT_NE(epoch_of("x", 0), 0u);
}

TEST(JetStreamTicket, ShardAndSerial) {
  const uint32_t t = make_ticket(7, 123456);
  EXPECT_EQ(ticket_shard(t), 7u);
  EXPECT_EQ(ticket_shard(make_ticket(kMaxConsumers - 1, 0xFFFFFFFF)), kMaxConsumers - 1);
}

TEST(JetStreamControl, ThroughTheRing) {
  SharedRegion region;
  std::string error;
  ASSERT_TRUE(region.create(1 << 16, error)) << error;
  Ring ring = region.ring();
  uint64_t pos = 0, seq = 0;
  ring.attach(0, -1, pos, seq);
  ASSERT_TRUE(commit_control(ring, nullptr, Target::replay_request, "room", make_ticket(3, 9),
                             kRequestSinceNow, 0x1122334455667788ULL));
  const RingEntry* e = ring.peek(pos, seq);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->target, Target::replay_request);
  EXPECT_EQ(e->room(), "room");
  EXPECT_EQ(e->origin, make_ticket(3, 9));
  EXPECT_EQ(e->flags, kRequestSinceNow);
  EXPECT_EQ(e->frame_len, 0u);
  EXPECT_EQ(control_value(*e), 0x1122334455667788ULL);
  // The value does not run into the next entry.
  pos += e->size;
  ++seq;
  ASSERT_TRUE(commit_control(ring, nullptr, Target::replay, "", 1, kReplayDone, 5));
  e = ring.peek(pos, seq);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(control_value(*e), 5u);
  EXPECT_EQ(e->room(), "");
}

TEST(RoomWindowTest, FirstItemStartsItThenNextDuplicateGap) {
  RoomWindow w;
  EXPECT_FALSE(w.started());
  EXPECT_EQ(w.fit(10, 4), RoomWindow::Fit::next);
  w.append(10, 4, "[1]");
  EXPECT_TRUE(w.started());
  EXPECT_EQ(w.from(), 4u);
  EXPECT_EQ(w.last(), 10u);
  EXPECT_EQ(w.fit(12, 10), RoomWindow::Fit::next);
  EXPECT_EQ(w.fit(10, 4), RoomWindow::Fit::duplicate);
  EXPECT_EQ(w.fit(9, 4), RoomWindow::Fit::duplicate);
  EXPECT_EQ(w.fit(15, 12), RoomWindow::Fit::gap);  // 12 came and went past this node
  w.append(12, 10, "[2]");
  EXPECT_EQ(w.fit(15, 12), RoomWindow::Fit::next);
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(w.bytes(), 6u);
}

TEST(RoomWindowTest, StartAfterTheStreamsNewest) {
  RoomWindow w;
  w.start(100);
  EXPECT_EQ(w.fit(100, 90), RoomWindow::Fit::duplicate);
  EXPECT_EQ(w.fit(101, 100), RoomWindow::Fit::next);
  EXPECT_EQ(w.fit(105, 103), RoomWindow::Fit::gap);
  std::vector<const WindowItem*> out;
  EXPECT_TRUE(w.collect(100, out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(w.collect(99, out));  // before the window: the stream has it
}

TEST(RoomWindowTest, AnUnfilledGapRestartsTheWindow) {
  RoomWindow w;
  w.start(0);
  w.append(1, 0, "[1]");
  w.append(2, 1, "[2]");
  w.append(9, 7, "[9]");  // 7 never came (the stream had removed it)
  EXPECT_EQ(w.from(), 7u);
  EXPECT_EQ(w.size(), 1u);
  std::vector<const WindowItem*> out;
  EXPECT_FALSE(w.collect(2, out));
  EXPECT_TRUE(w.collect(7, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->position, 9u);
}

TEST(RoomWindowTest, CollectAfterSince) {
  RoomWindow w;
  w.start(3);
  for (uint64_t p : {5, 8, 13, 21}) {
    std::string items = "[";
    items += std::to_string(p);
    items += "]";
    w.append(p, w.last(), items);
  }
  std::vector<const WindowItem*> out;
  ASSERT_TRUE(w.collect(8, out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]->items, "[13]");
  EXPECT_EQ(out[1]->items, "[21]");
  out.clear();
  ASSERT_TRUE(w.collect(3, out));
  EXPECT_EQ(out.size(), 4u);
  out.clear();
  ASSERT_TRUE(w.collect(21, out));
  EXPECT_TRUE(out.empty());
}

TEST(RoomWindowTest, PrependFetchedAndTrim) {
  RoomWindow w;
  w.start(50);
  w.append(60, 50, "[60]");
  std::vector<WindowItem> older{{20, "[20]"}, {35, "[35]"}, {50, "[50]"}};
  EXPECT_EQ(w.prepend(older, 10), 12u);
  EXPECT_TRUE(older.empty());
  EXPECT_EQ(w.from(), 10u);
  std::vector<const WindowItem*> out;
  ASSERT_TRUE(w.collect(10, out));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0]->position, 20u);
  EXPECT_EQ(out[3]->position, 60u);
  // Trimming drops the oldest; the window then starts at the last dropped position.
  EXPECT_EQ(w.trim(5), 8u);
  EXPECT_EQ(w.from(), 35u);
  out.clear();
  EXPECT_FALSE(w.collect(20, out));
  ASSERT_TRUE(w.collect(35, out));
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(w.trim(1000), 8u);
  EXPECT_EQ(w.from(), 60u);
  EXPECT_EQ(w.last(), 60u);
  EXPECT_EQ(w.bytes(), 0u);
}

TEST(RoomWindowTest, MarkersMoveTheWindowWithoutItems) {
  RoomWindow w;
  w.skip(40, 33);  // a marker starts it: everything of the room up to 40 is accounted for
  EXPECT_TRUE(w.started());
  EXPECT_EQ(w.from(), 33u);
  EXPECT_EQ(w.last(), 40u);
  EXPECT_EQ(w.fit(41, 40), RoomWindow::Fit::next);
  EXPECT_EQ(w.fit(40, 33), RoomWindow::Fit::duplicate);
  w.append(41, 40, "[41]");
  w.skip(41, 40);  // a marker seen again: nothing changes
  EXPECT_EQ(w.last(), 41u);
  w.skip(50, 41);
  EXPECT_EQ(w.fit(52, 50), RoomWindow::Fit::next);
  std::vector<const WindowItem*> out;
  ASSERT_TRUE(w.collect(40, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->position, 41u);
  w.skip(60, 55);  // past a gap: starts again
  EXPECT_EQ(w.from(), 55u);
  EXPECT_EQ(w.size(), 0u);
}

}  // namespace
}  // namespace ringcast::jetstream
