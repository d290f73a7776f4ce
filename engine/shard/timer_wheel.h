// A hashed timer wheel over connection ids: one timer per connection (handshake deadline, heartbeat,
// close wait, linger), O(1) arm and disarm, and a sweep that touches only the slots of ticks that
// passed. Deadlines beyond one turn of the wheel stay in their slot until their turn comes.
// Heartbeats are re-armed lazily: the shard arms the deadline once and, when it fires, checks the
// last receive time and re-arms for the remainder, so a busy connection costs nothing per message.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/base/check.h"
#include "engine/base/ids.h"

namespace ringcast {

class TimerWheel {
 public:
  static constexpr uint32_t kSlots = 1024;

  explicit TimerWheel(uint64_t now_tick = 0) : last_tick_(now_tick), slots_(kSlots, kNil) {}

  // Exact growth (no doubling): these tables are per connection and sized to the slab.
  void reserve(uint32_t ids) {
    if (next_.size() >= ids) return;
    next_.reserve(ids);
    prev_.reserve(ids);
    deadline_.reserve(ids);
    next_.resize(ids, kNil);
    prev_.resize(ids, kNil);
    deadline_.resize(ids, 0);
  }

  bool armed(uint32_t id) const { return deadline_[id] != 0; }
  uint64_t deadline(uint32_t id) const { return deadline_[id]; }

  void arm(uint32_t id, uint64_t deadline_tick) {
    if (armed(id)) unlink(id);
    if (deadline_tick <= last_tick_) deadline_tick = last_tick_ + 1;
    RC_ASSERT(deadline_tick <= UINT32_MAX);  // 100 ms ticks: 13 years of uptime
    deadline_[id] = static_cast<uint32_t>(deadline_tick);
    uint32_t& head = slots_[deadline_tick % kSlots];
    next_[id] = head;
    prev_[id] = kNil;
    if (head != kNil) prev_[head] = id;
    head = id;
  }

  void disarm(uint32_t id) {
    if (armed(id)) unlink(id);
  }

  // Fires fn(id) for every timer due at or before now_tick. fn may re-arm or disarm any id.
  template <class Fn>
  void advance(uint64_t now_tick, Fn&& fn) {
    if (now_tick <= last_tick_) return;
    uint64_t ticks = now_tick - last_tick_;
    if (ticks > kSlots) ticks = kSlots;  // every slot once is enough
    // Timers armed from fn land after now_tick, so nothing fires twice in one sweep.
    last_tick_ = now_tick;
    for (uint64_t t = now_tick - ticks + 1; t <= now_tick; ++t) {
      uint32_t id = slots_[t % kSlots];
      while (id != kNil) {
        // fn may disarm or move the next timer of this slot; unlink() keeps sweep_next_ on the list.
        sweep_next_ = next_[id];
        if (deadline_[id] <= now_tick) {
          unlink(id);
          fn(id);
        }
        id = sweep_next_;
      }
    }
    sweep_next_ = kNil;
  }

 private:
  void unlink(uint32_t id) {
    RC_ASSERT(armed(id));
    if (id == sweep_next_) sweep_next_ = next_[id];
    if (prev_[id] != kNil)
      next_[prev_[id]] = next_[id];
    else
      slots_[deadline_[id] % kSlots] = next_[id];
    if (next_[id] != kNil) prev_[next_[id]] = prev_[id];
    next_[id] = prev_[id] = kNil;
    deadline_[id] = 0;  // 0: not armed (every deadline is at least one tick ahead)
  }

  uint64_t last_tick_;
  uint32_t sweep_next_ = kNil;  // the timer advance() visits next
  std::vector<uint32_t> slots_;
  std::vector<uint32_t> next_;
  std::vector<uint32_t> prev_;
  std::vector<uint32_t> deadline_;
};

}  // namespace ringcast
