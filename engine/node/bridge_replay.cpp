// The NATS bridge with JetStream, its replay side: a shard's JOIN with `since` answered on the bridge's
// thread from the room's window, or from the stream when the window does not reach back far enough;
// a room new to this node gets its window started by a marker first. (The publishing side, the
// republished items and the catch-up are in bridge_history.cpp; docs/cluster.md has the design.)
#include <algorithm>
#include <chrono>

#include "engine/limits.h"
#include "engine/node/bridge.h"
#include "engine/node/cluster_state.h"

namespace ringcast {

// A shard's JOIN with `since` (a Target::replay_request entry), on the bridge's thread. The answer
// goes into the ring under history_mu_, so it sits exactly between the room's items committed before
// (all in the replay) and after (all live for the joining connection).
void Bridge::answer_replay(const std::string& room, uint32_t ticket, uint8_t flags, uint64_t since) {
  // The JOIN put the room in the node's table; the bridge may not have followed that change yet. The
  // subscription must be up before the window can say where this node's copy of the room starts.
  if (!subscriptions_.count(room) && setup_.rooms.has_members(room)) {
    subscribe(room);
    subscriptions_changed();
  }
  std::unique_lock<std::mutex> lock(history_mu_);
  auto it = windows_.find(room);
  if (it == windows_.end() || !stream_ready_) {
    commit_replay_control(room, ticket, jetstream::kReplayDone | jetstream::kReplayFailed, 0);
    cluster_.js_replays_failed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  jetstream::RoomWindow* window = &it->second;
  if (!window->started() && !start_window(room, window, lock)) {
    commit_replay_control(room, ticket, jetstream::kReplayDone | jetstream::kReplayFailed, 0);
    cluster_.js_replays_failed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto fail = [&] {
    commit_replay_control(room, ticket, jetstream::kReplayDone | jetstream::kReplayFailed, window->last());
    cluster_.js_replays_failed.fetch_add(1, std::memory_order_relaxed);
  };
  if (flags & (jetstream::kRequestSinceNow | jetstream::kRequestNoReplay)) {
    const bool position_only = flags & jetstream::kRequestSinceNow;
    commit_replay_control(room, ticket,
                          jetstream::kReplayDone | (position_only ? 0 : jetstream::kReplayFailed),
                          window->last());
    if (!position_only) cluster_.js_replays_failed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (since > window->last()) {
    // The client has items this node has not received yet (they are on their way): they are taken
    // from the stream now and committed like live ones; when they arrive they are duplicates.
    fill_gap(room, *window, since);
  }
  std::vector<const jetstream::WindowItem*> items;
  if (window->collect(since, items)) {
    if (items.size() > config_.history_items_max) return fail();
    cluster_.js_replays_window.fetch_add(1, std::memory_order_relaxed);
    commit_replay(room, ticket, items, window->last(), true);
    return;
  }
  // The window does not reach back to `since`: the stream has the rest, unless its limits removed
  // some (it removes the oldest first, so everything after its first sequence is there).
  uint64_t first = 0;
  if (!fetch_first_seq(first) || since + 1 < first) return fail();
  const uint64_t upto = window->from();
  std::vector<jetstream::WindowItem> older;
  lock.unlock();  // the fetch may take a while: live items go on meanwhile
  const bool fetched = fetch_items(room, since, upto, older);
  lock.lock();
  it = windows_.find(room);
  if (it == windows_.end()) {
    commit_replay_control(room, ticket, jetstream::kReplayDone | jetstream::kReplayFailed, 0);
    cluster_.js_replays_failed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  window = &it->second;
  // The window may have moved on (trimmed) while the lock was free: then items are missing between.
  if (!fetched || window->from() > upto) return fail();
  items.clear();
  window->collect(upto, items);
  if (older.size() + items.size() > config_.history_items_max) return fail();
  std::vector<const jetstream::WindowItem*> all;
  all.reserve(older.size() + items.size());
  for (const jetstream::WindowItem& item : older) all.push_back(&item);
  all.insert(all.end(), items.begin(), items.end());
  cluster_.js_replays_stream.fetch_add(1, std::memory_order_relaxed);
  cluster_.js_replay_items_stream.fetch_add(static_cast<int64_t>(older.size()), std::memory_order_relaxed);
  commit_replay(room, ticket, all, window->last(), true);
  // The next JOIN that resumes from about there is answered from the window (a reconnect storm asks
  // the stream once per room), if the budget allows.
  if (window->from() == upto) {
    size_t bytes = 0;
    for (const jetstream::WindowItem& item : older) bytes += item.items.size();
    if (window_bytes_ + bytes <= config_.jetstream_window_bytes) {
      window_bytes_ += window->prepend(older, since);
      cluster_.js_window_bytes.store(static_cast<int64_t>(window_bytes_), std::memory_order_relaxed);
    }
  }
}

// With history_mu_ held (released while waiting): the room's window has seen nothing since the
// subscription, so nobody knows where this node's copy of the room starts. The stream's newest item
// would not do: one stored but still on its way here would then be taken for a duplicate. So a
// marker goes into the room's subject, and the window starts when it (or an item before it) comes
// back through the subscription: everything stored before it has then come, in order.
bool Bridge::start_window(const std::string& room, jetstream::RoomWindow*& window,
                          std::unique_lock<std::mutex>& lock) {
  std::string subject;
  jetstream::stored_room_subject(subject, config_.nats_subject_prefix, room);
  // The marker comes back only once the stream's server knows of this node's new subscription. In a
  // NATS cluster that interest reaches the other servers over their routes a moment after our own
  // server confirmed it (the flush), and a marker republished before then is not delivered here. So a
  // marker that does not come back soon is followed by another, until kJsRequestWaitMs.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limits::kJsRequestWaitMs);
  for (;;) {
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, room.data(), static_cast<int>(room.size()));
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, jetstream::kMarkerHeader, "1");
    jsPubAck* ack = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    lock.unlock();
    if (s == NATS_OK) s = js_PublishMsg(&ack, fetch_js_, msg, nullptr, &code);
    natsMsg_Destroy(msg);
    const uint64_t marker = s == NATS_OK && ack ? ack->Sequence : 0;
    if (ack) jsPubAck_Destroy(ack);
    lock.lock();
    if (marker == 0 || windows_.find(room) == windows_.end()) return false;
    const auto wait_until =
        std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(limits::kJsMarkerWaitMs));
    window_started_.wait_until(lock, wait_until, [&] {
      auto again = windows_.find(room);
      return again == windows_.end() || (again->second.started() && again->second.last() >= marker);
    });
    auto it = windows_.find(room);
    if (it == windows_.end()) return false;
    if (it->second.started() && it->second.last() >= marker) {
      window = &it->second;
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

// With history_mu_ held: the replay's items as PUSH frames for one connection (cut like coalesced
// frames), then the last entry with the position the fan-out takes over from.
void Bridge::commit_replay(const std::string& room, uint32_t ticket,
                           const std::vector<const jetstream::WindowItem*>& items, uint64_t position,
                           bool recovered) {
  size_t i = 0;
  while (i < items.size()) {
    replay_items_.clear();
    replay_items_.push_back('[');
    uint32_t count = 0;
    uint64_t chunk_last = 0;
    for (; i < items.size(); ++i) {
      const std::string_view inner(items[i]->items.data() + 1, items[i]->items.size() - 2);
      if (count > 0 && (count >= config_.merge_batch_items_max ||
                        replay_items_.size() + inner.size() + 64 > config_.merge_frame_bytes_max))
        break;
      if (count > 0) replay_items_ += ',';
      replay_items_ += inner;
      chunk_last = items[i]->position;
      ++count;
    }
    replay_items_ += ']';
    bool committed = false;
    for (int waited_ms = 0; waited_ms < limits::kBridgeRingFullWaitMs; ++waited_ms) {
      const PublishOutcome out =
          publisher_.publish_at(setup_.ring, Target::replay, room, replay_items_, ticket, chunk_last);
      if (out.error == PublishError::none) {
        committed = true;
        break;
      }
      if (out.error != PublishError::ring_full) break;
      usleep(1000);
    }
    if (!committed) {
      recovered = false;
      break;
    }
  }
  commit_replay_control(room, ticket, jetstream::kReplayDone | (recovered ? 0 : jetstream::kReplayFailed),
                        position);
}

bool Bridge::commit_replay_control(const std::string& room, uint32_t ticket, uint8_t flags, uint64_t value) {
  ClaimRecord* record = &setup_.ring.control()->claims[setup_.slot];
  for (int waited_ms = 0; waited_ms < limits::kBridgeRingFullWaitMs; ++waited_ms) {
    if (jetstream::commit_control(setup_.ring, record, Target::replay, room, ticket, flags, value))
      return true;
    usleep(1000);
  }
  return false;  // the shard's wait times out: recovered:false
}

}  // namespace ringcast
