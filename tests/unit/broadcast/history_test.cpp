// Unit tests for engine/history: the replay of one room's items from the ring's history (recovery):
// only that room's items of the range, in order, in frames cut at the byte cap that end with their last
// entry's seq and room; refused when an entry is gone, expired, or the range holds too many items.
#include "engine/broadcast/history.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/broadcast/publish.h"
#include "engine/node/shm.h"
#include "tests/unit/push_frame.h"

namespace ringcast {
namespace {

constexpr size_t kRing = 1 << 16;

using testing_push::PushParts;

PushParts parse(const std::string& frame) { return testing_push::parse_push_frame(frame); }

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(region_.create(kRing, error)) << error;
    ring_ = region_.ring();
  }
  uint64_t publish(std::string_view room, std::string_view items) {
    PublishOutcome out = publisher_.publish(ring_, Target::room, room, items);
    EXPECT_EQ(out.error, PublishError::none);
    return out.seq;
  }
  bool collect(std::string_view room, uint64_t since, uint64_t until, int64_t now_ns = 0) {
    frames_.clear();
    return collect_replay(ring_, room, since, until, limits_, now_ns, frames_, scratch_);
  }

  SharedRegion region_;
  Ring ring_;
  Publisher publisher_{PublishRules{128}};
  ReplayLimits limits_;
  std::vector<ReplayFrame> frames_;
  std::string scratch_;
};

TEST_F(HistoryTest, ReplaysOnlyTheRoomsItemsOfTheRangeInOrder) {
  const uint64_t before = publish("r", "[0]");
  publish("r", "[1, 2]");
  publish("other", R"(["not r"])");
  ASSERT_EQ(publisher_.publish(ring_, Target::all, "", R"(["everyone"])").error, PublishError::none);
  const uint64_t last_r = publish("r", R"([{"three":3}])");
  const uint64_t until = publish("other", "[9]");
  ASSERT_TRUE(collect("r", before, until));
  ASSERT_EQ(frames_.size(), 1u);
  const PushParts p = parse(frames_[0].first);
  EXPECT_EQ(p.items, R"([1,2,{"three":3}])");
  EXPECT_EQ(p.room, "r");
  EXPECT_EQ(p.seq, last_r) << "the seq of the last item replayed";
  EXPECT_EQ(frames_[0].second, 3u);

  ASSERT_TRUE(collect("r", until, until)) << "an empty range is recovered";
  EXPECT_TRUE(frames_.empty());
  ASSERT_TRUE(collect("nobody", before, until));
  EXPECT_TRUE(frames_.empty());
  EXPECT_FALSE(collect("r", before, until + 1)) << "beyond the head";
}

TEST_F(HistoryTest, FramesAreCutAtTheByteCapAndEachEndsWithItsLastSeq) {
  limits_.frame_bytes_max = 100;
  const uint64_t since = publish("r", "[0]");
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 6; ++i) seqs.push_back(publish("r", R"(["0123456789012345"])"));
  ASSERT_TRUE(collect("r", since, seqs.back()));
  ASSERT_GT(frames_.size(), 1u);
  uint32_t items = 0;
  for (const ReplayFrame& f : frames_) {
    EXPECT_LE(f.first.size(), 100u);
    const PushParts p = parse(f.first);
    items += f.second;
    EXPECT_EQ(p.seq, seqs[items - 1]);
  }
  EXPECT_EQ(items, 6u);
}

TEST_F(HistoryTest, TooManyExpiredOrOverwrittenIsNotRecovered) {
  const uint64_t since = publish("r", "[0]");
  for (int i = 0; i < 5; ++i) publish("r", "[1]");
  const uint64_t until = publish("r", "[1]");
  limits_.items_max = 6;
  EXPECT_TRUE(collect("r", since, until));
  limits_.items_max = 5;
  EXPECT_FALSE(collect("r", since, until)) << "6 items, 5 allowed";
  limits_.items_max = 100;
  limits_.ttl_ns = 1000000000;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const int64_t now = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  EXPECT_TRUE(collect("r", since, until, now));
  EXPECT_FALSE(collect("r", since, until, now + 2000000000)) << "two seconds later, older than the TTL";
  limits_.ttl_ns = 0;
  // Overwrite the start of the range: no consumer holds it, so producers may.
  std::string filler = "[\"";
  filler.append(1000, 'f').append("\"]");
  for (int i = 0; i < 80; ++i) publish("filler", filler);
  uint64_t head = 0, next = 0;
  ring_.read_head(head, next);
  EXPECT_FALSE(collect("r", since, next - 1));
  // The recent end of the ring is still history.
  const uint64_t recent = publish("r", "[42]");
  EXPECT_TRUE(collect("r", recent - 1, recent));
  ASSERT_EQ(frames_.size(), 1u);
  EXPECT_EQ(parse(frames_[0].first).items, "[42]");
}

}  // namespace
}  // namespace ringcast
