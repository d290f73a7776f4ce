// Unit tests for engine/broadcast/encodings: a frame's encodings are built once per frame however many
// members ask, held while the fan-out phase lasts and released after it; the go-push encoding is the
// frame itself, and a frame that is not a PUSH has no Pomelo encoding.
#include "engine/broadcast/encodings.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "engine/codec/frame.h"

namespace ringcast {
namespace {

class EncodingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string_view routes[] = {"onPush"};
    ASSERT_EQ(pomelo::RouteDict::build(routes, dict_), pomelo::RouteDictError::none);
  }
  FrameId text_frame(std::string_view payload, uint32_t items) {
    const ws::FrameBuffer b = ws::copy_server_frame(ws::Opcode::text, payload);
    return frames_.owned_frame(b.bytes, b.len, items, true);
  }

  Frames frames_;
  pomelo::RouteDict dict_;
};

TEST_F(EncodingsTest, GoPushIsTheFrameItselfAndNoneGetsNothing) {
  Encodings encodings(frames_, dict_, "onPush");
  const FrameId push = text_frame(R"({"type":"PUSH","data":{"items":[1],"seq":1}})", 1);
  EXPECT_EQ(encodings.encode(push, Encoding::ws_text), push);
  EXPECT_EQ(encodings.encode(push, Encoding::none), kNil);
  EXPECT_EQ(frames_.frames_live(), 1u);
}

TEST_F(EncodingsTest, PomeloIsBuiltOncePerFrameAndReleasedAfterTheFanout) {
  const size_t before = frames_.frames_live();
  {
    Encodings encodings(frames_, dict_, "onPush");
    const FrameId push = text_frame(R"({"type":"PUSH","data":{"items":[1,2],"seq":7}})", 2);
    frames_.ref(push);  // a member's queue holds it
    const FrameId pomelo = encodings.encode(push, Encoding::pomelo);
    ASSERT_NE(pomelo, kNil);
    EXPECT_NE(pomelo, push);
    EXPECT_EQ(encodings.encode(push, Encoding::pomelo), pomelo);  // the second member shares it
    const Frame& f = frames_.frame(pomelo);
    EXPECT_EQ(f.data[0], 0x80 | static_cast<uint8_t>(ws::Opcode::binary));
    EXPECT_EQ(f.items, 2u);
    EXPECT_TRUE(f.push);
    // Inside: one data packet (type 4) holding a push on route code 1 whose body is the data object.
    const std::string_view payload(reinterpret_cast<const char*>(f.data) + 2, f.len - 2);
    EXPECT_EQ(static_cast<uint8_t>(payload[0]), 0x04);
    EXPECT_NE(payload.find(R"({"items":[1,2],"seq":7})"), std::string_view::npos);
    frames_.ref(pomelo);  // a Pomelo member's queue holds it
    encodings.end_fanout();
    EXPECT_EQ(frames_.frames_live(), before + 2);  // both still queued
    frames_.unref(pomelo);
    frames_.unref(push);
  }
  EXPECT_EQ(frames_.frames_live(), before);
}

TEST_F(EncodingsTest, ANewFrameLetsThePreviousEncodingGo) {
  Encodings encodings(frames_, dict_, "onPush");
  const FrameId a = text_frame(R"({"type":"PUSH","data":{"items":["a"],"seq":1}})", 1);
  frames_.ref(a);
  ASSERT_NE(encodings.encode(a, Encoding::pomelo), kNil);
  EXPECT_EQ(frames_.frames_live(), 2u);
  const FrameId b = text_frame(R"({"type":"PUSH","data":{"items":["b"],"seq":2}})", 1);
  frames_.ref(b);
  ASSERT_NE(encodings.encode(b, Encoding::pomelo), kNil);
  EXPECT_EQ(frames_.frames_live(), 3u);  // a, b and b's encoding: a's encoding had no member
  encodings.end_fanout();
  frames_.unref(a);
  frames_.unref(b);
  EXPECT_EQ(frames_.frames_live(), 0u);
}

TEST_F(EncodingsTest, AFrameThatIsNotAPushHasNoPomeloForm) {
  Encodings encodings(frames_, dict_, "onPush");
  const FrameId other = text_frame(R"({"type":"PONG","data":{}})", 0);
  frames_.ref(other);
  EXPECT_EQ(encodings.encode(other, Encoding::pomelo), kNil);
  EXPECT_EQ(encodings.encode(other, Encoding::pomelo), kNil);
  encodings.end_fanout();
  frames_.unref(other);
  EXPECT_EQ(frames_.frames_live(), 0u);
}

}  // namespace
}  // namespace ringcast
