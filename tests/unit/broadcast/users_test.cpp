// Unit tests for per-user push (engine/users, and its parts in command, publish, room and cluster):
// connection ids (pack, format, the strict parser), internal user room names, the BIND and HELLO
// commands and their answers, user bindings in the room index (not counted as rooms, left with the
// connection), the publisher's user and connection targets, and the cluster wire format of a user push.
#include "engine/broadcast/users.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "engine/node/bridge.h"
#include "engine/codec/command.h"
#include "engine/broadcast/publish.h"
#include "engine/broadcast/room.h"
#include "engine/node/shm.h"

namespace ringcast {
namespace {

TEST(ConnId, RoundTripsEveryField) {
  for (const ConnId id : {ConnId{0, 0, 0, 0}, ConnId{255, 255, (1u << 22) - 1, (1u << 26) - 1}, ConnId{3, 1, 7, 12345}}) {
    ConnId back;
    ASSERT_TRUE(parse_conn_id(format_conn_id(id), back));
    EXPECT_EQ(back.shard, id.shard);
    EXPECT_EQ(back.incarnation, id.incarnation);
    EXPECT_EQ(back.generation, id.generation);
    EXPECT_EQ(back.slot, id.slot);
  }
  // The shard is the top byte: readable by clients that want to know where they landed.
  EXPECT_EQ(pack_conn_id(ConnId{2, 0, 0, 0}) >> 56, 2u);
  // Fields wider than their bits are cut, never spill into their neighbours.
  const ConnId wide = unpack_conn_id(pack_conn_id(ConnId{1, 1, 1u << 22, 1u << 26}));
  EXPECT_EQ(wide.generation, 0u);
  EXPECT_EQ(wide.slot, 0u);
  EXPECT_EQ(wide.shard, 1u);
}

TEST(ConnId, ParserIsStrict) {
  ConnId id;
  EXPECT_TRUE(parse_conn_id("0", id));
  EXPECT_TRUE(parse_conn_id("18446744073709551615", id));
  for (std::string_view bad : {"", "-1", "+1", "01", "1a", " 1", "1 ", "18446744073709551616",
                               "123456789012345678901", "0x10", "1.0"})
    EXPECT_FALSE(parse_conn_id(bad, id)) << bad;
}

TEST(UserRoom, NamesCannotBeJoinedByClients) {
  EXPECT_EQ(user_room_name("ann"), std::string("\x01" "ann"));
  EXPECT_TRUE(is_user_room(user_room_name("ann")));
  EXPECT_FALSE(is_user_room("ann"));
  EXPECT_FALSE(is_user_room(""));
  EXPECT_EQ(user_of_room(user_room_name("ann")), "ann");
  // The JOIN rule refuses control characters in both charsets, so no client can name it.
  EXPECT_FALSE(room_name_valid(user_room_name("ann"), 128, RoomCharset::utf8));
  EXPECT_FALSE(room_name_valid(user_room_name("ann"), 128, RoomCharset::ascii));
}

struct Parsed {
  CommandError error;
  CommandType type;
  std::string uid;
};

Parsed parse(simdjson::dom::parser& parser, std::string_view text) {
  Command cmd;
  CommandError e = parse_command(parser, reinterpret_cast<const uint8_t*>(text.data()), text.size(), cmd);
  return {e, cmd.type, std::string(cmd.uid)};
}

TEST(Command, BindAndHello) {
  simdjson::dom::parser parser;
  Parsed p = parse(parser, R"({"type":"BIND","data":{"uid":"ann"}})");
  EXPECT_EQ(p.error, CommandError::none);
  EXPECT_EQ(p.type, CommandType::bind);
  EXPECT_EQ(p.uid, "ann");
  p = parse(parser, R"({"type":"BIND","data":{"uid":"\u00e9\n"}})");  // the shard applies the uid rule
  EXPECT_EQ(p.error, CommandError::none);
  EXPECT_EQ(p.uid, "\xc3\xa9\n");
  for (std::string_view bad : {R"({"type":"BIND"})", R"({"type":"BIND","data":{}})", R"({"type":"BIND","data":{"uid":""}})",
                               R"({"type":"BIND","data":{"uid":5}})", R"({"type":"BIND","data":"ann"})"})
    EXPECT_EQ(parse(parser, bad).error, CommandError::bad_uid) << bad;
  p = parse(parser, R"({"type":"HELLO"})");
  EXPECT_EQ(p.error, CommandError::none);
  EXPECT_EQ(p.type, CommandType::hello);
  EXPECT_EQ(parse(parser, R"({"type":"HELLO","data":{}})").type, CommandType::hello);
  EXPECT_EQ(parse(parser, R"({"type":"bind","data":{"uid":"a"}})").type, CommandType::unknown);
}

TEST(Command, BoundAndHelloAnswersEscape) {
  EXPECT_EQ(bound_command_json("ann", "42"), R"({"type":"BOUND","data":{"uid":"ann","conn":"42"}})");
  EXPECT_EQ(bound_command_json("a\"b", "1"), R"({"type":"BOUND","data":{"uid":"a\"b","conn":"1"}})");
  EXPECT_EQ(hello_command_json("7", ""), R"({"type":"HELLO","data":{"conn":"7","uid":null}})");
  EXPECT_EQ(hello_command_json("7", "bob"), R"({"type":"HELLO","data":{"conn":"7","uid":"bob"}})");
}

TEST(RoomIndex, UserBindingsAreNotRooms) {
  RoomIndex index;
  index.reserve_conns(4);
  bool created = false;
  index.bind_user(0, "ann", created);
  EXPECT_TRUE(created);
  index.bind_user(1, "ann", created);
  EXPECT_FALSE(created);
  index.bind_user(2, "bob", created);
  EXPECT_EQ(index.room_count(), 0u);
  EXPECT_EQ(index.user_room_count(), 2u);
  EXPECT_EQ(index.rooms_of(0), 0u);
  EXPECT_EQ(index.user_of(0), "ann");
  EXPECT_EQ(index.user_of(3), "");
  ASSERT_NE(index.find(user_room_name("ann")), kNil);
  EXPECT_EQ(index.room(index.find(user_room_name("ann"))).members.size(), 2u);
  bool joined = index.join(0, "lobby", created);
  EXPECT_TRUE(joined);
  EXPECT_EQ(index.rooms_of(0), 1u);
  EXPECT_EQ(index.room_count(), 1u);
  size_t listed = 0;
  index.for_each_room([&](const Room& r) {
    EXPECT_EQ(r.name, "lobby");
    ++listed;
  });
  EXPECT_EQ(listed, 1u);
  // A LEAVE cannot end a binding; closing the connection does.
  bool removed = false;
  EXPECT_FALSE(index.leave(0, user_room_name("ann"), removed));
  EXPECT_EQ(index.user_of(0), "ann");
  index.leave_all(0);
  EXPECT_EQ(index.user_of(0), "");
  EXPECT_EQ(index.room(index.find(user_room_name("ann"))).members.size(), 1u);
  index.leave_all(1);
  EXPECT_EQ(index.find(user_room_name("ann")), kNil);
  EXPECT_EQ(index.user_room_count(), 1u);
  index.leave_all(2);
  EXPECT_EQ(index.user_room_count(), 0u);
  EXPECT_EQ(index.room_count(), 0u);
}

class UserPublishTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(region_.create(64 * 1024, error)) << error;
    ring_ = region_.ring();
    ring_.attach(0, -1, pos_, seq_);
  }
  const RingEntry* next() {
    const RingEntry* e = ring_.peek(pos_, seq_);
    if (!e) return nullptr;
    pos_ += e->size;
    ++seq_;
    ring_.slot(0).held_pos.store(pos_);
    return e;
  }

  SharedRegion region_;
  Ring ring_;
  uint64_t pos_ = 0, seq_ = 0;
  Publisher publisher_{PublishRules{128, RoomCharset::utf8, 8}};
};

TEST_F(UserPublishTest, UserPushesCarryTheInternalRoomAndAPlainFrame) {
  ASSERT_EQ(publisher_.publish(ring_, Target::user, "ann", "[1]").error, PublishError::none);
  const RingEntry* e = next();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->target, Target::user);
  EXPECT_EQ(e->room(), user_room_name("ann"));
  // The frame holds the items and the seq only: the internal name never reaches a client.
  const std::string frame(reinterpret_cast<const char*>(e->frame()), e->frame_len);
  EXPECT_EQ(frame.find('\x01'), std::string::npos);
  EXPECT_NE(frame.find(R"({"type":"PUSH","data":{"items":[1],"seq":)" + std::to_string(e->seq) + "}}"),
            std::string::npos);
  ASSERT_EQ(publisher_.publish_json_body(ring_, Target::user, R"({"uid":"bob","items":[2]})").error,
            PublishError::none);
  EXPECT_EQ(next()->room(), user_room_name("bob"));
}

TEST_F(UserPublishTest, BadAddressesAreRefused) {
  EXPECT_EQ(publisher_.publish(ring_, Target::user, "", "[1]").error, PublishError::uid_invalid);
  EXPECT_EQ(publisher_.publish(ring_, Target::user, "123456789", "[1]").error, PublishError::uid_invalid);
  EXPECT_EQ(publisher_.publish(ring_, Target::user, "a\x01", "[1]").error, PublishError::uid_invalid);
  EXPECT_EQ(publisher_.publish_json_body(ring_, Target::user, R"({"items":[1]})").error, PublishError::uid_missing);
  EXPECT_EQ(publisher_.publish_json_body(ring_, Target::user, R"({"uid":1,"items":[1]})").error,
            PublishError::uid_invalid);
  EXPECT_EQ(publisher_.publish(ring_, Target::conn, "x", "[1]").error, PublishError::conn_invalid);
  EXPECT_EQ(publisher_.publish_json_body(ring_, Target::conn, R"({"items":[1]})").error, PublishError::conn_missing);
  EXPECT_EQ(publisher_.publish_json_body(ring_, Target::conn, R"({"conn":"01","items":[1]})").error,
            PublishError::conn_invalid);
  EXPECT_EQ(next(), nullptr);
  for (PublishError e : {PublishError::uid_missing, PublishError::uid_invalid, PublishError::conn_missing,
                         PublishError::conn_invalid})
    EXPECT_EQ(publish_error_status(e), 400);
}

TEST_F(UserPublishTest, ConnPushesCarryTheIdAsTextOrNumber) {
  const std::string id = format_conn_id(ConnId{1, 2, 3, 4});
  ASSERT_EQ(publisher_.publish(ring_, Target::conn, id, "[1]").error, PublishError::none);
  EXPECT_EQ(next()->room(), id);
  ASSERT_EQ(publisher_.publish_json_body(ring_, Target::conn, R"({"conn":)" + id + R"(,"items":[1]})").error,
            PublishError::none);
  const RingEntry* e = next();
  EXPECT_EQ(e->target, Target::conn);
  EXPECT_EQ(e->room(), id);
}

TEST_F(UserPublishTest, ClusterWireCarriesTheUidNotTheInternalName) {
  ASSERT_EQ(publisher_.publish(ring_, Target::user, "ann", R"([{"a":1}])").error, PublishError::none);
  std::string wire;
  cluster::encode_entry(wire, *next(), 7);
  cluster::Message m;
  ASSERT_EQ(cluster::decode(wire, m), cluster::DecodeError::none);
  EXPECT_EQ(m.target, Target::user);
  EXPECT_EQ(m.room, "ann");
  EXPECT_EQ(m.items, R"([{"a":1}])");
  // What the receiving node does with it: the same entry as a local user push.
  ASSERT_EQ(publisher_.publish(ring_, m.target, m.room, m.items, m.origin).error, PublishError::none);
  EXPECT_EQ(next()->room(), user_room_name("ann"));
  EXPECT_EQ(cluster::user_subject("ringcast"), "ringcast.u");
  // A user message without a uid is not valid.
  wire[2] = 0;
  wire[3] = 0;
  EXPECT_EQ(cluster::decode(wire, m), cluster::DecodeError::bad_length);
}

}  // namespace
}  // namespace ringcast
