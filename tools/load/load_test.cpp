// Unit tests of ringcast-load's pure code: the item scanner (whole messages, odd-but-valid JSON),
// the recovery fields (a PUSH's room and seq after its items, the JOINED marker), server frame heads
// and their reassembly from reads split at every point, HTTP answer framing, the item writer and the
// latency histogram.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tools/load/histogram.h"
#include "tools/load/publisher.h"
#include "tools/load/scan.h"

namespace ringcast::load {
namespace {

std::vector<Item> scan(std::string_view message, ScanCounts* counts_out = nullptr) {
  std::vector<Item> items;
  ScanCounts counts = scan_push_message(message, [&](const Item& it) { items.push_back(it); });
  if (counts_out) *counts_out = counts;
  return items;
}

TEST(Scan, PushWithSeveralItems) {
  ScanCounts counts;
  auto items =
      scan(R"({"type":"PUSH","data":{"items":[[3,1,100,"xx"],[3,2,200,"y\"]z"],[4,9,300]]}})", &counts);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].room_index, 3u);
  EXPECT_EQ(items[1].seq, 2u);
  EXPECT_EQ(items[1].t_ns, 200u);
  EXPECT_EQ(items[2].room_index, 4u);
  EXPECT_EQ(counts.foreign, 0u);
  EXPECT_FALSE(counts.malformed);
}

TEST(Scan, WhitespaceAndForeignItems) {
  ScanCounts counts;
  auto items = scan(
      R"({ "type" : "PUSH", "data" : { "items" : [ {"a":[1,2]}, "str]", [ 1 , 2 , 3 , "p" ] , 7, [1,"x",3] ] } })",
      &counts);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].t_ns, 3u);
  EXPECT_EQ(counts.foreign, 4u);
  EXPECT_FALSE(counts.malformed);
}

TEST(Scan, ItemsWordInsideAStringIsNotTheKey) {
  auto items = scan(R"({"type":"PUSH","data":{"note":"\"items\"","items":[[0,1,2,"p"]]}})");
  ASSERT_EQ(items.size(), 1u);
}

TEST(Scan, NoItemsAndTruncated) {
  ScanCounts counts;
  EXPECT_TRUE(scan(R"({"type":"PONG","data":{}})", &counts).empty());
  EXPECT_EQ(counts.items, 0u);
  scan(R"({"type":"PUSH","data":{"items":[[0,1,2,"p"],[0,2,3,"q)", &counts);
  EXPECT_EQ(counts.items, 1u);
  EXPECT_TRUE(counts.malformed);
}

TEST(Scan, MessageType) {
  EXPECT_TRUE(message_type_is(R"({"type":"PONG","data":{}})", "PONG"));
  EXPECT_TRUE(message_type_is(R"( { "type" : "PONG" })", "PONG"));
  EXPECT_FALSE(message_type_is(R"({"type":"PONGS"})", "PONG"));
  EXPECT_FALSE(message_type_is(R"({"type":"PUSH","data":{"items":["PONG"]}})", "PONG"));
}

TEST(Recovery, PushTailGivesRoomAndSeq) {
  const std::string_view m =
      R"({"type":"PUSH","data":{"items":[[0,1,5,"a"],[0,2,6,"b"]],"room":"r0","seq":42}})";
  ScanCounts counts;
  auto items = scan(m, &counts);
  ASSERT_EQ(items.size(), 2u);
  ASSERT_NE(counts.after, nullptr);
  PushTail tail;
  ASSERT_TRUE(parse_push_tail(counts.after, m.data() + m.size(), tail));
  EXPECT_TRUE(tail.has_room);
  EXPECT_EQ(tail.room, "r0");
  EXPECT_TRUE(tail.has_seq);
  EXPECT_EQ(tail.seq, 42u);
}

TEST(Recovery, PushTailWithoutRoomOrSeq) {
  // A push to everyone: seq, no room. A go-push server: neither. Spacing and other members are fine.
  const std::string_view all = R"({"type":"PUSH","data":{"items":[1] , "seq" : 7 , "x":{"room":"no"} }})";
  ScanCounts counts;
  scan(all, &counts);
  PushTail tail;
  ASSERT_TRUE(parse_push_tail(counts.after, all.data() + all.size(), tail));
  EXPECT_FALSE(tail.has_room);
  EXPECT_TRUE(tail.has_seq);
  EXPECT_EQ(tail.seq, 7u);

  const std::string_view gopush = R"({"type":"PUSH","data":{"items":[]}})";
  scan(gopush, &counts);
  PushTail none;
  ASSERT_TRUE(parse_push_tail(counts.after, gopush.data() + gopush.size(), none));
  EXPECT_FALSE(none.has_room);
  EXPECT_FALSE(none.has_seq);

  // Truncated or malformed tails are refused; no items array gives no position at all.
  const std::string_view cut = R"({"type":"PUSH","data":{"items":[1],"room":"r0","seq":)";
  scan(cut, &counts);
  PushTail partial;
  EXPECT_FALSE(parse_push_tail(counts.after, cut.data() + cut.size(), partial));
  EXPECT_TRUE(partial.has_room);
  EXPECT_FALSE(partial.has_seq);
  EXPECT_FALSE(parse_push_tail(nullptr, cut.data(), partial));
  scan(R"({"type":"PUSH","data":{"items":[1,}})", &counts);
  EXPECT_EQ(counts.after, nullptr);
}

TEST(Recovery, JoinedMarker) {
  Joined j;
  ASSERT_TRUE(parse_joined(
      R"({"type":"JOINED","data":{"room":"r3","seq":1234,"epoch":"00ff00ff00ff00ff","recovered":true}})", j));
  EXPECT_EQ(j.room, "r3");
  EXPECT_EQ(j.seq, 1234u);
  EXPECT_EQ(j.epoch, "00ff00ff00ff00ff");
  EXPECT_TRUE(j.recovered);

  Joined k;
  ASSERT_TRUE(parse_joined(
      R"({ "type" : "JOINED" , "data" : { "recovered" : false , "seq" : 0, "room" : "lobby" } })", k));
  EXPECT_EQ(k.room, "lobby");
  EXPECT_EQ(k.seq, 0u);
  EXPECT_TRUE(k.epoch.empty());
  EXPECT_FALSE(k.recovered);

  Joined x;
  EXPECT_FALSE(parse_joined(R"({"type":"PUSH","data":{"room":"r","seq":1,"recovered":true}})", x));
  EXPECT_FALSE(parse_joined(R"({"type":"JOINED","data":{"room":"r","seq":1}})", x));           // no recovered
  EXPECT_FALSE(parse_joined(R"({"type":"JOINED","data":{"room":"r","recovered":true}})", x));  // no seq
  EXPECT_FALSE(parse_joined(R"({"type":"JOINED","data":{"room":"r","seq":-1,"recovered":true}})", x));
  EXPECT_FALSE(parse_joined(R"({"type":"JOINED","data":{"room":"r","seq":1,"recovered":yes}})", x));
  EXPECT_FALSE(parse_joined(R"({"type":"JOINED","data":{"room":"r","seq":1,"recovered":true})", x));  // cut
}

// --protocol sse: a chunked stream of SSE events, split at every point, gives the same chunks.
TEST(Sse, ChunksSplitAtEveryPoint) {
  const std::string stream =
      "d\r\nretry: 2000\n\n\r\n"
      "41\r\nid: 7\nevent: joined\ndata: {\"room\":\"r\",\"seq\":7,\"recovered\":true}\n\n\r\n"
      "3\r\n:\n\n\r\n"
      "44\r\nid: 9\nevent: push\ndata: {\"items\":[[0,1,5,\"x\"]],\"room\":\"r\",\"seq\":9}\n\n\r\n"
      "0\r\n\r\n";
  std::vector<std::string> whole;
  {
    Spill* spill = nullptr;
    std::string copy = stream;
    ASSERT_EQ(feed_chunks(spill, reinterpret_cast<uint8_t*>(copy.data()), copy.size(), 1 << 20,
                          [&](std::string_view body) {
                            whole.emplace_back(body);
                            return true;
                          }),
              FeedStatus::ok);
    EXPECT_EQ(spill, nullptr);
  }
  ASSERT_EQ(whole.size(), 5u);
  EXPECT_EQ(whole[4], "");  // the last chunk
  SseEvent e;
  EXPECT_FALSE(parse_sse_event(whole[0], e));  // retry only
  EXPECT_FALSE(parse_sse_event(whole[2], e));  // a heartbeat comment
  ASSERT_TRUE(parse_sse_event(whole[3], e));
  EXPECT_EQ(e.event, "push");
  EXPECT_EQ(e.id, "9");
  std::vector<Item> items = scan(e.data);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].seq, 1u);
  for (size_t a = 0; a <= stream.size(); ++a) {
    for (size_t b = a; b <= stream.size(); b += 7) {
      std::string copy = stream;
      Spill* spill = nullptr;
      std::vector<std::string> got;
      auto sink = [&](std::string_view body) {
        got.emplace_back(body);
        return true;
      };
      uint8_t* p = reinterpret_cast<uint8_t*>(copy.data());
      ASSERT_EQ(feed_chunks(spill, p, a, 1 << 20, sink), FeedStatus::ok);
      ASSERT_EQ(feed_chunks(spill, p + a, b - a, 1 << 20, sink), FeedStatus::ok);
      ASSERT_EQ(feed_chunks(spill, p + b, copy.size() - b, 1 << 20, sink), FeedStatus::ok);
      EXPECT_EQ(got, whole) << a << " " << b;
      EXPECT_EQ(spill, nullptr);
    }
  }
  std::string bad = "zz\r\nx\r\n";
  Spill* spill = nullptr;
  EXPECT_EQ(feed_chunks(spill, reinterpret_cast<uint8_t*>(bad.data()), bad.size(), 1 << 20,
                        [](std::string_view) { return true; }),
            FeedStatus::too_large);
  bool chunked = false;
  EXPECT_TRUE(sse_accepted(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n", chunked));
  EXPECT_TRUE(chunked);
  EXPECT_TRUE(
      sse_accepted("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\r\n", chunked));
  EXPECT_FALSE(chunked);
  EXPECT_FALSE(sse_accepted("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n", chunked));
}

// A plain event stream (nchan's: no chunks) split anywhere gives the same events.
TEST(Sse, EventsSplitAtEveryPoint) {
  const std::string stream = ": hi\n\nid: 1:0\ndata: [0,1,5,\"x\"]\n\nid: 1:1\ndata: [0,2,5,\"y\"]\n\n";
  std::vector<std::string> whole;
  std::string partial;
  ASSERT_TRUE(split_sse_events(stream, partial, [&](std::string_view e) {
    whole.emplace_back(e);
    return true;
  }));
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_TRUE(partial.empty());
  SseEvent e;
  ASSERT_TRUE(parse_sse_event(whole[2], e));
  EXPECT_EQ(e.event, "message");
  EXPECT_EQ(e.data, "[0,2,5,\"y\"]");
  for (size_t a = 0; a <= stream.size(); ++a) {
    std::vector<std::string> got;
    std::string part;
    auto sink = [&](std::string_view ev) {
      got.emplace_back(ev);
      return true;
    };
    ASSERT_TRUE(split_sse_events(std::string_view(stream).substr(0, a), part, sink));
    ASSERT_TRUE(split_sse_events(std::string_view(stream).substr(a), part, sink));
    EXPECT_EQ(got, whole) << a;
    EXPECT_TRUE(part.empty());
  }
}

TEST(Frame, Heads) {
  const uint8_t small[] = {0x81, 5};
  FrameHead h;
  ASSERT_TRUE(parse_frame_head(small, 2, h));
  EXPECT_EQ(h.opcode, 1);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.total_bytes(), 7u);
  const uint8_t medium[] = {0x81, 126, 0x01, 0x00};
  EXPECT_FALSE(parse_frame_head(medium, 3, h));
  ASSERT_TRUE(parse_frame_head(medium, 4, h));
  EXPECT_EQ(h.payload_bytes, 256u);
  const uint8_t large[] = {0x02, 127, 0, 0, 0, 0, 0, 1, 0, 0};
  ASSERT_TRUE(parse_frame_head(large, 10, h));
  EXPECT_EQ(h.payload_bytes, 65536u);
  EXPECT_FALSE(h.fin);
  const uint8_t masked[] = {0x81, 0x85, 1, 2, 3, 4};
  EXPECT_FALSE(parse_frame_head(masked, 5, h));
  ASSERT_TRUE(parse_frame_head(masked, 6, h));
  EXPECT_TRUE(h.masked);
  EXPECT_EQ(h.header_bytes, 6u);
}

// Server frames of every length form, as they would arrive back to back.
std::vector<uint8_t> server_frame(uint8_t opcode, size_t payload_bytes, uint8_t fill) {
  std::vector<uint8_t> f{static_cast<uint8_t>(0x80 | opcode)};
  if (payload_bytes < 126) {
    f.push_back(static_cast<uint8_t>(payload_bytes));
  } else if (payload_bytes <= 0xFFFF) {
    f.push_back(126);
    f.push_back(static_cast<uint8_t>(payload_bytes >> 8));
    f.push_back(static_cast<uint8_t>(payload_bytes));
  } else {
    f.push_back(127);
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<uint8_t>(payload_bytes >> (8 * i)));
  }
  f.insert(f.end(), payload_bytes, fill);
  return f;
}

struct Seen {
  uint8_t opcode;
  size_t len;
  uint8_t first;
  uint8_t last;
  bool operator==(const Seen&) const = default;
};

// Feeds `stream` in pieces cut at `cuts` (ascending offsets) and returns the frames seen.
std::vector<Seen> feed_in_pieces(std::vector<uint8_t> stream, const std::vector<size_t>& cuts) {
  std::vector<Seen> seen;
  Spill* spill = nullptr;
  size_t at = 0;
  auto sink = [&](const FrameHead& head, uint8_t* payload) {
    const size_t n = static_cast<size_t>(head.payload_bytes);
    seen.push_back({head.opcode, n, n ? payload[0] : uint8_t{0}, n ? payload[n - 1] : uint8_t{0}});
    return true;
  };
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t to = i < cuts.size() ? cuts[i] : stream.size();
    EXPECT_EQ(feed_frames(spill, stream.data() + at, to - at, 1 << 20, sink), FeedStatus::ok);
    at = to;
  }
  EXPECT_EQ(spill, nullptr);
  free_spill(spill);
  return seen;
}

TEST(Frame, FeedSplitAtEveryPoint) {
  std::vector<uint8_t> stream;
  for (auto f : {server_frame(1, 5, 'a'), server_frame(1, 0, 0), server_frame(2, 300, 'b'),
                 server_frame(9, 3, 'c'), server_frame(1, 1, 'd')})
    stream.insert(stream.end(), f.begin(), f.end());
  const std::vector<Seen> whole = feed_in_pieces(stream, {});
  ASSERT_EQ(whole.size(), 5u);
  EXPECT_EQ(whole[2], (Seen{2, 300, 'b', 'b'}));
  for (size_t cut = 1; cut < stream.size(); ++cut) EXPECT_EQ(feed_in_pieces(stream, {cut}), whole) << cut;
  for (size_t a = 1; a < 40; ++a)
    for (size_t b = a + 1; b < stream.size(); b += 7)
      EXPECT_EQ(feed_in_pieces(stream, {a, b}), whole) << a << " " << b;
}

TEST(Frame, FeedLargeFrameAndLimits) {
  std::vector<uint8_t> stream = server_frame(1, 70000, 'z');
  const auto tail = server_frame(1, 2, 'y');
  stream.insert(stream.end(), tail.begin(), tail.end());
  const std::vector<Seen> whole = feed_in_pieces(stream, {});
  ASSERT_EQ(whole.size(), 2u);
  EXPECT_EQ(whole[0], (Seen{1, 70000, 'z', 'z'}));
  for (size_t cut : {1ul, 2ul, 5ul, 9ul, 10ul, 11ul, 8192ul, 70009ul, 70010ul, 70011ul})
    EXPECT_EQ(feed_in_pieces(stream, {cut}), whole) << cut;
  EXPECT_EQ(feed_in_pieces(stream, {3, 8192, 16384, 70011}), whole);

  Spill* spill = nullptr;
  auto never = [](const FrameHead&, uint8_t*) { return true; };
  EXPECT_EQ(feed_frames(spill, stream.data(), 4, 1000, never), FeedStatus::ok);  // header not complete yet
  EXPECT_EQ(feed_frames(spill, stream.data() + 4, 10, 1000, never), FeedStatus::too_large);
  free_spill(spill);
  int calls = 0;
  auto stop = [&](const FrameHead&, uint8_t*) { return ++calls < 1; };
  EXPECT_EQ(feed_frames(spill, stream.data() + 70010, 4, 1000, stop), FeedStatus::stopped);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(spill, nullptr);
}

TEST(Http, ContentLengthPipelined) {
  const std::string two =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"
      "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}";
  HttpResponse r;
  ASSERT_EQ(parse_http_response(two, r), HttpParse::complete);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"ok\":true}");
  ASSERT_EQ(parse_http_response(std::string_view(two).substr(r.consumed), r), HttpParse::complete);
  EXPECT_EQ(r.status, 503);
  for (size_t cut = 0; cut < two.size() / 2; ++cut) {
    HttpResponse partial;
    const HttpParse p = parse_http_response(std::string_view(two).substr(0, cut), partial);
    EXPECT_EQ(p, HttpParse::incomplete) << cut;
  }
}

TEST(Http, Chunked) {
  const std::string r1 =
      "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nX";
  HttpResponse r;
  ASSERT_EQ(parse_http_response(r1, r), HttpParse::complete);
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.consumed, r1.size() - 1);
  EXPECT_EQ(parse_http_response(r1.substr(0, r1.size() - 4), r), HttpParse::incomplete);
}

TEST(Http, UpgradeAnswer) {
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  EXPECT_EQ(http_head_end(head), head.size());
  EXPECT_EQ(http_head_end(head.substr(0, head.size() - 1)), 0u);
  EXPECT_TRUE(upgrade_accepted(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  EXPECT_FALSE(upgrade_accepted(head, "other"));
  EXPECT_FALSE(upgrade_accepted("HTTP/1.1 400 Bad Request\r\n\r\n", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

TEST(Items, WriterPadsToPayloadAndScansBack) {
  for (uint32_t payload : {0u, 10u, 64u, 1000u}) {
    std::string item;
    append_item(item, 17, 123456, 987654321012ull, payload);
    if (payload >= 40) {
      EXPECT_EQ(item.size(), payload);
    }
    Item parsed;
    ASSERT_NE(parse_item(item.data(), item.data() + item.size(), parsed), nullptr) << item;
    EXPECT_EQ(parsed.room_index, 17u);
    EXPECT_EQ(parsed.seq, 123456u);
    EXPECT_EQ(parsed.t_ns, 987654321012ull);
  }
}

TEST(Items, DanmakuIsSizedDeterministicAndScansBack) {
  size_t shortest = 1000, longest = 0, short_ones = 0;
  constexpr uint32_t kCount = 2000;
  for (uint32_t seq = 1; seq <= kCount; ++seq) {
    std::string item;
    append_danmaku_item(item, 3, seq, 987654321012ull);
    std::string again;
    append_danmaku_item(again, 3, seq, 987654321012ull);
    EXPECT_EQ(item, again);
    Item parsed;
    const char* end = item.data() + item.size();
    ASSERT_EQ(parse_item(item.data(), end, parsed), end) << item;
    EXPECT_EQ(parsed.seq, seq);
    // The chat object is the fourth element: from its '{' to the item's closing ']'.
    const size_t open = item.find('{');
    ASSERT_NE(open, std::string::npos);
    EXPECT_EQ(skip_json_value(item.data() + open, end), end - 1) << item;
    const size_t object_bytes = item.size() - 1 - open;
    shortest = std::min(shortest, object_bytes);
    longest = std::max(longest, object_bytes);
    if (object_bytes <= 100) ++short_ones;
    EXPECT_EQ(item.find_first_of("&+%=\\"), std::string::npos) << item;
  }
  EXPECT_GE(shortest, 50u);
  EXPECT_LE(longest, 300u);
  EXPECT_GT(longest, 250u);
  EXPECT_GT(short_ones, kCount / 2);
  std::string other_room;
  append_danmaku_item(other_room, 4, 1, 987654321012ull);
  std::string first;
  append_danmaku_item(first, 3, 1, 987654321012ull);
  EXPECT_NE(other_room.substr(other_room.find('{')), first.substr(first.find('{')));
}

TEST(Histogram, BucketsCoverValuesWithinOnePercent) {
  for (uint64_t v : {0ull, 1ull, 255ull, 256ull, 257ull, 1000ull, 123456ull, 999999999ull, 100000000000ull}) {
    const uint32_t b = histogram::bucket_of(v);
    ASSERT_LT(b, histogram::kBuckets);
    EXPECT_LE(histogram::bucket_low(b), v);
    EXPECT_LT(v, histogram::bucket_low(b) + histogram::bucket_width(b));
    EXPECT_LE(static_cast<double>(histogram::bucket_width(b)), 0.01 * static_cast<double>(v) + 1);
  }
  for (uint32_t b = 1; b < histogram::kBuckets; ++b)
    EXPECT_EQ(histogram::bucket_low(b), histogram::bucket_low(b - 1) + histogram::bucket_width(b - 1)) << b;
}

TEST(Histogram, Quantiles) {
  std::vector<uint64_t> counts(histogram::kBuckets, 0);
  for (uint64_t v = 1; v <= 1000; ++v) counts[histogram::bucket_of(v * 1000)]++;
  auto at = [&](uint32_t i) { return counts[i]; };
  const double p50 = static_cast<double>(histogram::quantile(at, 0.5));
  const double p99 = static_cast<double>(histogram::quantile(at, 0.99));
  EXPECT_NEAR(p50, 500000, 500000 * 0.01);
  EXPECT_NEAR(p99, 990000, 990000 * 0.01);
  std::vector<uint64_t> empty(histogram::kBuckets, 0);
  EXPECT_EQ(histogram::quantile([&](uint32_t i) { return empty[i]; }, 0.5), 0u);
}

}  // namespace
}  // namespace ringcast::load
