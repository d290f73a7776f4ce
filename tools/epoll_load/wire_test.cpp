// Unit tests of ringcast-epoll-load's pure half (wire.h): how items are counted in merged go-push PUSH
// messages (the figure every benchmark table is built on), the item format round trip, frame heads
// and client frames, and the latency histogram.
#include "tools/epoll_load/wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace epoll_load {
namespace {

std::string item_text(uint64_t seq, uint64_t t, uint64_t room, size_t bytes) {
  std::string s(std::max<size_t>(bytes, 64), '\0');
  s.resize(format_item(Item{seq, t, room}, bytes, s.data()));
  return s;
}

std::vector<Item> scan(const std::string& message, ScanResult& r) {
  std::vector<Item> got;
  r = scan_push(message, [&](const Item& i) { got.push_back(i); });
  return got;
}

TEST(Item, FormatIsExactlyThePayloadSizeAndParsesBack) {
  for (size_t bytes : {1, 40, 64, 512, 4096}) {
    const std::string s = item_text(123, 4567890123456, 3, bytes);
    if (bytes >= 40) {
      EXPECT_EQ(s.size(), bytes);
    }
    Item item;
    ASSERT_TRUE(parse_item(s.data(), s.data() + s.size(), item)) << s;
    EXPECT_EQ(item.seq, 123u);
    EXPECT_EQ(item.t_ns, 4567890123456u);
    EXPECT_EQ(item.room_index, 3u);
  }
}

TEST(ScanPush, CountsEveryItemOfAMergedFrame) {
  std::string items;
  for (int i = 1; i <= 7; ++i) {
    if (i > 1) items += ',';
    items += item_text(i, 1000 + i, 0, 64);
  }
  const std::string msg = "{\"type\":\"PUSH\",\"data\":{\"items\":[" + items + "],\"room\":\"r\",\"seq\":7}}";
  ScanResult r;
  const std::vector<Item> got = scan(msg, r);
  EXPECT_TRUE(r.has_items);
  EXPECT_FALSE(r.malformed);
  EXPECT_EQ(r.items, 7u);
  EXPECT_EQ(r.foreign, 0u);
  ASSERT_EQ(got.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(got[i].seq, static_cast<uint64_t>(i + 1));
}

TEST(ScanPush, ItemsWithCommasBracketsAndEscapedQuotesCountOnce) {
  const std::string msg =
      "{\"type\":\"PUSH\",\"data\":{\"room\":\"r\",\"items\":[ {\"a\":[1,2,{\"b\":\"],[\\\"x\\\\\"}]} , "
      "\"s,]\\\"\" ,42,null,[1,2,3,\"pad\"] ,[[],{}]],\"seq\":9}}";
  ScanResult r;
  const std::vector<Item> got = scan(msg, r);
  EXPECT_TRUE(r.has_items);
  EXPECT_FALSE(r.malformed);
  EXPECT_EQ(r.items, 6u);
  EXPECT_EQ(r.foreign, 5u);  // only [1,2,3,"pad"] is in our format
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 1u);
  EXPECT_EQ(got[0].room_index, 3u);
}

TEST(ScanPush, MessagesWithoutItemsAndEmptyArrays) {
  ScanResult r;
  scan("{\"type\":\"JOINED\",\"data\":{\"room\":\"r\",\"seq\":0}}", r);
  EXPECT_FALSE(r.has_items);
  scan("{\"type\":\"PONG\",\"data\":{}}", r);
  EXPECT_FALSE(r.has_items);
  scan("{\"type\":\"PUSH\",\"data\":{\"items\":[ ],\"room\":\"r\"}}", r);
  EXPECT_TRUE(r.has_items);
  EXPECT_EQ(r.items, 0u);
  EXPECT_FALSE(r.malformed);
  // A room name that mentions "items" is escaped inside its string, so it cannot be taken for the key.
  scan("{\"type\":\"X\",\"data\":{\"room\":\"\\\"items\\\":[1]\"}}", r);
  EXPECT_FALSE(r.has_items);
}

TEST(ScanPush, CutShortIsMalformedAndCountsWhatWasWhole) {
  const std::string whole = "{\"type\":\"PUSH\",\"data\":{\"items\":[" + item_text(1, 5, 0, 64) + "," +
                            item_text(2, 6, 0, 64) + "],\"room\":\"r\",\"seq\":2}}";
  const size_t second = whole.find(",[2,");
  ScanResult r;
  scan(whole.substr(0, second + 10), r);
  EXPECT_TRUE(r.malformed);
  EXPECT_EQ(r.items, 1u);
}

TEST(Frame, HeadsOfEveryLengthForm) {
  const uint8_t small[] = {0x81, 5};
  FrameHead h;
  ASSERT_TRUE(parse_frame_head(small, sizeof(small), h));
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.opcode, 1);
  EXPECT_EQ(h.header_bytes, 2u);
  EXPECT_EQ(h.payload_bytes, 5u);
  const uint8_t mid[] = {0x01, 126, 0x01, 0x00};
  ASSERT_TRUE(parse_frame_head(mid, sizeof(mid), h));
  EXPECT_FALSE(h.fin);
  EXPECT_EQ(h.header_bytes, 4u);
  EXPECT_EQ(h.payload_bytes, 256u);
  EXPECT_FALSE(parse_frame_head(mid, 3, h));
  const uint8_t big[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
  ASSERT_TRUE(parse_frame_head(big, sizeof(big), h));
  EXPECT_EQ(h.header_bytes, 10u);
  EXPECT_EQ(h.payload_bytes, 65536u);
  EXPECT_FALSE(parse_frame_head(big, 9, h));
}

TEST(Frame, HeadLengthIsKnownFromTheSecondByte) {
  const uint8_t first_only[] = {0x81};
  EXPECT_EQ(frame_head_bytes(first_only, 0), 2u);
  EXPECT_EQ(frame_head_bytes(first_only, 1), 2u);
  const uint8_t small[] = {0x81, 5}, mid[] = {0x81, 126}, big[] = {0x81, 127};
  const uint8_t masked_small[] = {0x81, 0x80 | 5}, masked_big[] = {0x81, 0x80 | 127};
  EXPECT_EQ(frame_head_bytes(small, 2), 2u);
  EXPECT_EQ(frame_head_bytes(mid, 2), 4u);
  EXPECT_EQ(frame_head_bytes(big, 2), 10u);
  EXPECT_EQ(frame_head_bytes(masked_small, 2), 6u);
  EXPECT_EQ(frame_head_bytes(masked_big, 2), 14u);
}

TEST(Frame, ClientFramesAreMaskedAndParseBack) {
  for (size_t n : {0, 5, 125, 126, 300, 70000}) {
    const std::string payload(n, 'p');
    std::vector<uint8_t> out(n + 14);
    const size_t len = client_frame(0x1, payload, out.data());
    FrameHead h;
    ASSERT_TRUE(parse_frame_head(out.data(), len, h));
    EXPECT_TRUE(h.masked);
    EXPECT_EQ(h.payload_bytes, n);
    EXPECT_EQ(h.header_bytes + n, len);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(out.data()) + h.header_bytes, n), payload);
  }
}

// A server frame (unmasked) of opcode and payload.
std::string server_frame(uint8_t opcode, const std::string& payload) {
  std::string f(1, static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    f += static_cast<char>(payload.size());
  } else if (payload.size() <= 0xFFFF) {
    f += static_cast<char>(126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xFF);
  } else {
    f += static_cast<char>(127);
    for (int i = 7; i >= 0; --i)
      f += static_cast<char>((static_cast<uint64_t>(payload.size()) >> (8 * i)) & 0xFF);
  }
  return f + payload;
}

// Feeds `stream` in pieces cut at `cuts` and returns the payloads handed over.
std::vector<std::string> feed_in_pieces(const std::string& stream, const std::vector<size_t>& cuts,
                                        std::string& pending, size_t& largest_pending) {
  std::vector<std::string> got;
  size_t from = 0;
  largest_pending = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t to = i < cuts.size() ? cuts[i] : stream.size();
    FrameHead bad;
    const FeedResult r = feed_frames(pending, stream.data() + from, to - from, 1 << 20, bad,
                                     [&](const FrameHead& h, const char* p) {
                                       got.emplace_back(p, h.payload_bytes);
                                       return true;
                                     });
    EXPECT_EQ(r, FeedResult::more);
    largest_pending = std::max(largest_pending, pending.size());
    from = to;
  }
  return got;
}

TEST(FeedFrames, EveryCutOfTheStreamGivesTheSameFrames) {
  // Heads of every length form, an empty frame, and frames shorter than the longest head.
  const std::vector<std::string> payloads = {"",
                                             "a",
                                             "hello",
                                             std::string(125, 'x'),
                                             std::string(126, 'y'),
                                             std::string(300, 'z'),
                                             std::string(70000, 'w'),
                                             "b"};
  std::string stream;
  for (const std::string& p : payloads) stream += server_frame(0x1, p);
  for (size_t cut = 0; cut <= stream.size(); cut += (cut < 400 || cut > stream.size() - 400) ? 1 : 97) {
    std::string pending;
    size_t largest = 0;
    EXPECT_EQ(feed_in_pieces(stream, {cut}, pending, largest), payloads) << "cut at " << cut;
    EXPECT_TRUE(pending.empty());
  }
  // Every byte its own read.
  std::vector<size_t> cuts;
  for (size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  std::string pending;
  size_t largest = 0;
  EXPECT_EQ(feed_in_pieces(stream, cuts, pending, largest), payloads);
}

TEST(FeedFrames, APendingFrameTakesOnlyItsOwnBytes) {
  // 200 frames of 567 bytes read in pieces of 4,000: every piece ends inside a frame, and what is
  // kept between reads is never more than one frame, whatever the size of the read.
  const std::string payload(565, 'p');
  std::string stream;
  for (int i = 0; i < 200; ++i) stream += server_frame(0x1, payload);
  std::vector<size_t> cuts;
  for (size_t at = 4000; at < stream.size(); at += 4000) cuts.push_back(at);
  std::string pending;
  size_t largest = 0;
  const std::vector<std::string> got = feed_in_pieces(stream, cuts, pending, largest);
  EXPECT_EQ(got.size(), 200u);
  for (const std::string& p : got) EXPECT_EQ(p, payload);
  EXPECT_LT(largest, payload.size() + 4);
  EXPECT_GT(largest, 0u);
}

TEST(FeedFrames, RefusedHeadsAndAStopLeaveTheRestUnread) {
  std::string pending;
  FrameHead bad;
  int frames = 0;
  auto count = [&](const FrameHead&, const char*) { return ++frames < 2; };
  // A masked frame, whole or with its head cut over two reads.
  const std::string masked = std::string("\x81\x85") + "kkkk" + "hello";
  EXPECT_EQ(feed_frames(pending, masked.data(), masked.size(), 100, bad, count), FeedResult::bad_head);
  EXPECT_TRUE(bad.masked);
  pending.clear();
  EXPECT_EQ(feed_frames(pending, masked.data(), 1, 100, bad, count), FeedResult::more);
  EXPECT_EQ(feed_frames(pending, masked.data() + 1, masked.size() - 1, 100, bad, count),
            FeedResult::bad_head);
  // Over payload_max: refused at its head, before its payload has come.
  pending.clear();
  const std::string big = server_frame(0x2, std::string(500, 'b'));
  EXPECT_EQ(feed_frames(pending, big.data(), 4, 100, bad, count), FeedResult::bad_head);
  EXPECT_FALSE(bad.masked);
  EXPECT_EQ(bad.payload_bytes, 500u);
  // on_frame returning false stops at that frame.
  pending.clear();
  const std::string three = server_frame(0x1, "1") + server_frame(0x1, "2") + server_frame(0x1, "3");
  EXPECT_EQ(feed_frames(pending, three.data(), three.size(), 100, bad, count), FeedResult::stopped);
  EXPECT_EQ(frames, 2);
}

TEST(Histogram, BucketsCoverTheirValuesAndQuantilesLandInThem) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 1000ull, 140000ull, 123456789ull}) {
    const double mid = histogram::bucket_value(histogram::bucket_of(v));
    EXPECT_NEAR(mid, static_cast<double>(v), static_cast<double>(v) / 64 + 1) << v;
  }
  std::vector<uint64_t> counts(histogram::kBuckets, 0);
  for (uint64_t v = 1; v <= 1000; ++v) ++counts[histogram::bucket_of(v * 1000)];
  EXPECT_NEAR(histogram::quantile(counts.data(), 0.5), 500000, 500000 / 64.0);
  EXPECT_NEAR(histogram::quantile(counts.data(), 0.99), 990000, 990000 / 64.0);
}

}  // namespace
}  // namespace epoll_load
