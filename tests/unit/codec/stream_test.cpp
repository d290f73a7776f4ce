// Unit tests for engine/codec/stream: the subscription query (rooms, since, epoch, Last-Event-ID and
// their refusals), chunk framing, and the bytes of a PUSH as an SSE event and as an NDJSON line: read
// back the way a client reads them (chunks decoded, SSE fields split), not only compared to a string.
#include "engine/codec/stream.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace ringcast::stream {
namespace {

// Decodes a chunked body; fails the test on a framing error. `ended` tells whether the last chunk came.
std::string dechunk(std::string_view in, bool* ended = nullptr) {
  std::string out;
  if (ended) *ended = false;
  while (!in.empty()) {
    const size_t eol = in.find("\r\n");
    EXPECT_NE(eol, std::string_view::npos);
    if (eol == std::string_view::npos) return out;
    const size_t size = std::stoul(std::string(in.substr(0, eol)), nullptr, 16);
    in.remove_prefix(eol + 2);
    if (size == 0) {
      EXPECT_EQ(in, "\r\n");
      if (ended) *ended = true;
      return out;
    }
    EXPECT_GE(in.size(), size + 2);
    out += in.substr(0, size);
    EXPECT_EQ(in.substr(size, 2), "\r\n");
    in.remove_prefix(size + 2);
  }
  return out;
}

struct SseEvent {
  std::string id, event, data;
  bool has_id = false;
};

// The event fields of one SSE event (text up to a blank line), as the EventSource algorithm reads them.
std::vector<SseEvent> sse_events(std::string_view text) {
  std::vector<SseEvent> events;
  SseEvent e;
  bool any = false;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty()) {
      if (any) events.push_back(e);
      e = SseEvent{};
      any = false;
      continue;
    }
    if (line[0] == ':') continue;
    const size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    any = true;
    if (field == "id") {
      e.id = value;
      e.has_id = true;
    } else if (field == "event") {
      e.event = value;
    } else if (field == "data") {
      if (!e.data.empty()) e.data += '\n';
      e.data += value;
    }
  }
  return events;
}

TEST(StreamQuery, RoomsSinceAndEpoch) {
  Query q;
  EXPECT_EQ(parse_query("room=a&room=b%20c&since=42&epoch=00112233aabbccdd&token=x", {}, 5, q), "");
  EXPECT_EQ(q.rooms, (std::vector<std::string>{"a", "b c"}));
  EXPECT_TRUE(q.has_since);
  EXPECT_EQ(q.since, 42u);
  EXPECT_EQ(q.epoch, "00112233aabbccdd");
  EXPECT_EQ(parse_query("room=a+b&room=a+b&room=", {}, 5, q), "");
  EXPECT_EQ(q.rooms, (std::vector<std::string>{"a b", ""}));  // repeats once; empty is the caller's 400
  EXPECT_FALSE(q.has_since);
}

TEST(StreamQuery, LastEventIdWinsOverTheUrlsSince) {
  Query q;
  EXPECT_EQ(parse_query("room=a&since=5", "17", 5, q), "");
  EXPECT_EQ(q.since, 17u);
  EXPECT_EQ(parse_query("room=a&lastEventId=9", {}, 5, q), "");
  EXPECT_TRUE(q.has_since);
  EXPECT_EQ(q.since, 9u);
  EXPECT_EQ(parse_query("room=a&since=0", {}, 5, q), "");
  EXPECT_TRUE(q.has_since);
  EXPECT_EQ(q.since, 0u);
}

TEST(StreamQuery, RefusalsSayWhy) {
  Query q;
  EXPECT_NE(parse_query("room=a&room=b&room=c", {}, 2, q), "");
  EXPECT_NE(parse_query("room=%zz", {}, 5, q), "");
  EXPECT_NE(parse_query("room=a%2", {}, 5, q), "");
  EXPECT_NE(parse_query("room=a&since=-1", {}, 5, q), "");
  EXPECT_NE(parse_query("room=a&since=", {}, 5, q), "");
  EXPECT_NE(parse_query("room=a&since=99999999999999999999999", {}, 5, q), "");
  EXPECT_NE(parse_query("room=a&epoch=xyz", {}, 5, q), "");
  EXPECT_NE(parse_query("room=a", "abc", 5, q), "");
  EXPECT_EQ(parse_query("room=a&since=18446744073709551615", {}, 5, q), "");
  EXPECT_EQ(q.since, UINT64_MAX);
}

TEST(StreamChunks, ChunksFrameTheirBodyAndTheLastOneEnds) {
  std::string out;
  append_chunk(out, "hello");
  append_chunk(out, "");  // not a chunk: it would end the stream
  append_chunk(out, std::string(300, 'x'));
  EXPECT_EQ(out.substr(0, 10), "5\r\nhello\r\n");
  EXPECT_EQ(out.substr(10, 5), "12c\r\n");
  out += kLastChunk;
  bool ended = false;
  EXPECT_EQ(dechunk(out, &ended), "hello" + std::string(300, 'x'));
  EXPECT_TRUE(ended);
}

TEST(StreamPush, ARoomPushIsAnSseEventWithItsSeqAsId) {
  std::string out;
  ASSERT_TRUE(
      append_push_chunk(out, Kind::sse, R"({"type":"PUSH","data":{"items":[1,"x"],"room":"r","seq":12}})"));
  const std::vector<SseEvent> events = sse_events(dechunk(out));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].has_id);
  EXPECT_EQ(events[0].id, "12");
  EXPECT_EQ(events[0].event, "push");
  EXPECT_EQ(events[0].data, R"({"items":[1,"x"],"room":"r","seq":12})");
}

TEST(StreamPush, PushesToEveryoneOrAUserCarryNoId) {
  std::string out;
  ASSERT_TRUE(
      append_push_chunk(out, Kind::sse, R"({"type":"PUSH","data":{"items":[{"room":"x"}],"seq":3}})"));
  const std::vector<SseEvent> events = sse_events(dechunk(out));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].has_id);
  EXPECT_EQ(events[0].data, R"({"items":[{"room":"x"}],"seq":3})");
}

TEST(StreamPush, AnNdjsonLineIsTheGoPushMessage) {
  std::string out;
  const std::string_view message = R"({"type":"PUSH","data":{"items":[1],"room":"r\"q","seq":7}})";
  ASSERT_TRUE(append_push_chunk(out, Kind::ndjson, message));
  EXPECT_EQ(dechunk(out), std::string(message) + "\n");
}

TEST(StreamPush, LineBreaksNeverSplitAnEvent) {
  std::string out;
  ASSERT_TRUE(append_push_chunk(out, Kind::sse,
                                "{\"type\":\"PUSH\",\"data\":{\"items\":[1,\n2],\"room\":\"r\",\"seq\":4}}"));
  const std::vector<SseEvent> events = sse_events(dechunk(out));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, R"({"items":[1, 2],"room":"r","seq":4})");
}

TEST(StreamPush, WhatIsNotAPushIsRefused) {
  std::string out;
  EXPECT_FALSE(append_push_chunk(out, Kind::sse, R"({"type":"PONG","data":{}})"));
  EXPECT_FALSE(append_push_chunk(out, Kind::sse, R"({"type":"PUSH","data":{"items":[1]}})"));
  EXPECT_FALSE(append_push_chunk(out, Kind::ndjson, R"({"type":"PUSH","data":{"items":[1],"seq":x}})"));
  EXPECT_EQ(out, "");
  uint64_t seq = 0;
  bool room = true;
  EXPECT_TRUE(push_position(R"({"items":[],"seq":0})", seq, room));
  EXPECT_EQ(seq, 0u);
  EXPECT_FALSE(room);
}

TEST(StreamMessages, JoinedAndOtherMessages) {
  std::string out;
  append_message_chunk(out, Kind::sse, "joined", "JOINED", R"({"room":"r","seq":5})", 5);
  append_message_chunk(out, Kind::sse, "message", "ERROR", R"({"code":"c"})");
  append_message_chunk(out, Kind::sse, "joined", "JOINED", R"({"room":"r","seq":0})", 0);
  const std::vector<SseEvent> events = sse_events(dechunk(out));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(events[2].has_id);  // 0: before the first item, still a position to resume from
  EXPECT_EQ(events[2].id, "0");
  EXPECT_EQ(events[0].id, "5");
  EXPECT_EQ(events[0].event, "joined");
  EXPECT_EQ(events[0].data, R"({"room":"r","seq":5})");
  EXPECT_FALSE(events[1].has_id);
  EXPECT_EQ(events[1].event, "message");
  EXPECT_EQ(events[1].data, R"({"type":"ERROR","data":{"code":"c"}})");
  out.clear();
  append_message_chunk(out, Kind::ndjson, "joined", "JOINED", R"({"room":"r"})", 5);
  EXPECT_EQ(dechunk(out), "{\"type\":\"JOINED\",\"data\":{\"room\":\"r\"}}\n");
}

TEST(StreamHeads, ResponseHeadAndPreflight) {
  const std::string sse = response_head(Kind::sse, "https://a.example");
  EXPECT_EQ(sse.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(sse.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(sse.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(sse.find("Access-Control-Allow-Origin: https://a.example\r\n"), std::string::npos);
  EXPECT_EQ(sse.substr(sse.size() - 4), "\r\n\r\n");
  const std::string ndjson = response_head(Kind::ndjson, {});
  EXPECT_NE(ndjson.find("Content-Type: application/x-ndjson"), std::string::npos);
  EXPECT_EQ(ndjson.find("Access-Control"), std::string::npos);
  EXPECT_NE(preflight_response("https://a.example")
                .find("Access-Control-Allow-Headers: Authorization, Last-Event-ID"),
            std::string::npos);
  const std::vector<SseEvent> none = sse_events(dechunk(heartbeat_chunk(Kind::sse)));
  EXPECT_TRUE(none.empty());  // a comment: no event
  EXPECT_EQ(dechunk(first_chunk(Kind::sse, 2000)), "retry: 2000\n\n");
  EXPECT_EQ(first_chunk(Kind::ndjson, 2000), "");
}

}  // namespace
}  // namespace ringcast::stream
