// Unit tests for engine/cluster: the cluster message (encode a ring entry, decode it back, refuse
// what is not one), room subjects (base64url tokens that are valid NATS tokens for any room name),
// subject prefixes, and the publisher's cluster gate (503 while the node has no NATS connection).
#include "engine/node/bridge.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "engine/broadcast/publish.h"
#include "engine/codec/base64.h"
#include "engine/node/shm.h"

namespace ringcast {
namespace {

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(region_.create(64 * 1024, error)) << error;
    ring_ = region_.ring();
    ring_.attach(0, -1, pos_, seq_);
  }
  // Publishes and returns the entry as a consumer sees it.
  const RingEntry* publish(Target target, std::string_view room, std::string_view items, uint32_t origin = 0) {
    Publisher p({128});
    PublishOutcome out = p.publish(ring_, target, room, items, origin);
    EXPECT_EQ(out.error, PublishError::none);
    const RingEntry* e = ring_.peek(pos_, seq_);
    EXPECT_NE(e, nullptr);
    pos_ += e->size;
    ++seq_;
    ring_.slot(0).held_pos.store(pos_);
    return e;
  }

  SharedRegion region_;
  Ring ring_;
  uint64_t pos_ = 0, seq_ = 0;
};

TEST_F(ClusterTest, ARoomEntryRoundTrips) {
  const RingEntry* e = publish(Target::room, "lobby", "[1, {\"a\" : \"b\"}]");
  std::string wire;
  cluster::encode_entry(wire, *e, 77);
  EXPECT_EQ(wire.size(), cluster::kHeaderBytes + 5 + std::string_view(R"([1,{"a":"b"}])").size());
  cluster::Message m;
  ASSERT_EQ(cluster::decode(wire, m), cluster::DecodeError::none);
  EXPECT_EQ(m.target, Target::room);
  EXPECT_EQ(m.origin, 77u);
  EXPECT_EQ(m.origin_seq, e->seq);
  EXPECT_EQ(m.room, "lobby");
  EXPECT_EQ(m.items, R"([1,{"a":"b"}])");  // the minified items, as the ring holds them
}

TEST_F(ClusterTest, APushAllEntryRoundTripsWithoutARoom) {
  const RingEntry* e = publish(Target::all, {}, "[\"x\"]");
  std::string wire;
  cluster::encode_entry(wire, *e, 0xFFFFFFFFu);
  cluster::Message m;
  ASSERT_EQ(cluster::decode(wire, m), cluster::DecodeError::none);
  EXPECT_EQ(m.target, Target::all);
  EXPECT_EQ(m.origin, 0xFFFFFFFFu);
  EXPECT_TRUE(m.room.empty());
  EXPECT_EQ(m.items, "[\"x\"]");
}

TEST_F(ClusterTest, WhatIsNotAMessageIsRefused) {
  const RingEntry* e = publish(Target::room, "r", "[1]");
  std::string good;
  cluster::encode_entry(good, *e, 5);
  cluster::Message m;
  EXPECT_EQ(cluster::decode(good.substr(0, 15), m), cluster::DecodeError::too_short);
  std::string bad = good;
  bad[0] = 2;
  EXPECT_EQ(cluster::decode(bad, m), cluster::DecodeError::bad_version);
  bad = good;
  bad[1] = 7;
  EXPECT_EQ(cluster::decode(bad, m), cluster::DecodeError::bad_target);
  bad = good;
  bad[2] = 100;  // room longer than the message
  EXPECT_EQ(cluster::decode(bad, m), cluster::DecodeError::bad_length);
  bad = good;
  bad[1] = 0;  // push/all with a room
  EXPECT_EQ(cluster::decode(bad, m), cluster::DecodeError::bad_length);
  bad = good.substr(0, cluster::kHeaderBytes + 1);  // a room and no items
  EXPECT_EQ(cluster::decode(bad, m), cluster::DecodeError::no_items);
}

TEST(ClusterWire, Base64UrlFollowsRfc4648WithoutPadding) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"},
  };
  for (auto [in, want] : vectors) {
    std::string out;
    base64url_append(out, in);
    EXPECT_EQ(out, want) << in;
  }
}

TEST(ClusterWire, EveryRoomNameIsOneValidSubjectToken) {
  for (std::string_view room : {"a", "a.b", "a b", "*", ">", "r.*.>", "\xc3\xa9t\xc3\xa9", "\t"}) {
    std::string subject;
    cluster::room_subject(subject, "ringcast", room);
    ASSERT_EQ(subject.rfind("ringcast.r.", 0), 0u);
    const std::string token = subject.substr(11);
    EXPECT_FALSE(token.empty());
    EXPECT_EQ(token.find_first_of(".*> \t\r\n"), std::string::npos) << subject;
  }
  std::string a, b;
  cluster::room_subject(a, "p", "ab");
  cluster::room_subject(b, "p", "a");
  EXPECT_NE(a, b);
  EXPECT_EQ(cluster::all_subject("ringcast"), "ringcast.all");
}

TEST(ClusterWire, SubjectPrefixes) {
  EXPECT_TRUE(cluster::subject_prefix_valid("ringcast"));
  EXPECT_TRUE(cluster::subject_prefix_valid("prod.eu-1.ringcast_2"));
  EXPECT_FALSE(cluster::subject_prefix_valid(""));
  EXPECT_FALSE(cluster::subject_prefix_valid(".a"));
  EXPECT_FALSE(cluster::subject_prefix_valid("a."));
  EXPECT_FALSE(cluster::subject_prefix_valid("a..b"));
  EXPECT_FALSE(cluster::subject_prefix_valid("a.*"));
  EXPECT_FALSE(cluster::subject_prefix_valid("a>"));
  EXPECT_FALSE(cluster::subject_prefix_valid("a b"));
}

TEST_F(ClusterTest, TheGateRefusesPushesWhileTheClusterIsUnreachable) {
  ClusterState& cluster = region_.header()->cluster;
  Publisher gated({128});
  gated.set_cluster_gate(&cluster);
  // Not in cluster mode: no gate.
  EXPECT_EQ(gated.publish(ring_, Target::room, "r", "[1]").error, PublishError::none);
  cluster.enabled = 1;
  PublishOutcome out = gated.publish(ring_, Target::room, "r", "[1]");
  EXPECT_EQ(out.error, PublishError::cluster_down);
  EXPECT_EQ(publish_error_status(out.error), 503);
  // Bad input is still a 400, not a 503 the caller would retry.
  EXPECT_EQ(gated.publish(ring_, Target::room, "r", "[").error, PublishError::bad_json);
  cluster.connected = 1;
  EXPECT_EQ(gated.publish(ring_, Target::all, {}, "[2]").error, PublishError::none);
  // The bridge's own publisher (no gate) commits what other nodes sent, connected or not.
  cluster.connected = 0;
  Publisher bridge({128});
  EXPECT_EQ(bridge.publish(ring_, Target::room, "r", "[3]", 9).error, PublishError::none);
}

}  // namespace
}  // namespace ringcast
