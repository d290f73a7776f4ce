// Unit tests for engine/publish: item and room validation with their errors and HTTP statuses,
// minification that keeps the publisher's spelling, the JSON body form, and the size and ring-full
// refusals.
#include "engine/broadcast/publish.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "engine/node/shm.h"

namespace ringcast {
namespace {

template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

class PublishTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(region_.create(64 * 1024, error)) << error;
    ring_ = region_.ring();
    ring_.attach(0, -1, pos_, seq_);
  }

  // The items of the next entry, or "<none>".
  std::string next_items() {
    const RingEntry* e = ring_.peek(pos_, seq_);
    if (!e) return "<none>";
    pos_ += e->size;
    ++seq_;
    return std::string(e->items());
  }
  const RingEntry* next_entry() {
    const RingEntry* e = ring_.peek(pos_, seq_);
    if (e) {
      pos_ += e->size;
      ++seq_;
    }
    return e;
  }

  SharedRegion region_;
  Ring ring_;
  Publisher publisher_{PublishRules{128}};
  uint64_t pos_ = 0;
  uint64_t seq_ = 0;
};

TEST(PublishErrors, StatusesAndTexts) {
  EXPECT_EQ(publish_error_status(PublishError::none), 200);
  for (PublishError e : {PublishError::bad_json, PublishError::not_an_object, PublishError::items_missing,
                         PublishError::items_not_array, PublishError::items_empty, PublishError::room_missing,
                         PublishError::room_invalid}) {
    EXPECT_EQ(publish_error_status(e), 400) << static_cast<int>(e);
    EXPECT_NE(publish_error_text(e), "error");
  }
  EXPECT_EQ(publish_error_status(PublishError::too_large), 413);
  EXPECT_EQ(publish_error_status(PublishError::ring_full), 503);
  EXPECT_EQ(publish_error_text(PublishError::items_empty), "items must not be empty");
}

TEST_F(PublishTest, ItemsValidation) {
  struct Case {
    std::string_view items;
    PublishError error;
  };
  const Case cases[] = {
      {"", PublishError::bad_json},
      {"[1,", PublishError::bad_json},
      {"[1,]", PublishError::bad_json},
      {"not json", PublishError::bad_json},
      {"[\"unterminated]", PublishError::bad_json},
      {"[1] [2]", PublishError::bad_json},
      {"{\"a\":1}", PublishError::items_not_array},
      {"\"text\"", PublishError::items_not_array},
      {"42", PublishError::items_not_array},
      {"null", PublishError::items_not_array},
      {"[]", PublishError::items_empty},
      {" [ ] ", PublishError::items_empty},
  };
  for (const Case& c : cases) {
    PublishOutcome out = publisher_.publish(ring_, Target::room, "r", c.items);
    EXPECT_EQ(out.error, c.error) << c.items;
    EXPECT_EQ(publish_error_status(out.error), 400) << c.items;
    EXPECT_EQ(out.seq, 0u);
  }
  EXPECT_EQ(next_items(), "<none>") << "nothing reached the ring";
  EXPECT_EQ(ring_.control()->publish_refused.load(), 0u);
  // The room is checked too, and first.
  EXPECT_EQ(publisher_.publish(ring_, Target::room, "", "[1]").error, PublishError::room_invalid);
  EXPECT_EQ(publisher_.publish(ring_, Target::room, "", "nope").error, PublishError::room_invalid);
  // push/all has no room to check.
  PublishOutcome all = publisher_.publish(ring_, Target::all, "", "[1]");
  EXPECT_EQ(all.error, PublishError::none);
  EXPECT_EQ(all.seq, 1u);
}

TEST(RoomName, Validity) {
  EXPECT_FALSE(room_name_valid("", 128));
  EXPECT_TRUE(room_name_valid("a", 128));
  EXPECT_TRUE(room_name_valid(std::string(128, 'r'), 128));
  EXPECT_FALSE(room_name_valid(std::string(129, 'r'), 128));
  EXPECT_TRUE(room_name_valid("room with spaces & \"quotes\"", 128));
  EXPECT_FALSE(room_name_valid("tab\there", 128));
  EXPECT_FALSE(room_name_valid("nl\n", 128));
  EXPECT_FALSE(room_name_valid(std::string_view("nul\0x", 5), 128));
  EXPECT_FALSE(room_name_valid("del\x7f", 128));
  EXPECT_FALSE(room_name_valid("\x1f", 128));
  EXPECT_TRUE(room_name_valid("caf\xc3\xa9", 128));                   // café
  EXPECT_TRUE(room_name_valid("\xe6\x88\xbf\xe9\x97\xb4", 128));       // 房间
  EXPECT_TRUE(room_name_valid("\xf0\x9f\x8e\x89 party", 128));         // U+1F389
  EXPECT_FALSE(room_name_valid("\xff", 128));
  EXPECT_FALSE(room_name_valid("caf\xc3", 128));                       // truncated sequence
  EXPECT_FALSE(room_name_valid("\xc0\xaf", 128));                      // overlong '/'
  EXPECT_FALSE(room_name_valid("\xed\xa0\x80", 128));                  // surrogate
  EXPECT_FALSE(room_name_valid("\xf4\x90\x80\x80", 128));              // above U+10FFFF
  // The limit is in bytes, not characters: 房间 is 6 bytes.
  EXPECT_TRUE(room_name_valid("\xe6\x88\xbf\xe9\x97\xb4", 6));
  EXPECT_FALSE(room_name_valid("\xe6\x88\xbf\xe9\x97\xb4", 5));
}

TEST_F(PublishTest, RoomNameLimitComesFromThePublisher) {
  Publisher strict({4});
  EXPECT_EQ(strict.publish(ring_, Target::room, "abcd", "[1]").error, PublishError::none);
  EXPECT_EQ(strict.publish(ring_, Target::room, "abcde", "[1]").error, PublishError::room_invalid);
  EXPECT_EQ(strict.publish(ring_, Target::room, "a\x01", "[1]").error, PublishError::room_invalid);
  EXPECT_EQ(strict.publish(ring_, Target::room, "\xc3", "[1]").error, PublishError::room_invalid);
}

TEST_F(PublishTest, MinificationKeepsTheSpelling) {
  PublishOutcome out = publisher_.publish(ring_, Target::room, "r", "[1.50, 1e2, \"a b\"]");
  ASSERT_EQ(out.error, PublishError::none);
  EXPECT_EQ(out.item_count, 3u);
  EXPECT_EQ(next_items(), "1.50,1e2,\"a b\"");

  out = publisher_.publish(ring_, Target::room, "r",
                           " [ {\"k\" : [ 1 , 2 ] ,\n \"s\":\"x\\\"y  \\u00e9\"} ,\t-0.0 , true,null ] ");
  ASSERT_EQ(out.error, PublishError::none);
  EXPECT_EQ(out.item_count, 4u);
  EXPECT_EQ(next_items(), "{\"k\":[1,2],\"s\":\"x\\\"y  \\u00e9\"},-0.0,true,null");

  // Numbers are passed on as written, not rounded through a double.
  out = publisher_.publish(ring_, Target::room, "r",
                           "[18446744073709551615, -9223372036854775808, 0.1000000000000000055511151231257827, 1E+2]");
  ASSERT_EQ(out.error, PublishError::none);
  EXPECT_EQ(next_items(), "18446744073709551615,-9223372036854775808,0.1000000000000000055511151231257827,1E+2");
}

// simdjson's validator refuses integers beyond 64 bits, which RFC 8259 allows (go-push accepted them as
// float64). Documented here so a change of validator is a deliberate decision.
TEST_F(PublishTest, IntegersBeyond64BitsAreRefused) {
  EXPECT_EQ(publisher_.publish(ring_, Target::room, "r", "[18446744073709551616]").error, PublishError::bad_json);
  EXPECT_EQ(publisher_.publish(ring_, Target::room, "r", "[12345678901234567890123]").error, PublishError::bad_json);
}

TEST_F(PublishTest, JsonBody) {
  PublishOutcome out =
      publisher_.publish_json_body(ring_, Target::room, R"({"room":"lobby","items": [ 1, "two" , {"x": 3} ] })");
  ASSERT_EQ(out.error, PublishError::none);
  EXPECT_EQ(out.seq, 1u);
  EXPECT_EQ(out.item_count, 3u);
  const RingEntry* e = next_entry();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->room(), "lobby");
  EXPECT_EQ(e->target, Target::room);
  EXPECT_EQ(e->items(), R"(1,"two",{"x":3})");

  // items before room, and nested arrays inside items.
  out = publisher_.publish_json_body(ring_, Target::room, R"({"items":[[1,[2]],[]],"room":"b"})");
  ASSERT_EQ(out.error, PublishError::none);
  e = next_entry();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->room(), "b");
  EXPECT_EQ(e->items(), "[1,[2]],[]");

  // push/all: the room is optional and ignored.
  out = publisher_.publish_json_body(ring_, Target::all, R"({"items":[true]})");
  ASSERT_EQ(out.error, PublishError::none);
  e = next_entry();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->target, Target::all);
  EXPECT_EQ(e->room(), "");
  out = publisher_.publish_json_body(ring_, Target::all, R"({"room":"x","items":[false]})");
  ASSERT_EQ(out.error, PublishError::none);
  e = next_entry();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->room(), "");
  EXPECT_EQ(e->items(), "false");
}

TEST_F(PublishTest, JsonBodyErrors) {
  struct Case {
    Target target;
    std::string_view body;
    PublishError error;
  };
  const Case cases[] = {
      {Target::room, "", PublishError::bad_json},
      {Target::room, "{\"room\":\"r\",\"items\":[1]", PublishError::bad_json},
      {Target::room, "[1,2]", PublishError::not_an_object},
      {Target::room, "\"s\"", PublishError::not_an_object},
      {Target::room, R"({"items":[1]})", PublishError::room_missing},
      {Target::room, R"({"room":"","items":[1]})", PublishError::room_invalid},
      {Target::room, R"({"room":7,"items":[1]})", PublishError::room_invalid},
      {Target::room, R"({"room":"a\u0001","items":[1]})", PublishError::room_invalid},
      {Target::room, R"({"room":"r"})", PublishError::items_missing},
      {Target::room, R"({"room":"r","items":"[1]"})", PublishError::items_not_array},
      {Target::room, R"({"room":"r","items":{"a":1}})", PublishError::items_not_array},
      {Target::room, R"({"room":"r","items":[]})", PublishError::items_empty},
      {Target::all, R"({"items":null})", PublishError::items_not_array},
      {Target::all, R"({})", PublishError::items_missing},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(publisher_.publish_json_body(ring_, c.target, c.body).error, c.error) << c.body;
    EXPECT_EQ(publish_error_status(c.error), 400);
  }
  EXPECT_EQ(next_items(), "<none>");
}

TEST_F(PublishTest, FramesOverAQuarterOfTheRingAreTooLarge) {
  // 64 KiB ring: a frame may take at most 16 KiB. Frame = 4-byte header + prefix + "x" items + suffix,
  // sized for the longest seq (20 digits) since the seq is known only once the entry is claimed.
  std::string suffix;
  append_push_suffix(suffix, Target::room, "r", UINT64_MAX);
  ASSERT_EQ(suffix, R"(],"room":"r","seq":18446744073709551615}})");
  const size_t overhead = 4 + kPushPrefix.size() + suffix.size();
  const size_t fits = 16 * 1024 - overhead - 2;  // the item's quotes
  PublishOutcome out = publisher_.publish(ring_, Target::room, "r", cat("[\"", std::string(fits, 'x'), "\"]"));
  ASSERT_EQ(out.error, PublishError::none);
  const RingEntry* e = next_entry();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->frame_len, 16u * 1024 - 19) << "seq 1 has 19 digits fewer than the longest";

  out = publisher_.publish(ring_, Target::room, "r", cat("[\"", std::string(fits + 1, 'x'), "\"]"));
  EXPECT_EQ(out.error, PublishError::too_large);
  EXPECT_EQ(publish_error_status(out.error), 413);
  EXPECT_EQ(ring_.control()->publish_refused.load(), 0u) << "too large is not a full ring";
  // Whitespace does not count: the minified size does.
  out = publisher_.publish(ring_, Target::room, "r", cat("[\"", std::string(fits, 'x'), "\"", std::string(5000, ' '), "]"));
  EXPECT_EQ(out.error, PublishError::none);
}

TEST_F(PublishTest, RingFullIsRefusedAndCounted) {
  const std::string items = cat("[\"", std::string(4000, 'f'), "\"]");
  int accepted = 0;
  PublishOutcome out;
  for (;;) {
    out = publisher_.publish(ring_, Target::room, "r", items);
    if (out.error != PublishError::none) break;
    ++accepted;
    ASSERT_LT(accepted, 100);
  }
  EXPECT_EQ(out.error, PublishError::ring_full);
  EXPECT_EQ(publish_error_status(out.error), 503);
  EXPECT_EQ(accepted, 15) << "4 KiB + entry overhead each in 64 KiB";
  EXPECT_EQ(ring_.control()->publish_refused.load(), 1u);
  // Once the consumer lets go, the same push is accepted with the next sequence number.
  ASSERT_NE(next_entry(), nullptr);
  ring_.slot(0).held_pos.store(pos_);
  out = publisher_.publish(ring_, Target::room, "r", items);
  EXPECT_EQ(out.error, PublishError::none);
  EXPECT_EQ(out.seq, 16u);
}

// With JetStream (docs/cluster.md) a room push is staged: flagged so the shards skip it, answered
// without a position; refused with history_down while the stream does not answer. Other targets are not
// staged. publish_at writes the given position as the PUSH seq (the bridge's copy from the stream).
TEST_F(PublishTest, JetStreamStagesRoomPushes) {
  ClusterState& cluster = region_.header()->cluster;
  cluster.enabled.store(1);
  cluster.connected.store(1);
  cluster.jetstream.store(1);
  publisher_.set_cluster_gate(&cluster);
  cluster.history_ok.store(0);
  PublishOutcome out = publisher_.publish(ring_, Target::room, "r", "[1]");
  EXPECT_EQ(out.error, PublishError::history_down);
  EXPECT_EQ(publish_error_status(out.error), 503);
  out = publisher_.publish(ring_, Target::all, "", "[2]");  // no history for push/all: not staged
  EXPECT_EQ(out.error, PublishError::none);
  EXPECT_FALSE(out.staged);
  const RingEntry* e = next_entry();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->flags & kEntryStaged, 0);
  cluster.history_ok.store(1);
  out = publisher_.publish(ring_, Target::room, "r", "[3]");
  EXPECT_EQ(out.error, PublishError::none);
  EXPECT_TRUE(out.staged);
  e = next_entry();
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->flags & kEntryStaged, 0);
  cluster.connected.store(0);
  EXPECT_EQ(publisher_.publish(ring_, Target::room, "r", "[4]").error, PublishError::cluster_down);

  Publisher bridge{PublishRules{128}};  // the bridge's publisher has no gate and stages nothing
  out = bridge.publish_at(ring_, Target::room, "r", "[5]", 7, 123456);
  EXPECT_EQ(out.error, PublishError::none);
  e = next_entry();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->flags & kEntryStaged, 0);
  EXPECT_EQ(e->origin, 7u);
  const std::string frame(reinterpret_cast<const char*>(e->frame()), e->frame_len);
  EXPECT_NE(frame.find(R"(],"room":"r","seq":123456}})"), std::string::npos) << frame;
  out = bridge.publish_at(ring_, Target::replay, "r", "[6]", 9, 42);  // a replay names its room
  EXPECT_EQ(out.error, PublishError::none);
  e = next_entry();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->target, Target::replay);
  const std::string replay(reinterpret_cast<const char*>(e->frame()), e->frame_len);
  EXPECT_NE(replay.find(R"([6],"room":"r","seq":42}})"), std::string::npos) << replay;
}

}  // namespace
}  // namespace ringcast
