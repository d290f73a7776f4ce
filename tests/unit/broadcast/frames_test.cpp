// Unit tests for engine/broadcast/frames: queues of frame references, gather into an iovec, completion of
// short sends at every byte offset, the iovec and byte caps, dropping unsent frames while a send is
// in flight, frame reference counts, and the ring epochs that give the shard its held position.
#include "engine/broadcast/frames.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast {
namespace {

uint8_t* owned_copy(std::string_view s) {
  auto* p = static_cast<uint8_t*>(std::malloc(s.size()));
  std::memcpy(p, s.data(), s.size());
  return p;
}

std::string iov_bytes(const iovec* iov, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}

const std::string kA = "AAAAA";       // 5
const std::string kB = "bbbbbbb";     // 7
const std::string kC = "CCC";         // 3
const std::string kAll = kA + kB + kC;

// Queues A (owned push), B (owned reply) and C (permanent) on q.
struct ThreeFrames {
  Frames frames;
  OutQueue q;
  FrameId a, b, c;
  ThreeFrames() {
    a = frames.owned_frame(owned_copy(kA), 5, 2, true);
    b = frames.owned_frame(owned_copy(kB), 7, 0, false);
    c = frames.permanent_frame(reinterpret_cast<const uint8_t*>(kC.data()), 3);
    frames.enqueue(q, a);
    frames.enqueue(q, b);
    EXPECT_EQ(frames.enqueue(q, c), 15u);
  }
};

TEST(Frames, FramesAndRefcounts) {
  Frames frames;
  EXPECT_EQ(frames.frames_live(), 0u);
  FrameId f = frames.owned_frame(owned_copy("hello"), 5, 1, true);
  EXPECT_EQ(frames.frames_live(), 1u);
  EXPECT_EQ(frames.frame(f).len, 5u);
  EXPECT_EQ(frames.frame(f).items, 1u);
  EXPECT_TRUE(frames.frame(f).push);
  EXPECT_EQ(frames.frame(f).refs, 0u);
  EXPECT_EQ(std::memcmp(frames.frame(f).data, "hello", 5), 0);

  OutQueue q1, q2;
  frames.enqueue(q1, f);
  frames.enqueue(q2, f);
  EXPECT_EQ(frames.frame(f).refs, 2u);
  frames.release_if_unused(f);  // referenced: stays
  EXPECT_EQ(frames.frames_live(), 1u);
  iovec iov[4];
  size_t total = 0;
  ASSERT_EQ(frames.gather(q1, iov, 4, 1 << 20, total), 1);
  EXPECT_EQ(frames.complete(q1, 5), 1u);
  EXPECT_EQ(frames.frames_live(), 1u);
  EXPECT_EQ(frames.frame(f).refs, 1u);
  EXPECT_EQ(frames.drop_unsent(q2), 1u);
  EXPECT_EQ(frames.frames_live(), 0u);
  EXPECT_TRUE(q2.empty());

  // Freed slots are reused.
  FrameId g = frames.owned_frame(owned_copy("x"), 1, 0, false);
  EXPECT_EQ(g, f);
  frames.release_if_unused(g);
  EXPECT_EQ(frames.frames_live(), 0u);

  // Permanent frames survive every release.
  FrameId p = frames.permanent_frame(reinterpret_cast<const uint8_t*>("pong"), 4);
  frames.enqueue(q1, p);
  ASSERT_EQ(frames.gather(q1, iov, 4, 1 << 20, total), 1);
  EXPECT_EQ(frames.complete(q1, 4), 0u) << "not a PUSH frame";
  frames.release_if_unused(p);
  EXPECT_EQ(frames.frames_live(), 1u);
  EXPECT_EQ(frames.frame(p).refs, 0u);
}

TEST(Frames, GatherThreeFramesWhole) {
  ThreeFrames t;
  EXPECT_EQ(t.q.bytes, 15u);
  iovec iov[8];
  size_t total = 0;
  ASSERT_EQ(t.frames.gather(t.q, iov, 8, 1 << 20, total), 3);
  EXPECT_EQ(total, 15u);
  EXPECT_EQ(t.q.inflight_frames, 3u);
  EXPECT_EQ(iov[0].iov_base, t.frames.frame(t.a).data) << "references, not copies";
  EXPECT_EQ(iov[2].iov_base, kC.data());
  EXPECT_EQ(iov_bytes(iov, 3), kAll);
  EXPECT_EQ(t.frames.complete(t.q, 15), 1u) << "one PUSH frame among the three";
  EXPECT_TRUE(t.q.empty());
  EXPECT_EQ(t.q.bytes, 0u);
  EXPECT_EQ(t.q.tail, kNil);
  EXPECT_EQ(t.q.head_offset, 0u);
  EXPECT_EQ(t.q.inflight_frames, 0u);
  EXPECT_EQ(t.frames.frames_live(), 1u) << "only the permanent frame is left";
}

// One short send stopping at every byte offset, then the rest.
TEST(Frames, ShortSendAtEveryOffset) {
  for (size_t first = 0; first <= kAll.size(); ++first) {
    ThreeFrames t;
    iovec iov[8];
    size_t total = 0;
    ASSERT_EQ(t.frames.gather(t.q, iov, 8, 1 << 20, total), 3);
    const uint32_t pushes_first = t.frames.complete(t.q, first);
    EXPECT_EQ(pushes_first, first >= 5 ? 1u : 0u) << first;
    EXPECT_EQ(t.q.bytes, kAll.size() - first);
    EXPECT_EQ(t.q.inflight_frames, 0u);
    if (first == kAll.size()) {
      EXPECT_TRUE(t.q.empty());
      continue;
    }
    const int n = t.frames.gather(t.q, iov, 8, 1 << 20, total);
    EXPECT_EQ(iov_bytes(iov, n), kAll.substr(first)) << first;
    EXPECT_EQ(total, kAll.size() - first);
    EXPECT_EQ(n, first < 5 ? 3 : first < 12 ? 2 : 1);
    EXPECT_EQ(t.frames.complete(t.q, total), first >= 5 ? 0u : 1u);
    EXPECT_TRUE(t.q.empty());
    EXPECT_EQ(t.frames.frames_live(), 1u);
  }
}

// Two short sends at every pair of offsets, with a gather before each.
TEST(Frames, TwoShortSendsAtEveryPairOfOffsets) {
  for (size_t first = 0; first <= kAll.size(); ++first) {
    for (size_t second = first; second <= kAll.size(); ++second) {
      ThreeFrames t;
      iovec iov[8];
      size_t total = 0;
      std::string sent;
      uint32_t pushes = 0;
      t.frames.gather(t.q, iov, 8, 1 << 20, total);
      sent += iov_bytes(iov, 3).substr(0, first);
      pushes += t.frames.complete(t.q, first);
      if (!t.q.empty()) {
        int n = t.frames.gather(t.q, iov, 8, 1 << 20, total);
        ASSERT_EQ(iov_bytes(iov, n), kAll.substr(first));
        sent += iov_bytes(iov, n).substr(0, second - first);
        pushes += t.frames.complete(t.q, second - first);
      }
      if (!t.q.empty()) {
        int n = t.frames.gather(t.q, iov, 8, 1 << 20, total);
        ASSERT_EQ(iov_bytes(iov, n), kAll.substr(second)) << first << "," << second;
        sent += iov_bytes(iov, n);
        pushes += t.frames.complete(t.q, total);
      }
      EXPECT_EQ(sent, kAll) << first << "," << second;
      EXPECT_EQ(pushes, 1u);
      EXPECT_TRUE(t.q.empty());
      EXPECT_EQ(t.q.bytes, 0u);
      EXPECT_EQ(t.frames.frames_live(), 1u);
    }
  }
}

TEST(Frames, IovecCap) {
  ThreeFrames t;
  iovec iov[8];
  size_t total = 0;
  ASSERT_EQ(t.frames.gather(t.q, iov, 2, 1 << 20, total), 2);
  EXPECT_EQ(total, 12u);
  EXPECT_EQ(t.q.inflight_frames, 2u);
  EXPECT_EQ(t.frames.complete(t.q, 12), 1u);
  ASSERT_EQ(t.frames.gather(t.q, iov, 2, 1 << 20, total), 1);
  EXPECT_EQ(iov_bytes(iov, 1), kC);
  t.frames.complete(t.q, 3);
  EXPECT_TRUE(t.q.empty());
}

TEST(Frames, ByteCap) {
  {
    ThreeFrames t;
    iovec iov[8];
    size_t total = 0;
    // The first frame always goes whole, even over the cap.
    ASSERT_EQ(t.frames.gather(t.q, iov, 8, 1, total), 1);
    EXPECT_EQ(total, 5u);
    t.frames.complete(t.q, 0);
    // Exactly two frames fit; one byte less and only one.
    ASSERT_EQ(t.frames.gather(t.q, iov, 8, 12, total), 2);
    EXPECT_EQ(total, 12u);
    t.frames.complete(t.q, 0);
    ASSERT_EQ(t.frames.gather(t.q, iov, 8, 11, total), 1);
    t.frames.complete(t.q, 0);
    ASSERT_EQ(t.frames.gather(t.q, iov, 8, 15, total), 3);
    t.frames.complete(t.q, 0);
    ASSERT_EQ(t.frames.gather(t.q, iov, 8, 14, total), 2);
    t.frames.complete(t.q, 0);
  }
  {
    // With part of the head sent, the cap counts what is left of it.
    ThreeFrames t;
    iovec iov[8];
    size_t total = 0;
    t.frames.gather(t.q, iov, 8, 1 << 20, total);
    t.frames.complete(t.q, 3);  // 2 bytes of A left
    ASSERT_EQ(t.frames.gather(t.q, iov, 8, 9, total), 2);
    EXPECT_EQ(total, 9u);
    EXPECT_EQ(iov_bytes(iov, 2), "AAbbbbbbb");
    t.frames.complete(t.q, 0);
    ASSERT_EQ(t.frames.gather(t.q, iov, 8, 8, total), 1);
    EXPECT_EQ(total, 2u);
    t.frames.complete(t.q, 0);
  }
}

TEST(Frames, DropUnsentKeepsInflightNodes) {
  ThreeFrames t;
  iovec iov[8];
  size_t total = 0;
  FrameId d = t.frames.owned_frame(owned_copy("DD"), 2, 1, true);
  t.frames.enqueue(t.q, d);
  // A partial send of A, then a send in flight covering the rest of A and B.
  t.frames.gather(t.q, iov, 8, 1 << 20, total);
  t.frames.complete(t.q, 1);
  ASSERT_EQ(t.frames.gather(t.q, iov, 2, 1 << 20, total), 2);
  EXPECT_EQ(total, 11u);
  EXPECT_EQ(t.frames.frames_live(), 4u);
  // C (permanent, not PUSH) and D (PUSH) go; A and B stay while the kernel reads them.
  EXPECT_EQ(t.frames.drop_unsent(t.q), 1u);
  EXPECT_EQ(t.frames.frames_live(), 3u) << "D freed, the permanent C stays";
  EXPECT_EQ(t.q.bytes, 11u);
  EXPECT_EQ(t.q.inflight_frames, 2u);
  EXPECT_EQ(t.q.head_offset, 1u);
  EXPECT_FALSE(t.q.empty());
  // The send finishes short: the rest of B remains, and is sendable.
  EXPECT_EQ(t.frames.complete(t.q, 6), 1u);
  EXPECT_EQ(t.q.bytes, 5u);
  int n = t.frames.gather(t.q, iov, 8, 1 << 20, total);
  EXPECT_EQ(iov_bytes(iov, n), "bbbbb");
  EXPECT_EQ(t.frames.complete(t.q, 5), 0u);
  EXPECT_TRUE(t.q.empty());
  EXPECT_EQ(t.q.tail, kNil);
  EXPECT_EQ(t.frames.frames_live(), 1u);
  // New frames queue normally after a drop.
  FrameId e = t.frames.owned_frame(owned_copy("E"), 1, 1, true);
  EXPECT_EQ(t.frames.enqueue(t.q, e), 1u);
  n = t.frames.gather(t.q, iov, 8, 1 << 20, total);
  EXPECT_EQ(iov_bytes(iov, n), "E");
  t.frames.complete(t.q, 1);
}

TEST(Frames, DropUnsentWithNothingSentEmptiesTheQueue) {
  ThreeFrames t;
  EXPECT_EQ(t.frames.drop_unsent(t.q), 1u);
  EXPECT_TRUE(t.q.empty());
  EXPECT_EQ(t.q.tail, kNil);
  EXPECT_EQ(t.q.bytes, 0u);
  EXPECT_EQ(t.q.head_offset, 0u);
  EXPECT_EQ(t.frames.frames_live(), 1u);
  iovec iov[8];
  size_t total = 0;
  FrameId e = t.frames.owned_frame(owned_copy("E"), 1, 1, true);
  EXPECT_EQ(t.frames.enqueue(t.q, e), 1u);
  ASSERT_EQ(t.frames.gather(t.q, iov, 8, 1 << 20, total), 1);
  EXPECT_EQ(iov_bytes(iov, 1), "E");
}

// A frame the peer has the first bytes of must be finished, or the stream is corrupt.
TEST(Frames, DropUnsentKeepsAPartlySentHead) {
  ThreeFrames t;
  iovec iov[8];
  size_t total = 0;
  t.frames.gather(t.q, iov, 8, 1 << 20, total);
  t.frames.complete(t.q, 2);
  EXPECT_EQ(t.frames.drop_unsent(t.q), 0u) << "B and C are not PUSH frames";
  EXPECT_EQ(t.q.bytes, 3u);
  EXPECT_EQ(t.q.head_offset, 2u);
  EXPECT_EQ(t.q.head, t.q.tail);
  EXPECT_EQ(t.frames.frames_live(), 2u) << "A and the permanent C";
  ASSERT_EQ(t.frames.gather(t.q, iov, 8, 1 << 20, total), 1);
  EXPECT_EQ(iov_bytes(iov, 1), "AAA");
  EXPECT_EQ(t.frames.complete(t.q, 3), 1u);
  EXPECT_TRUE(t.q.empty());
  EXPECT_EQ(t.q.tail, kNil);
  EXPECT_EQ(t.frames.frames_live(), 1u);
}

// A closing connection drops the pushes but still owes its peer the replies queued before.
TEST(Frames, DropUnsentPushesOnlyKeepsReplies) {
  ThreeFrames t;
  FrameId d = t.frames.owned_frame(owned_copy("DD"), 2, 1, true);
  FrameId r = t.frames.owned_frame(owned_copy("rr"), 2, 0, false);
  t.frames.enqueue(t.q, d);
  t.frames.enqueue(t.q, r);
  EXPECT_EQ(t.q.bytes, 19u);
  EXPECT_EQ(t.frames.drop_unsent(t.q, true), 2u);
  EXPECT_EQ(t.q.bytes, 12u);
  EXPECT_EQ(t.frames.frames_live(), 3u) << "B, C and r";
  iovec iov[8];
  size_t total = 0;
  const int n = t.frames.gather(t.q, iov, 8, 1 << 20, total);
  EXPECT_EQ(iov_bytes(iov, n), "bbbbbbbCCCrr");
  EXPECT_EQ(t.frames.complete(t.q, total), 0u);
  EXPECT_TRUE(t.q.empty());
  EXPECT_EQ(t.q.tail, kNil);
  // A new frame after the drop lands at the tail, after the kept replies.
  FrameId e = t.frames.owned_frame(owned_copy("E"), 1, 1, true);
  t.frames.enqueue(t.q, t.frames.owned_frame(owned_copy("x"), 1, 0, false));
  t.frames.enqueue(t.q, e);
  t.frames.enqueue(t.q, t.frames.owned_frame(owned_copy("y"), 1, 0, false));
  EXPECT_EQ(t.frames.drop_unsent(t.q, true), 1u);
  FrameId z = t.frames.owned_frame(owned_copy("z"), 1, 0, false);
  t.frames.enqueue(t.q, z);
  const int m = t.frames.gather(t.q, iov, 8, 1 << 20, total);
  EXPECT_EQ(iov_bytes(iov, m), "xyz");
  t.frames.complete(t.q, total);
  EXPECT_EQ(t.frames.frames_live(), 1u);
}

TEST(Frames, ClearDropsEverything) {
  ThreeFrames t;
  iovec iov[8];
  size_t total = 0;
  t.frames.gather(t.q, iov, 8, 1 << 20, total);
  t.frames.complete(t.q, 2);
  EXPECT_EQ(t.frames.clear(t.q), 1u);
  EXPECT_TRUE(t.q.empty());
  EXPECT_EQ(t.q.bytes, 0u);
  EXPECT_EQ(t.q.head_offset, 0u);
  EXPECT_EQ(t.q.tail, kNil);
  EXPECT_EQ(t.frames.frames_live(), 1u);
}

TEST(Frames, EpochsGiveTheOldestHeldPosition) {
  Frames frames;
  static const uint8_t ring_bytes[64] = {};
  EXPECT_EQ(frames.oldest_held(500), 500u) << "nothing held: the cursor";
  EXPECT_EQ(frames.oldest_epoch(), kNil);

  const uint32_t e1 = frames.begin_epoch(100);
  const uint32_t e2 = frames.begin_epoch(200);
  const uint32_t e3 = frames.begin_epoch(300);
  EXPECT_EQ(e2, e1 + 1);
  EXPECT_EQ(e3, e1 + 2);
  FrameId f1 = frames.ring_frame(ring_bytes, 8, 1, e1);
  FrameId f2 = frames.ring_frame(ring_bytes + 8, 8, 1, e2);
  FrameId f3 = frames.ring_frame(ring_bytes + 16, 8, 1, e3);
  EXPECT_EQ(frames.frame(f2).epoch, e2);
  EXPECT_TRUE(frames.frame(f2).push);
  OutQueue q1, q2, q3;
  frames.enqueue(q1, f1);
  frames.enqueue(q2, f2);
  frames.enqueue(q3, f3);
  EXPECT_EQ(frames.head_epoch(q1), e1);
  EXPECT_EQ(frames.head_epoch(q2), e2);
  EXPECT_EQ(frames.epochs_live(), 3u);
  EXPECT_EQ(frames.oldest_held(900), 100u);
  EXPECT_EQ(frames.oldest_epoch(), e1);

  // Releasing a younger epoch changes nothing while the oldest is held.
  frames.drop_unsent(q2);
  EXPECT_EQ(frames.oldest_held(900), 100u);
  EXPECT_EQ(frames.epochs_live(), 3u);
  // Releasing the oldest skips every released epoch behind it.
  iovec iov[2];
  size_t total = 0;
  frames.gather(q1, iov, 2, 1 << 20, total);
  EXPECT_EQ(frames.oldest_held(900), 100u) << "in flight still holds";
  frames.complete(q1, 8);
  EXPECT_EQ(frames.oldest_held(900), 300u);
  EXPECT_EQ(frames.epochs_live(), 1u);
  EXPECT_EQ(frames.oldest_epoch(), e3);
  EXPECT_EQ(frames.head_epoch(q3), frames.oldest_epoch());

  // Epoch references held by batches (epoch_ref) count like frames.
  const uint32_t e4 = frames.begin_epoch(400);
  frames.epoch_ref(e4);
  frames.drop_unsent(q3);
  EXPECT_EQ(frames.oldest_held(900), 400u);
  frames.epoch_unref(e4);
  EXPECT_EQ(frames.oldest_held(900), 900u);
  EXPECT_EQ(frames.epochs_live(), 0u);
  EXPECT_EQ(frames.frames_live(), 0u);

  // An epoch nobody referenced is dropped at the next look, and numbering goes on.
  const uint32_t e5 = frames.begin_epoch(950);
  EXPECT_EQ(e5, e4 + 1);
  EXPECT_EQ(frames.oldest_held(960), 960u);
  EXPECT_EQ(frames.epochs_live(), 0u);
  EXPECT_EQ(frames.head_epoch(q3), kNil);
}

TEST(Frames, OwnedAndPermanentFramesPinNoEpoch) {
  Frames frames;
  FrameId f = frames.owned_frame(owned_copy("abc"), 3, 1, true);
  EXPECT_EQ(frames.frame(f).epoch, kNil);
  OutQueue q;
  frames.enqueue(q, f);
  EXPECT_EQ(frames.head_epoch(q), kNil);
  EXPECT_EQ(frames.oldest_held(77), 77u);
  frames.clear(q);
}

// Epoch numbers wrap after 2^32 drains; kNil ("no epoch") must never be handed out, or the frame
// pinning it would never release it and the ring would stay held forever.
TEST(Frames, EpochNumbersSkipNilAtTheWrap) {
  static const uint8_t ring_bytes[8] = {};
  Frames frames(kNil - 2);
  uint64_t pos = 0;
  std::vector<uint32_t> seen;
  for (int i = 0; i < 6; ++i) {
    pos += 64;
    const uint32_t epoch = frames.begin_epoch(pos);
    EXPECT_NE(epoch, kNil);
    seen.push_back(epoch);
    FrameId f = frames.ring_frame(ring_bytes, 8, 1, epoch);
    EXPECT_EQ(frames.oldest_held(UINT64_MAX), pos);
    frames.release_if_unused(f);
    EXPECT_EQ(frames.oldest_held(UINT64_MAX), UINT64_MAX) << "epoch " << epoch << " released";
    EXPECT_EQ(frames.epochs_live(), 0u);
  }
  EXPECT_EQ(seen, (std::vector<uint32_t>{kNil - 2, kNil - 1, 0, 1, 2, 3}));

  // Several epochs live across the wrap.
  Frames held(kNil - 1);
  const uint32_t a = held.begin_epoch(10);
  const uint32_t b = held.begin_epoch(20);
  const uint32_t c = held.begin_epoch(30);
  EXPECT_EQ(a, kNil - 1);
  EXPECT_EQ(b, 0u);
  EXPECT_EQ(c, 1u);
  held.epoch_ref(a);
  held.epoch_ref(c);
  EXPECT_EQ(held.oldest_held(99), 10u);
  held.epoch_unref(a);
  EXPECT_EQ(held.oldest_held(99), 30u);
  EXPECT_EQ(held.oldest_epoch(), c);
  held.epoch_unref(c);
  EXPECT_EQ(held.oldest_held(99), 99u);
}

// A steady stream of frames through one queue reuses chunks and frames instead of growing.
TEST(Frames, SteadyStateReusesSlots) {
  Frames frames;
  OutQueue q;
  iovec iov[4];
  size_t total = 0;
  for (int i = 0; i < 10000; ++i) {
    FrameId f = frames.owned_frame(owned_copy("xy"), 2, 1, true);
    EXPECT_LT(f, 2u);
    frames.enqueue(q, f);
    if (i % 2) {
      int n = frames.gather(q, iov, 4, 1 << 20, total);
      ASSERT_EQ(n, 2);
      ASSERT_EQ(frames.complete(q, total), 2u);
    }
  }
  EXPECT_EQ(frames.frames_live(), 0u);
  EXPECT_EQ(frames.chunks_live(), 0u) << "an empty queue holds no chunk";
}

// A broadcast's peak of chunks goes back once the pool has been idle for a whole period between two
// trims, never while a queue holds a chunk or right after chunks were taken; the queues work after.
TEST(Frames, TrimGivesBackAnIdlePoolOnly) {
  const size_t members = Frames::kTrimChunksMin + 1000;
  Frames frames;
  std::vector<OutQueue> queues(members);
  iovec iov[4];
  size_t total = 0;
  auto broadcast = [&](std::string_view text) {
    const FrameId f = frames.owned_frame(owned_copy(text), static_cast<uint32_t>(text.size()), 1, true);
    for (OutQueue& q : queues) frames.enqueue(q, f);
  };
  auto send_all = [&](std::string_view expect) {
    for (OutQueue& q : queues) {
      ASSERT_EQ(frames.gather(q, iov, 4, 1 << 20, total), 1);
      ASSERT_EQ(iov_bytes(iov, 1), expect);
      ASSERT_EQ(frames.complete(q, total), 1u);
    }
  };

  broadcast("first");
  send_all("first");
  EXPECT_EQ(frames.chunks_live(), 0u);
  EXPECT_EQ(frames.trim_idle_chunks(), 0u) << "chunks were taken since the previous trim";
  EXPECT_EQ(frames.chunks_pooled(), members);
  const size_t given_back = frames.trim_idle_chunks();
  EXPECT_GE(given_back, members * 32 - 2 * 4096) << "the pool's whole pages";
  EXPECT_EQ(frames.chunks_pooled(), 0u);

  broadcast("second");  // from an empty pool, in pages the kernel zeroed
  EXPECT_EQ(frames.chunks_pooled(), members);
  EXPECT_EQ(frames.trim_idle_chunks(), 0u) << "every queue holds a chunk";
  send_all("second");
  EXPECT_EQ(frames.frames_live(), 0u);
  // Nothing was taken since the call above, made while the queues were full: the pool has been idle
  // since then.
  EXPECT_GT(frames.trim_idle_chunks(), 0u);
  EXPECT_EQ(frames.chunks_pooled(), 0u);

  broadcast("third");
  send_all("third");

  // A small pool is left alone.
  Frames small;
  OutQueue q;
  small.enqueue(q, small.owned_frame(owned_copy("x"), 1, 1, true));
  small.clear(q);
  small.trim_idle_chunks();
  EXPECT_EQ(small.trim_idle_chunks(), 0u);
  EXPECT_EQ(small.chunks_pooled(), 1u);
}

// gather() tells the publish time of each PUSH frame whose first byte a send carries (the latency
// metric), and 0 for replies and for the rest of a frame a short send left behind.
TEST(Frames, GatherReportsPublishTimesOfFramesStarting) {
  Frames frames;
  OutQueue q;
  frames.enqueue(q, frames.owned_frame(owned_copy("push1"), 5, 1, true, 1000));
  frames.enqueue(q, frames.owned_frame(owned_copy("reply"), 5, 0, false));
  frames.enqueue(q, frames.owned_frame(owned_copy("push2"), 5, 1, true, 2000));
  iovec iov[4];
  int64_t published[4] = {-1, -1, -1, -1};
  size_t total = 0;
  ASSERT_EQ(frames.gather(q, iov, 4, 1 << 20, total, published), 3);
  EXPECT_EQ(published[0], 1000);
  EXPECT_EQ(published[1], 0);
  EXPECT_EQ(published[2], 2000);
  frames.complete(q, 12);  // push1, reply, and 2 bytes of push2
  ASSERT_EQ(frames.gather(q, iov, 4, 1 << 20, total, published), 1);
  EXPECT_EQ(published[0], 0) << "counted when its first byte went";
  EXPECT_EQ(frames.complete(q, total), 1u);
}

// Queues longer than a chunk: frames are gathered, retired and dropped across chunk boundaries in
// order, whatever the sizes of the sends and of the drops, and every chunk is given back.
TEST(Frames, RunsAcrossChunks) {
  constexpr int kIov = 64;
  const uint32_t n = Frames::kChunkFrames * 3 + 5;
  for (uint32_t first_send = 0; first_send <= n; first_send += 3) {
    for (int mode = 0; mode < 3; ++mode) {  // then: 0 send the rest, 1 drop pushes, 2 drop everything
      Frames frames;
      OutQueue q;
      std::string expect;
      uint32_t pushes = 0;
      for (uint32_t i = 0; i < n; ++i) {
        const std::string bytes(1, static_cast<char>('a' + i % 26));
        const bool push = i % 3 != 0;
        frames.enqueue(q, frames.owned_frame(owned_copy(bytes), 1, push ? 1 : 0, push));
        expect += bytes;
        pushes += push ? 1 : 0;
      }
      iovec iov[kIov];
      size_t total = 0;
      std::string got;
      uint32_t sent_pushes = 0;
      // A first send of first_send frames (capped by bytes), completed in full, and one more in flight.
      if (first_send > 0) {
        const int k = frames.gather(q, iov, kIov, first_send, total);
        ASSERT_EQ(static_cast<uint32_t>(k), std::min<uint32_t>(first_send, n));
        got += iov_bytes(iov, k);
        sent_pushes += frames.complete(q, total);
      }
      if (q.empty()) continue;
      const int inflight = frames.gather(q, iov, 2, 1 << 20, total);
      const std::string inflight_bytes = iov_bytes(iov, inflight);
      uint32_t dropped = 0;
      if (mode > 0) dropped = frames.drop_unsent(q, mode == 1);
      got += inflight_bytes;
      sent_pushes += frames.complete(q, total);
      while (!q.empty()) {
        const int k = frames.gather(q, iov, 5, 1 << 20, total);
        got += iov_bytes(iov, k);
        sent_pushes += frames.complete(q, total);
      }
      if (mode == 0) {
        EXPECT_EQ(got, expect);
        EXPECT_EQ(sent_pushes, pushes);
      } else {
        // What went is a prefix (sent and in flight), then, for a pushes-only drop, the replies after it.
        EXPECT_EQ(got.substr(0, first_send + inflight), expect.substr(0, first_send + inflight));
        std::string replies;
        for (uint32_t i = first_send + inflight; i < n; ++i)
          if (i % 3 == 0) replies += expect[i];
        EXPECT_EQ(got.substr(first_send + inflight), mode == 1 ? replies : std::string());
        EXPECT_EQ(sent_pushes + dropped, pushes);
      }
      EXPECT_EQ(q.bytes, 0u);
      EXPECT_EQ(frames.frames_live(), 0u);
      EXPECT_EQ(frames.chunks_live(), 0u);
      // The queue takes frames again after it emptied.
      frames.enqueue(q, frames.owned_frame(owned_copy("z"), 1, 1, true));
      frames.gather(q, iov, 4, 1 << 20, total);
      EXPECT_EQ(frames.complete(q, total), 1u);
      EXPECT_EQ(frames.chunks_live(), 0u);
    }
  }
}

}  // namespace
}  // namespace ringcast
