// Unit tests for engine/timer_wheel: arm, disarm and re-arm, deadlines beyond one turn of the wheel,
// firing order, callbacks that re-arm or disarm timers (their own or others') during a sweep, and
// large jumps in time. Checked against a brute-force model in a seeded random run.
#include "engine/shard/timer_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <utility>
#include <vector>

namespace ringcast {
namespace {

using Fired = std::vector<std::pair<uint64_t, uint32_t>>;  // (tick of the advance, id)

struct Harness {
  TimerWheel wheel;
  Fired fired;
  explicit Harness(uint64_t now = 0, uint32_t ids = 64) : wheel(now) { wheel.reserve(ids); }
  void advance(uint64_t now) {
    wheel.advance(now, [&](uint32_t id) { fired.emplace_back(now, id); });
  }
  std::vector<uint32_t> ids() const {
    std::vector<uint32_t> out;
    for (auto& f : fired) out.push_back(f.second);
    return out;
  }
};

TEST(TimerWheel, ArmFireDisarm) {
  Harness h;
  h.wheel.arm(1, 5);
  h.wheel.arm(2, 3);
  EXPECT_TRUE(h.wheel.armed(1));
  EXPECT_EQ(h.wheel.deadline(1), 5u);
  h.advance(2);
  EXPECT_TRUE(h.fired.empty());
  h.advance(3);
  EXPECT_EQ(h.fired, (Fired{{3, 2}}));
  EXPECT_FALSE(h.wheel.armed(2));
  h.wheel.disarm(1);
  EXPECT_FALSE(h.wheel.armed(1));
  h.wheel.disarm(1);  // twice is fine
  h.advance(100);
  EXPECT_EQ(h.fired.size(), 1u);
}

TEST(TimerWheel, ReArmMovesTheDeadline) {
  Harness h;
  h.wheel.arm(7, 10);
  h.wheel.arm(7, 20);  // later
  EXPECT_EQ(h.wheel.deadline(7), 20u);
  h.advance(15);
  EXPECT_TRUE(h.fired.empty());
  h.wheel.arm(7, 16);  // earlier
  h.advance(16);
  EXPECT_EQ(h.fired, (Fired{{16, 7}}));
  h.advance(30);
  EXPECT_EQ(h.fired.size(), 1u) << "fires once";
}

TEST(TimerWheel, PastDeadlinesFireOnTheNextTick) {
  Harness h(100);
  h.wheel.arm(1, 50);
  EXPECT_EQ(h.wheel.deadline(1), 101u);
  h.wheel.arm(2, 100);
  EXPECT_EQ(h.wheel.deadline(2), 101u);
  h.advance(100);  // not a new tick
  EXPECT_TRUE(h.fired.empty());
  h.advance(101);
  EXPECT_EQ(h.fired.size(), 2u);
}

TEST(TimerWheel, FiringOrderFollowsDeadlines) {
  Harness h;
  const uint64_t deadlines[] = {9, 3, 7, 1, 5, 2, 8, 4, 6};
  for (uint32_t id = 0; id < 9; ++id) h.wheel.arm(id, deadlines[id]);
  h.advance(9);  // one sweep across nine ticks
  EXPECT_EQ(h.ids(), (std::vector<uint32_t>{3, 5, 1, 7, 4, 8, 2, 6, 0}));
}

TEST(TimerWheel, DeadlinesBeyondOneTurn) {
  constexpr uint64_t kTurn = TimerWheel::kSlots;
  Harness h;
  h.wheel.arm(1, 10);
  h.wheel.arm(2, 10 + kTurn);      // same slot, next turn
  h.wheel.arm(3, 10 + 3 * kTurn);  // same slot, three turns on
  h.advance(10);
  EXPECT_EQ(h.ids(), (std::vector<uint32_t>{1}));
  h.advance(10 + kTurn - 1);
  EXPECT_EQ(h.ids(), (std::vector<uint32_t>{1}));
  h.advance(10 + kTurn);
  EXPECT_EQ(h.ids(), (std::vector<uint32_t>{1, 2}));
  // Tick by tick through two more turns: 3 fires exactly on time.
  for (uint64_t t = 11 + kTurn; t <= 10 + 3 * kTurn; ++t) {
    h.advance(t);
    if (h.fired.size() == 3) {
      EXPECT_EQ(t, 10 + 3 * kTurn);
      break;
    }
  }
  EXPECT_EQ(h.fired.back(), (std::pair<uint64_t, uint32_t>{10 + 3 * kTurn, 3}));
}

TEST(TimerWheel, LargeJumpsFireEverythingDueAndNothingElse) {
  constexpr uint64_t kTurn = TimerWheel::kSlots;
  Harness h(1000, 128);
  for (uint32_t id = 0; id < 100; ++id) h.wheel.arm(id, 1000 + 1 + id * 97);  // spread over ~9.5 turns
  h.advance(1000 + 5 * kTurn);
  std::vector<uint32_t> expected;
  for (uint32_t id = 0; id < 100; ++id)
    if (1 + id * 97 <= 5 * kTurn) expected.push_back(id);
  std::vector<uint32_t> got = h.ids();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, expected);
  for (uint32_t id = 0; id < 100; ++id) EXPECT_EQ(h.wheel.armed(id), 1 + id * 97 > 5 * kTurn) << id;
  // A jump far beyond every deadline fires the rest.
  h.advance(UINT64_C(1) << 31);
  EXPECT_EQ(h.fired.size(), 100u);
  for (uint32_t id = 0; id < 100; ++id) EXPECT_FALSE(h.wheel.armed(id));
  // Arming after the jump works relative to the new time.
  h.wheel.arm(5, (UINT64_C(1) << 31) + 2);
  h.advance((UINT64_C(1) << 31) + 1);
  EXPECT_EQ(h.fired.size(), 100u);
  h.advance((UINT64_C(1) << 31) + 2);
  EXPECT_EQ(h.fired.size(), 101u);
}

TEST(TimerWheel, ReArmFromTheCallbackDoesNotFireTwiceInOneSweep) {
  TimerWheel wheel;
  wheel.reserve(8);
  wheel.arm(1, 5);
  wheel.arm(2, 5);
  std::map<uint32_t, int> count;
  // Each callback re-arms its own timer for "now" (which becomes the next tick) and for a tick the
  // sweep has not reached yet, in the same slot walk.
  wheel.advance(5, [&](uint32_t id) {
    ++count[id];
    wheel.arm(id, 5);
  });
  EXPECT_EQ(count[1], 1);
  EXPECT_EQ(count[2], 1);
  EXPECT_EQ(wheel.deadline(1), 6u);
  // A jump over a whole turn sweeps every slot once: a timer re-armed into a slot still ahead of
  // the sweep is not due, so it does not fire again either.
  count.clear();
  wheel.advance(5000, [&](uint32_t id) {
    ++count[id];
    wheel.arm(id, 5500);  // slot 380: swept at tick 4476, after this one (slot 6, tick 4102)
  });
  EXPECT_EQ(count[1], 1);
  EXPECT_EQ(count[2], 1);
  EXPECT_EQ(wheel.deadline(1), 5500u);
  EXPECT_TRUE(wheel.armed(1));
}

// The callback may disarm or move any timer, including the one the sweep would visit next.
TEST(TimerWheel, CallbackMayDisarmTheNextTimerOfTheSlot) {
  TimerWheel wheel;
  wheel.reserve(8);
  // Same slot: 3 and 1 due now, 2 due a turn later. The slot's list is 3, 2, 1 (newest first).
  wheel.arm(1, 4);
  wheel.arm(2, 4 + TimerWheel::kSlots);
  wheel.arm(3, 4);
  std::vector<uint32_t> fired;
  wheel.advance(4, [&](uint32_t id) {
    fired.push_back(id);
    if (id == 3) wheel.disarm(2);  // the next one in the walk
  });
  EXPECT_EQ(fired, (std::vector<uint32_t>{3, 1})) << "1 must still fire after 2 was unlinked";
  EXPECT_FALSE(wheel.armed(2));
  EXPECT_FALSE(wheel.armed(1));

  // Disarming the next timer when it is due as well.
  wheel.arm(1, 10);
  wheel.arm(2, 10);
  wheel.arm(3, 10);
  fired.clear();
  wheel.advance(10, [&](uint32_t id) {
    fired.push_back(id);
    if (id == 3) wheel.disarm(2);
  });
  EXPECT_EQ(fired, (std::vector<uint32_t>{3, 1}));

  // Moving the next timer to another slot.
  wheel.arm(1, 20);
  wheel.arm(2, 20);
  wheel.arm(3, 20);
  fired.clear();
  wheel.advance(20, [&](uint32_t id) {
    fired.push_back(id);
    if (id == 3) wheel.arm(2, 30);
  });
  EXPECT_EQ(fired, (std::vector<uint32_t>{3, 1}));
  EXPECT_TRUE(wheel.armed(2));
  fired.clear();
  wheel.advance(30, [&](uint32_t id) { fired.push_back(id); });
  EXPECT_EQ(fired, (std::vector<uint32_t>{2}));
}

// Random arms, disarms and advances (small steps and jumps), callbacks that re-arm some timers,
// against a brute-force model: a timer fires at the first advance whose time reaches its deadline.
TEST(TimerWheel, RandomAgainstAModel) {
  constexpr uint32_t kIds = 200;
  std::mt19937_64 rng(7);
  uint64_t now = 12345;
  TimerWheel wheel(now);
  wheel.reserve(kIds);
  std::map<uint32_t, uint64_t> model;  // armed id -> deadline
  size_t total_fired = 0;
  for (int step = 0; step < 3000; ++step) {
    const int ops = static_cast<int>(rng() % 8);
    for (int i = 0; i < ops; ++i) {
      const uint32_t id = static_cast<uint32_t>(rng() % kIds);
      if (rng() % 4 == 0) {
        wheel.disarm(id);
        model.erase(id);
      } else {
        const uint64_t span = rng() % 3 == 0 ? 5000 : 40;
        uint64_t deadline = now + rng() % span;
        wheel.arm(id, deadline);
        model[id] = std::max(deadline, now + 1);
      }
    }
    const uint64_t step_ticks = rng() % 50 == 0 ? 3000 + rng() % 3000 : rng() % 6;
    const uint64_t next = now + step_ticks;
    std::vector<uint32_t> due;
    for (auto& [id, deadline] : model)
      if (deadline <= next) due.push_back(id);
    std::vector<uint32_t> got;
    wheel.advance(next, [&](uint32_t id) {
      got.push_back(id);
      ASSERT_TRUE(model.count(id));
      ASSERT_LE(model[id], next);
      model.erase(id);
      if (id % 5 == 0) {  // re-arm some from the callback, sometimes "in the past"
        const uint64_t deadline = next - 3 + rng() % 20;
        wheel.arm(id, deadline);
        model[id] = std::max(deadline, next + 1);
      }
    });
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, due) << "step " << step << " now " << next;
    total_fired += got.size();
    now = next;
    for (uint32_t id = 0; id < kIds; ++id) {
      ASSERT_EQ(wheel.armed(id), model.count(id) == 1) << id;
      if (model.count(id)) {
        ASSERT_EQ(wheel.deadline(id), model[id]);
      }
    }
  }
  EXPECT_GT(total_fired, 2000u);
}

}  // namespace
}  // namespace ringcast
