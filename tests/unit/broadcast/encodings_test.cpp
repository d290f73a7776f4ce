// Unit tests for engine/broadcast/encodings: a frame's encodings are built once per frame however many
// members ask, held while the fan-out phase lasts and released after it; the go-push encoding is the
// frame itself, and a frame that is not a PUSH has no Pomelo encoding.
#include "engine/broadcast/encodings.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "engine/codec/deflate.h"
#include "engine/codec/frame.h"
#include "engine/node/stats.h"

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

// The fan-out hands each member all of a room's frames of a drain before the next member, so the
// forms of several frames are asked for in turn: each is built once and kept until the fan-out ends.
TEST_F(EncodingsTest, SeveralFramesKeepTheirFormsUntilTheFanoutEnds) {
  Encodings encodings(frames_, dict_, "onPush");
  const FrameId a = text_frame(R"({"type":"PUSH","data":{"items":["a"],"seq":1}})", 1);
  frames_.ref(a);
  const FrameId b = text_frame(R"({"type":"PUSH","data":{"items":["b"],"seq":2}})", 1);
  frames_.ref(b);
  const FrameId pa = encodings.encode(a, Encoding::pomelo);
  const FrameId pb = encodings.encode(b, Encoding::pomelo);
  ASSERT_NE(pa, kNil);
  ASSERT_NE(pb, kNil);
  EXPECT_NE(pa, pb);
  EXPECT_EQ(frames_.frames_live(), 4u);         // a, b and their Pomelo forms
  for (int member = 0; member < 3; ++member) {  // the next members: nothing built again
    EXPECT_EQ(encodings.encode(a, Encoding::pomelo), pa);
    EXPECT_EQ(encodings.encode(b, Encoding::pomelo), pb);
  }
  EXPECT_EQ(frames_.frames_live(), 4u);
  // The sources are held too: a source no queue took stays until the fan-out ends, so its id is not
  // reused for another frame while members may still ask for its forms.
  frames_.unref(a);
  EXPECT_EQ(frames_.frames_live(), 4u);
  EXPECT_EQ(encodings.encode(a, Encoding::pomelo), pa);
  encodings.end_fanout();
  EXPECT_EQ(frames_.frames_live(), 1u);  // b: its queue reference
  frames_.unref(b);
  EXPECT_EQ(frames_.frames_live(), 0u);
  // After the fan-out a new frame on a recycled id starts with no forms.
  const FrameId c = text_frame(R"({"type":"PUSH","data":{"items":["c"],"seq":3}})", 1);
  frames_.ref(c);
  const FrameId pc = encodings.encode(c, Encoding::pomelo);
  ASSERT_NE(pc, kNil);
  const Frame& f = frames_.frame(pc);
  const std::string_view bytes(reinterpret_cast<const char*>(f.data), f.len);
  EXPECT_NE(bytes.find("\"c\""), std::string_view::npos) << "c's own form, not a or b's";
  encodings.end_fanout();
  frames_.unref(c);
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

TEST_F(EncodingsTest, SseAndNdjsonAreBuiltOncePerFrameAsOneChunkEach) {
  const size_t before = frames_.frames_live();
  {
    Encodings encodings(frames_, dict_, "onPush");
    const std::string_view message = R"({"type":"PUSH","data":{"items":[1,2],"room":"r","seq":7}})";
    const FrameId push = text_frame(message, 2);
    frames_.ref(push);
    const FrameId sse = encodings.encode(push, Encoding::sse);
    const FrameId ndjson = encodings.encode(push, Encoding::ndjson);
    ASSERT_NE(sse, kNil);
    ASSERT_NE(ndjson, kNil);
    EXPECT_EQ(encodings.encode(push, Encoding::sse), sse);  // every SSE member shares it
    EXPECT_EQ(encodings.encode(push, Encoding::ndjson), ndjson);
    const Frame& s = frames_.frame(sse);
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(s.data), s.len),
              "3c\r\nid: 7\nevent: push\ndata: {\"items\":[1,2],\"room\":\"r\",\"seq\":7}\n\n\r\n");
    EXPECT_EQ(s.items, 2u);
    EXPECT_TRUE(s.push);
    const Frame& n = frames_.frame(ndjson);
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(n.data), n.len),
              "3a\r\n" + std::string(message) + "\n\r\n");
    encodings.end_fanout();
    frames_.unref(push);
  }
  EXPECT_EQ(frames_.frames_live(), before);
}

TEST_F(EncodingsTest, AFrameThatIsNotAPushHasNoStreamForm) {
  Encodings encodings(frames_, dict_, "onPush");
  const FrameId other = text_frame(R"({"type":"PONG","data":{}})", 0);
  frames_.ref(other);
  EXPECT_EQ(encodings.encode(other, Encoding::sse), kNil);
  EXPECT_EQ(encodings.encode(other, Encoding::ndjson), kNil);
  encodings.end_fanout();
  frames_.unref(other);
  EXPECT_EQ(frames_.frames_live(), 0u);
}

// The payload of an unmasked server frame (header of 2, 4 or 10 bytes).
std::string_view payload_of(const Frame& f) {
  const uint8_t len7 = f.data[1] & 0x7F;
  const size_t header = len7 < 126 ? 2 : len7 == 126 ? 4 : 10;
  return {reinterpret_cast<const char*>(f.data) + header, f.len - header};
}

std::string inflated(std::string_view compressed) {
  deflate::Inflater in;
  EXPECT_EQ(in.inflate(reinterpret_cast<const uint8_t*>(compressed.data()), compressed.size(), 1 << 20),
            deflate::InflateResult::ok);
  return std::string(reinterpret_cast<const char*>(in.output()), in.output_size());
}

std::string chat_push(int items) {
  std::string s = R"({"type":"PUSH","data":{"items":[)";
  for (int i = 0; i < items; ++i) {
    if (i) s += ',';
    s += R"({"uid":)" + std::to_string(1000 + i) + R"(,"name":"viewer)" + std::to_string(i) +
         R"(","text":"what a goal, replay please","color":16777215})";
  }
  return s + R"(],"seq":42}})";
}

TEST_F(EncodingsTest, DeflateIsBuiltOncePerFrameWithRsv1AndInflatesToThePlainFrame) {
  ShardStats stats{};
  Encodings encodings(frames_, dict_, "onPush", CompressionOptions{6, 128}, &stats);
  const std::string text = chat_push(20);
  const FrameId push = text_frame(text, 20);
  frames_.ref(push);
  const FrameId z = encodings.encode(push, Encoding::ws_deflate);
  ASSERT_NE(z, kNil);
  ASSERT_NE(z, push);
  EXPECT_EQ(encodings.encode(push, Encoding::ws_deflate), z);  // every member shares it
  const Frame& f = frames_.frame(z);
  EXPECT_EQ(f.data[0], 0x80 | 0x40 | static_cast<uint8_t>(ws::Opcode::text));  // FIN, RSV1, text
  EXPECT_EQ(f.items, 20u);
  EXPECT_TRUE(f.push);
  EXPECT_EQ(inflated(payload_of(f)), text);
  EXPECT_LT(f.len * 3, frames_.frame(push).len);  // chat items compress well over 3x
  EXPECT_EQ(stats.get(Counter::deflate_frames), 1);
  EXPECT_EQ(stats.get(Counter::deflate_bytes_in), static_cast<int64_t>(text.size()));
  EXPECT_EQ(stats.get(Counter::deflate_bytes_out), static_cast<int64_t>(payload_of(f).size()));
  frames_.ref(z);  // a deflate member's queue holds it
  encodings.end_fanout();
  frames_.unref(z);
  frames_.unref(push);
  EXPECT_EQ(frames_.frames_live(), 0u);
}

TEST_F(EncodingsTest, SmallFramesGoPlainToDeflateMembers) {
  ShardStats stats{};
  Encodings encodings(frames_, dict_, "onPush", CompressionOptions{6, 128}, &stats);
  const FrameId push = text_frame(R"({"type":"PUSH","data":{"items":["hi"],"seq":1}})", 1);
  frames_.ref(push);
  EXPECT_EQ(encodings.encode(push, Encoding::ws_deflate), push);
  EXPECT_EQ(stats.get(Counter::deflate_skipped), 1);
  EXPECT_EQ(stats.get(Counter::deflate_frames), 0);
  // Above the size but incompressible: plain too (deflate would make it longer).
  // 300 pseudo-random letters and digits: over the size, but they barely compress.
  constexpr std::string_view kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string noise = R"({"type":"PUSH","data":{"items":[")";
  uint32_t x = 12345;
  for (int i = 0; i < 300; ++i) {
    x = x * 1103515245 + 12345;
    noise += kChars[(x >> 16) % kChars.size()];
  }
  noise += R"("],"seq":2}})";
  const FrameId random = text_frame(noise, 1);
  frames_.ref(random);
  const FrameId z = encodings.encode(random, Encoding::ws_deflate);
  // Whichever way it went, a deflate member never gets more bytes than the plain frame.
  EXPECT_LE(frames_.frame(z).len, frames_.frame(random).len);
  EXPECT_EQ(stats.get(Counter::deflate_skipped) + stats.get(Counter::deflate_frames), 2);
  encodings.end_fanout();
  frames_.unref(push);
  frames_.unref(random);
  EXPECT_EQ(frames_.frames_live(), 0u);
}

TEST_F(EncodingsTest, PomeloDeflateCompressesThePomeloFrameSharedWithPlainMembers) {
  ShardStats stats{};
  Encodings encodings(frames_, dict_, "onPush", CompressionOptions{6, 64}, &stats);
  const FrameId push = text_frame(chat_push(5), 5);
  frames_.ref(push);
  const FrameId zp = encodings.encode(push, Encoding::pomelo_deflate);
  const FrameId p = encodings.encode(push, Encoding::pomelo);
  ASSERT_NE(zp, kNil);
  ASSERT_NE(p, kNil);
  EXPECT_NE(zp, p);
  EXPECT_EQ(frames_.frames_live(), 3u);  // the PUSH, its Pomelo form, and that compressed: once each
  EXPECT_EQ(frames_.frame(zp).data[0], 0x80 | 0x40 | static_cast<uint8_t>(ws::Opcode::binary));
  EXPECT_EQ(inflated(payload_of(frames_.frame(zp))), std::string(payload_of(frames_.frame(p))));
  encodings.end_fanout();
  frames_.unref(push);
  EXPECT_EQ(frames_.frames_live(), 0u);
}

}  // namespace
}  // namespace ringcast
