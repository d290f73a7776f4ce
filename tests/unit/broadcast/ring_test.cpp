// Unit tests for engine/ring and engine/shm: the multi-producer broadcast ring in its memfd region.
// Entry layout and frames, dense sequence numbers, wrap-around through the double mapping, the
// held-position protocol (full ring, slowest consumer), the wake protocol, and a multi-threaded run
// that checks every consumer sees every entry once, in order, intact.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/broadcast/publish.h"
#include "engine/broadcast/ring.h"
#include "engine/node/shm.h"

namespace ringcast {
namespace {

constexpr size_t kSmallRing = 64 * 1024;

// Concatenation without `"literal" + std::string&&`, which trips g++ 12's -Wrestrict false positive.
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

std::unique_ptr<SharedRegion> make_region(size_t ring_bytes) {
  auto region = std::make_unique<SharedRegion>();
  std::string error;
  EXPECT_TRUE(region->create(ring_bytes, error)) << error;
  return region;
}

// A consumer as a shard runs it, minus the fan-out: a cursor and a held position it publishes.
struct Consumer {
  Ring ring;
  uint32_t index;
  uint64_t pos = 0;
  uint64_t seq = 0;

  Consumer(Ring r, uint32_t i, int wake_fd = -1) : ring(r), index(i) { ring.attach(index, wake_fd, pos, seq); }
  const RingEntry* peek() const { return ring.peek(pos, seq); }
  void advance(const RingEntry* e) {
    pos += e->size;
    ++seq;
  }
  void release() { ring.slot(index).held_pos.store(pos, std::memory_order_release); }
};

// Decodes an unmasked server text frame; returns the payload or fails the test.
std::string_view frame_payload(const uint8_t* frame, size_t frame_len) {
  EXPECT_GE(frame_len, 2u);
  EXPECT_EQ(frame[0], 0x81) << "FIN + text";
  EXPECT_EQ(frame[1] & 0x80, 0) << "server frames are not masked";
  uint64_t len = frame[1] & 0x7F;
  size_t header = 2;
  if (len == 126) {
    len = (uint64_t{frame[2]} << 8) | frame[3];
    header = 4;
    EXPECT_GE(len, 126u) << "minimal length encoding";
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | frame[2 + i];
    header = 10;
    EXPECT_GT(len, 0xFFFFu) << "minimal length encoding";
  }
  EXPECT_EQ(header + len, frame_len);
  return {reinterpret_cast<const char*>(frame + header), static_cast<size_t>(len)};
}

std::string push_payload(std::string_view items_inner, std::string_view room, uint64_t seq,
                         Target target = Target::room) {
  std::string suffix;
  append_push_suffix(suffix, target, room, seq);
  return std::string(kPushPrefix) + std::string(items_inner) + suffix;
}

// Claims and commits a raw entry whose frame bytes are `payload` (not a WebSocket frame: the raw
// tests only need bytes they can check).
bool publish_raw(Ring& ring, std::string_view room, std::string_view payload, uint64_t* seq_out = nullptr) {
  RingClaim claim;
  if (!ring.try_claim(Ring::entry_bytes(room.size(), payload.size()), claim)) return false;
  RingEntry* e = claim.entry;
  e->frame_offset = Ring::frame_offset_for(room.size());
  e->frame_len = static_cast<uint32_t>(payload.size());
  e->items_offset = 0;
  e->items_len = static_cast<uint32_t>(payload.size());
  e->item_count = 1;
  e->publish_ns = 0;
  e->room_len = static_cast<uint16_t>(room.size());
  e->target = Target::room;
  e->flags = 0;
  e->origin = 0;
  std::memcpy(e + 1, room.data(), room.size());
  std::memcpy(reinterpret_cast<uint8_t*>(e) + e->frame_offset, payload.data(), payload.size());
  ring.commit(claim);
  if (seq_out) *seq_out = claim.seq;
  return true;
}

TEST(RingLayout, EntrySizes) {
  EXPECT_EQ(Ring::frame_offset_for(0), 48u);
  EXPECT_EQ(Ring::frame_offset_for(1), 56u);
  EXPECT_EQ(Ring::frame_offset_for(8), 56u);
  EXPECT_EQ(Ring::frame_offset_for(9), 64u);
  EXPECT_EQ(Ring::entry_bytes(0, 0), kMinEntryBytes);
  EXPECT_EQ(Ring::entry_bytes(1, 8), 64u);
  EXPECT_EQ(Ring::entry_bytes(1, 9), 72u);
  EXPECT_EQ(Ring::entry_bytes(5, 1000), 1056u);
  EXPECT_EQ(Ring::commit_array_bytes(kSmallRing), kSmallRing / kMinEntryBytes * 16);
}

TEST(SharedRegion, DoubleMappingAliasesTheDataArea) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  EXPECT_EQ(ring.capacity(), kSmallRing);
  EXPECT_GE(region->mapped_bytes(), kSmallRing + sizeof(SharedHeader));
  // Claim the whole first half, so the next claim starts at the physical middle and then at the end.
  RingClaim claim;
  ASSERT_TRUE(ring.try_claim(kSmallRing / 2, claim));
  EXPECT_EQ(claim.pos, 0u);
  auto* data = reinterpret_cast<uint8_t*>(claim.entry);
  data[0] = 0x5A;
  EXPECT_EQ(data[kSmallRing], 0x5A) << "second view of the same bytes";
  data[kSmallRing + 17] = 0xA5;
  EXPECT_EQ(data[17], 0xA5);
}

TEST(Ring, PublishAndConsumeOneEntry) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  Consumer consumer(ring, 0);
  EXPECT_EQ(consumer.pos, 0u);
  EXPECT_EQ(consumer.seq, 1u);
  EXPECT_EQ(consumer.peek(), nullptr);

  Publisher publisher({128});
  PublishOutcome out = publisher.publish(ring, Target::room, "lobby", R"([{"a": 1}, "x y", 3])", 7);
  ASSERT_EQ(out.error, PublishError::none);
  EXPECT_EQ(out.seq, 1u);
  EXPECT_EQ(out.item_count, 3u);

  const RingEntry* e = consumer.peek();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->seq, 1u);
  EXPECT_EQ(e->target, Target::room);
  EXPECT_EQ(e->room(), "lobby");
  EXPECT_EQ(e->room_len, 5u);
  EXPECT_EQ(e->origin, 7u);
  EXPECT_EQ(e->item_count, 3u);
  EXPECT_EQ(e->items(), R"({"a":1},"x y",3)");
  EXPECT_EQ(e->frame_offset, Ring::frame_offset_for(5));
  const std::string payload = push_payload(R"({"a":1},"x y",3)", "lobby", 1);
  EXPECT_EQ(payload, R"({"type":"PUSH","data":{"items":[{"a":1},"x y",3],"room":"lobby","seq":1}})");
  EXPECT_EQ(e->suffix(), R"(],"room":"lobby","seq":1}})");
  EXPECT_EQ(e->frame_len, 2 + payload.size());
  EXPECT_EQ(frame_payload(e->frame(), e->frame_len), payload);
  EXPECT_EQ(e->items_offset, 2 + kPushPrefix.size());
  // Sized for the longest seq (20 digits): seq 1 leaves 19 bytes unused.
  EXPECT_EQ(e->size, Ring::entry_bytes(5, e->frame_len + 19));
  EXPECT_EQ(e->size % 8, 0u);
  EXPECT_GT(e->publish_ns, 0);

  consumer.advance(e);
  EXPECT_EQ(consumer.pos, e->size);
  EXPECT_EQ(consumer.peek(), nullptr);
  uint64_t head_pos = 0, next_seq = 0;
  ring.read_head(head_pos, next_seq);
  EXPECT_EQ(head_pos, consumer.pos);
  EXPECT_EQ(next_seq, 2u);
}

TEST(Ring, TargetAllHasNoRoomAndLongFramesUseTheLongHeader) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  Consumer consumer(ring, 0);
  Publisher publisher({128});
  const std::string long_item = cat("[\"", std::string(300, 'q'), "\"]");
  ASSERT_EQ(publisher.publish(ring, Target::all, "ignored", long_item).error, PublishError::none);
  const RingEntry* e = consumer.peek();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->target, Target::all);
  EXPECT_EQ(e->room(), "");
  EXPECT_EQ(e->frame()[1], 126);
  EXPECT_EQ(frame_payload(e->frame(), e->frame_len), push_payload(long_item.substr(1, long_item.size() - 2), "", 1, Target::all));
  EXPECT_EQ(e->items_offset, 4 + kPushPrefix.size());
}

TEST(Ring, SequenceNumbersAreDenseFromOne) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  Consumer consumer(ring, 0);
  Publisher publisher({128});
  for (uint64_t i = 1; i <= 200; ++i) {
    PublishOutcome out = publisher.publish(ring, Target::room, "r", cat("[", std::to_string(i), "]"));
    ASSERT_EQ(out.error, PublishError::none);
    EXPECT_EQ(out.seq, i);
    const RingEntry* e = consumer.peek();
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->seq, i);
    EXPECT_EQ(e->items(), std::to_string(i));
    consumer.advance(e);
    consumer.release();
  }
}

// Thousands of entries of varied sizes through a 64 KiB ring while a consumer reads in uneven steps:
// every entry intact and in order, including entries that cross the physical end of the data area.
TEST(Ring, WrapAroundKeepsEveryEntryIntact) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  Consumer consumer(ring, 0);
  Publisher publisher({128});
  std::mt19937 rng(1234);
  std::vector<std::string> expected_items;  // by seq - 1
  std::vector<std::string> expected_rooms;
  uint64_t consumed = 0;
  size_t crossed_end = 0;
  size_t full_answers = 0;

  auto consume_some = [&](size_t max) {
    for (size_t n = 0; n < max; ++n) {
      const RingEntry* e = consumer.peek();
      if (!e) break;
      ++consumed;
      ASSERT_EQ(e->seq, consumed);
      ASSERT_EQ(e->room(), expected_rooms[consumed - 1]);
      ASSERT_EQ(e->items(), expected_items[consumed - 1]);
      ASSERT_EQ(frame_payload(e->frame(), e->frame_len), push_payload(expected_items[consumed - 1], expected_rooms[consumed - 1], consumed));
      const uint64_t start = consumer.pos & (kSmallRing - 1);
      if (start + e->size > kSmallRing) ++crossed_end;
      consumer.advance(e);
    }
    consumer.release();
  };

  constexpr int kEntries = 5000;
  for (int i = 0; i < kEntries; ++i) {
    const size_t len = std::uniform_int_distribution<size_t>(1, 3000)(rng);
    std::string item(len, static_cast<char>('a' + i % 26));
    item[0] = static_cast<char>('A' + i % 26);
    const std::string inner = cat("\"", item, "\",", std::to_string(i));
    const std::string room = cat("room-", std::to_string(i % 7));
    for (;;) {
      PublishOutcome out = publisher.publish(ring, Target::room, room, cat("[", inner, "]"));
      if (out.error == PublishError::ring_full) {
        ++full_answers;
        consume_some(std::uniform_int_distribution<size_t>(1, 8)(rng));
        continue;
      }
      ASSERT_EQ(out.error, PublishError::none);
      ASSERT_EQ(out.seq, static_cast<uint64_t>(i) + 1);
      break;
    }
    expected_items.push_back(inner);
    expected_rooms.push_back(room);
    if (rng() % 3 == 0) consume_some(std::uniform_int_distribution<size_t>(0, 4)(rng));
  }
  consume_some(SIZE_MAX);
  EXPECT_EQ(consumed, static_cast<uint64_t>(kEntries));
  EXPECT_GT(crossed_end, 10u) << "the test must exercise entries across the physical end";
  EXPECT_GT(full_answers, 0u);
  EXPECT_EQ(ring.control()->publish_refused.load(), full_answers);
  EXPECT_GT(consumer.pos, 20 * kSmallRing);
  EXPECT_EQ(ring.used_bytes(), 0u);
}

TEST(Ring, FullWhileAConsumerHoldsThenRoomAgainAfterItAdvances) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  Consumer consumer(ring, 0);
  const std::string payload(1024 - 48 - 8, 'p');  // 1 KiB entries with a 1-byte room
  ASSERT_EQ(Ring::entry_bytes(1, payload.size()), 1024u);

  for (size_t i = 0; i < kSmallRing / 1024; ++i) ASSERT_TRUE(publish_raw(ring, "r", payload)) << i;
  EXPECT_EQ(ring.used_bytes(), kSmallRing);
  EXPECT_EQ(ring.control()->publish_refused.load(), 0u);
  EXPECT_FALSE(publish_raw(ring, "r", payload));
  EXPECT_FALSE(publish_raw(ring, "r", ""));  // not even the smallest entry fits
  EXPECT_EQ(ring.control()->publish_refused.load(), 2u);

  // Reading does not free anything; publishing the held position does.
  const RingEntry* e = consumer.peek();
  ASSERT_NE(e, nullptr);
  consumer.advance(e);
  EXPECT_FALSE(publish_raw(ring, "r", payload));
  EXPECT_EQ(ring.control()->publish_refused.load(), 3u);
  consumer.release();
  uint64_t seq = 0;
  ASSERT_TRUE(publish_raw(ring, "r", payload, &seq));
  EXPECT_EQ(seq, kSmallRing / 1024 + 1);
  EXPECT_FALSE(publish_raw(ring, "r", payload));

  // The Publisher answers ring_full and counts it the same way.
  Publisher publisher({128});
  EXPECT_EQ(publisher.publish(ring, Target::room, "r", "[1]").error, PublishError::ring_full);
  EXPECT_EQ(ring.control()->publish_refused.load(), 5u);

  // Every entry is still intact: nothing was overwritten while held.
  for (uint64_t s = 2; s <= kSmallRing / 1024 + 1; ++s) {
    const RingEntry* entry = consumer.peek();
    ASSERT_NE(entry, nullptr) << s;
    EXPECT_EQ(entry->seq, s);
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(entry->frame()), entry->frame_len), payload);
    consumer.advance(entry);
  }
  EXPECT_EQ(consumer.peek(), nullptr);
}

TEST(Ring, ClaimsLargerThanHalfTheRingAreRefused) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  RingClaim claim;
  EXPECT_FALSE(ring.try_claim(kSmallRing / 2 + 8, claim));
  EXPECT_TRUE(ring.try_claim(kSmallRing / 2, claim));
}

TEST(Ring, ProducersAreBoundedByTheSlowestConsumer) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  Consumer fast(ring, 0);
  Consumer slow(ring, 5);
  const std::string payload(1024 - 56, 'x');
  ASSERT_EQ(Ring::entry_bytes(1, payload.size()), 1024u);
  size_t published = 0;
  // The fast consumer keeps up; the slow one reads 4 entries and stops.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(publish_raw(ring, "r", payload));
    ++published;
    slow.advance(slow.peek());
  }
  slow.release();
  for (;;) {
    while (const RingEntry* e = fast.peek()) fast.advance(e);
    fast.release();
    if (!publish_raw(ring, "r", payload)) break;
    ++published;
  }
  EXPECT_EQ(published, kSmallRing / 1024 + 4) << "the slow consumer freed exactly 4 entries";
  EXPECT_EQ(ring.used_bytes(), kSmallRing);
  // The slow consumer catches up by two entries: exactly two more fit.
  slow.advance(slow.peek());
  slow.advance(slow.peek());
  slow.release();
  EXPECT_TRUE(publish_raw(ring, "r", payload));
  EXPECT_TRUE(publish_raw(ring, "r", payload));
  EXPECT_FALSE(publish_raw(ring, "r", payload));
  // A detached consumer holds nothing.
  ring.detach(5);
  EXPECT_TRUE(publish_raw(ring, "r", payload));
}

TEST(Ring, AttachMidStreamStartsAtTheHead) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  Consumer first(ring, 0);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(publish_raw(ring, "r", cat("early-", std::to_string(i))));
  uint64_t head_pos = 0, next_seq = 0;
  ring.read_head(head_pos, next_seq);
  Consumer late(ring, 1);
  EXPECT_EQ(late.pos, head_pos);
  EXPECT_EQ(late.seq, 11u);
  EXPECT_EQ(ring.slot(1).held_pos.load(), head_pos);
  EXPECT_EQ(ring.slot(1).active.load(), 1u);
  EXPECT_EQ(late.peek(), nullptr);
  ASSERT_TRUE(publish_raw(ring, "r", "late-0"));
  const RingEntry* e = late.peek();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->seq, 11u);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(e->frame()), e->frame_len), "late-0");
  // The first consumer still sees everything from the start.
  e = first.peek();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->seq, 1u);
}

TEST(Ring, PrepareToSleepRefusesWhenAnEntryWaits) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  Consumer consumer(ring, 3);
  EXPECT_TRUE(ring.prepare_to_sleep(3, consumer.pos, consumer.seq));
  EXPECT_EQ(ring.slot(3).sleeping.load(), 1u);
  ring.woke_up(3);
  EXPECT_EQ(ring.slot(3).sleeping.load(), 0u);
  ASSERT_TRUE(publish_raw(ring, "r", "x"));
  EXPECT_FALSE(ring.prepare_to_sleep(3, consumer.pos, consumer.seq));
  EXPECT_EQ(ring.slot(3).sleeping.load(), 0u);
  consumer.advance(consumer.peek());
  EXPECT_TRUE(ring.prepare_to_sleep(3, consumer.pos, consumer.seq));
}

TEST(Ring, CommitWakesASleepingConsumerOnce) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  const int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  Consumer sleeper(ring, 2, efd);
  Consumer awake(ring, 4, -1);
  uint64_t count = 0;
  EXPECT_LT(read(efd, &count, sizeof(count)), 0) << "no wake-up before a commit";

  ASSERT_TRUE(ring.prepare_to_sleep(2, sleeper.pos, sleeper.seq));
  ASSERT_TRUE(publish_raw(ring, "r", "one"));
  EXPECT_EQ(ring.slot(2).sleeping.load(), 0u) << "the producer claimed the wake-up";
  ASSERT_EQ(read(efd, &count, sizeof(count)), static_cast<ssize_t>(sizeof(count)));
  EXPECT_EQ(count, 1u);
  // Not sleeping: further commits do not write the eventfd.
  ASSERT_TRUE(publish_raw(ring, "r", "two"));
  EXPECT_LT(read(efd, &count, sizeof(count)), 0);
  close(efd);
}

// 3 producers x 100k entries, 2 consumers: every consumer sees every entry exactly once, each
// producer's entries in its order, sequence numbers dense and increasing, bytes intact.
TEST(Ring, ConcurrentProducersAndConsumers) {
  constexpr int kProducers = 3;
  constexpr uint32_t kPerProducer = 100000;
  constexpr int kConsumers = 2;
  constexpr uint64_t kTotal = uint64_t{kProducers} * kPerProducer;
  auto region = make_region(256 * 1024);
  Ring ring = region->ring();

  auto pattern_len = [](uint32_t producer, uint32_t n) { return 8 + (n * 7 + producer * 13) % 200; };
  auto pattern_byte = [](uint32_t producer, uint32_t n, size_t i) {
    return static_cast<uint8_t>(producer * 31 + n * 17 + i);
  };

  std::vector<std::unique_ptr<Consumer>> consumers;
  for (int c = 0; c < kConsumers; ++c) consumers.push_back(std::make_unique<Consumer>(ring, 10 + c));

  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kConsumers);
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      Consumer& me = *consumers[c];
      std::vector<uint32_t> next(kProducers, 0);
      uint64_t last_seq = 0;
      uint64_t seen = 0;
      std::mt19937 rng(c);
      while (seen < kTotal && !failed.load(std::memory_order_relaxed)) {
        const RingEntry* e = me.peek();
        if (!e) {
          std::this_thread::yield();
          continue;
        }
        auto fail = [&](const std::string& what) {
          errors[c] = cat(what, " at seq ", std::to_string(e->seq));
          failed.store(true);
        };
        if (e->seq != last_seq + 1) return fail("sequence gap");
        last_seq = e->seq;
        if (e->room_len != 1) return fail("room length");
        const uint32_t producer = static_cast<uint8_t>(e->room()[0]) - 'a';
        if (producer >= kProducers) return fail("producer id");
        const uint32_t n = e->origin;
        if (n != next[producer]) return fail("producer order");
        ++next[producer];
        if (e->frame_len != pattern_len(producer, n)) return fail("frame length");
        for (size_t i = 0; i < e->frame_len; ++i)
          if (e->frame()[i] != pattern_byte(producer, n, i)) return fail("frame bytes");
        me.advance(e);
        ++seen;
        // Publish the held position at uneven intervals, as a shard does once per loop turn.
        if (rng() % 16 == 0) me.release();
      }
      me.release();
      if (!failed.load() && seen == kTotal)
        for (int p = 0; p < kProducers; ++p)
          if (next[p] != kPerProducer) {
            errors[c] = "missing entries";
            failed.store(true);
          }
    });
  }
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      const std::string room(1, static_cast<char>('a' + p));
      uint8_t bytes[256];
      for (uint32_t n = 0; n < kPerProducer && !failed.load(std::memory_order_relaxed);) {
        const size_t len = pattern_len(p, n);
        RingClaim claim;
        if (!ring.try_claim(Ring::entry_bytes(1, len), claim)) {
          std::this_thread::yield();
          continue;
        }
        for (size_t i = 0; i < len; ++i) bytes[i] = pattern_byte(p, n, i);
        RingEntry* e = claim.entry;
        e->frame_offset = Ring::frame_offset_for(1);
        e->frame_len = static_cast<uint32_t>(len);
        e->items_offset = 0;
        e->items_len = 0;
        e->item_count = 1;
        e->publish_ns = 0;
        e->room_len = 1;
        e->target = Target::room;
        e->flags = 0;
        e->origin = n;
        std::memcpy(e + 1, room.data(), 1);
        std::memcpy(reinterpret_cast<uint8_t*>(e) + e->frame_offset, bytes, len);
        ring.commit(claim);
        ++n;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int c = 0; c < kConsumers; ++c) EXPECT_EQ(errors[c], "") << "consumer " << c;
  ASSERT_FALSE(failed.load());
  for (auto& c : consumers) {
    EXPECT_EQ(c->seq, kTotal + 1);
    EXPECT_EQ(c->peek(), nullptr);
  }
  uint64_t head_pos = 0, next_seq = 0;
  ring.read_head(head_pos, next_seq);
  EXPECT_EQ(next_seq, kTotal + 1);
  EXPECT_EQ(consumers[0]->pos, head_pos);
  EXPECT_EQ(ring.used_bytes(), 0u);
}

}  // namespace
}  // namespace ringcast

namespace ringcast {
namespace {

// The ring as history: entries no consumer holds stay readable until a producer claims their bytes;
// then history_entry refuses them, and a copy taken before the overwrite is caught by history_intact.
TEST(RingHistory, EntriesStayReadableUntilOverwritten) {
  auto region = make_region(kSmallRing);
  Ring ring = region->ring();
  EXPECT_NE(ring.epoch(), 0u);
  Publisher publisher({128});
  uint64_t pos = 0;
  EXPECT_EQ(ring.history_entry(1, pos), nullptr) << "not published yet";
  // No consumer: nothing is held, so producers may overwrite anything older than one capacity.
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 20; ++i)
    seqs.push_back(publisher.publish(ring, Target::room, "r", cat("[", std::to_string(i), "]")).seq);
  for (int i = 0; i < 20; ++i) {
    const RingEntry* e = ring.history_entry(seqs[i], pos);
    ASSERT_NE(e, nullptr) << i;
    EXPECT_EQ(e->seq, seqs[i]);
    EXPECT_EQ(e->items(), std::to_string(i));
    EXPECT_TRUE(ring.history_intact(pos));
  }
  EXPECT_EQ(ring.history_entry(seqs.back() + 1, pos), nullptr) << "beyond the head";
  EXPECT_EQ(ring.history_entry(0, pos), nullptr);

  // Take a copy of entry 1, then publish until its bytes are claimed again.
  const RingEntry* first = ring.history_entry(seqs[0], pos);
  ASSERT_NE(first, nullptr);
  const uint64_t first_pos = pos;
  const std::string filler = cat("[\"", std::string(1000, 'f'), "\"]");
  uint64_t head_pos = 0, next_seq = 0;
  do {
    ASSERT_EQ(publisher.publish(ring, Target::room, "r", filler).error, PublishError::none);
    ring.read_head(head_pos, next_seq);
  } while (head_pos - first_pos <= kSmallRing);
  EXPECT_FALSE(ring.history_intact(first_pos)) << "a copy taken before is no longer good";
  EXPECT_EQ(ring.history_entry(seqs[0], pos), nullptr);
  // The newest entries are still there.
  EXPECT_NE(ring.history_entry(next_seq - 1, pos), nullptr);
}

}  // namespace
}  // namespace ringcast
