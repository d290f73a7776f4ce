// The NATS bridge with JetStream (config `jetstream`, docs/cluster.md): room pushes staged on this
// node go to the cluster's stream, which numbers them; the stream republishes each item with its
// position and the room's previous one, which is how every node (this one too) commits it exactly
// once and sees a gap to fill from the stream. The bridge also answers the shards' replay requests
// (bridge_replay.cpp: from each room's window, or from the stream when the window does not reach back).
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/limits.h"
#include "engine/node/bridge.h"
#include "engine/node/cluster_state.h"
#include "engine/node/nats_tls.h"

namespace ringcast {
namespace {

constexpr const char* kAttemptHeader = "Ringcast-Attempt";

int64_t monotonic_ms() {
  return clock::monotonic_ns() / 1'000'000;
}

uint64_t header_number(natsMsg* msg, const char* name) {
  const char* text = nullptr;
  if (natsMsgHeader_Get(msg, name, &text) != NATS_OK || !text) return 0;
  uint64_t v = 0;
  const std::string_view sv(text);
  std::from_chars(sv.data(), sv.data() + sv.size(), v);
  return v;
}

void max_into(std::atomic<int64_t>& max, int64_t v) {
  int64_t seen = max.load(std::memory_order_relaxed);
  while (v > seen && !max.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
  }
}

}  // namespace

bool Bridge::start_history(std::string& error) {
  ring_epoch_ = setup_.ring.epoch();
  live_prefix_ = config_.nats_subject_prefix + ".l.";
  stream_ = jetstream::stream_name(config_.nats_subject_prefix);
  natsStatus s = open_publish_context();
  // Requests that wait for an answer (direct gets, the stream's info) use a second connection, whose
  // answers do not queue behind the messages of the delivery thread that may be the one asking.
  if (s == NATS_OK) s = natsOptions_Create(&fetch_options_);
  const std::vector<std::string> urls = split_list(config_.nats);
  std::vector<const char*> url_ptrs;
  for (const std::string& u : urls) url_ptrs.push_back(u.c_str());
  const std::string name = "ringcast node " + std::to_string(node_id_) + " history";
  if (s == NATS_OK)
    s = natsOptions_SetServers(fetch_options_, url_ptrs.data(), static_cast<int>(url_ptrs.size()));
  if (s == NATS_OK) s = natsOptions_SetName(fetch_options_, name.c_str());
  if (s == NATS_OK && nats_tls_on(config_)) s = set_nats_tls(fetch_options_, config_);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(fetch_options_, -1);
  if (s == NATS_OK) s = natsOptions_SetCustomReconnectDelay(fetch_options_, reconnect_delay, this);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(fetch_options_, true, nullptr, nullptr);
  if (s == NATS_OK) s = natsOptions_SetTimeout(fetch_options_, 2000);
  if (s == NATS_OK) {
    s = natsConnection_Connect(&fetch_connection_, fetch_options_);
    if (s == NATS_NOT_YET_CONNECTED) s = NATS_OK;
  }
  if (s == NATS_OK) {
    jsOptions fo;
    jsOptions_Init(&fo);
    fo.Wait = limits::kJsRequestWaitMs;
    s = natsConnection_JetStream(&fetch_js_, fetch_connection_, &fo);
  }
  if (s != NATS_OK) {
    error = std::string("JetStream: ") + nats_error_text(s);
    return false;
  }
  return true;
}

natsStatus Bridge::open_publish_context() {
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = config_.jetstream_ack_timeout_ms;
  o.PublishAsync.MaxPending = limits::kJsPublishPendingMax;
  o.PublishAsync.AckHandler = on_ack;
  o.PublishAsync.AckHandlerClosure = this;
  o.PublishAsync.StallWait = limits::kJsStallWaitMs;
  return natsConnection_JetStream(&js_, connection_, &o);
}

bool Bridge::history_turn() {
  bool busy = false;
  const bool connected = cluster_.connected.load(std::memory_order_acquire);
  if (!stream_ready_ && connected && monotonic_ms() >= stream_probe_at_ms_) {
    if (!setup_stream()) stream_probe_at_ms_ = monotonic_ms() + limits::kBridgeReconcileRetryMs;
    busy = true;
  }
  if (stream_ready_ && connected && !cluster_.history_ok.load(std::memory_order_acquire)) probe_stream();
  resend_failed();
  if (stream_ready_ && connected && monotonic_ms() >= catch_up_at_ms_ &&
      catch_up_needed_.exchange(false, std::memory_order_relaxed)) {
    catch_up();
    busy = true;
  }
  return busy;
}

// Finds the stream or creates it with this node's settings (an existing one is updated to them, so
// the limits follow the configuration). Its creation time names the history: the epoch.
bool Bridge::setup_stream() {
  const std::string stored = jetstream::stored_subjects(config_.nats_subject_prefix);
  const std::string live = jetstream::live_subjects(config_.nats_subject_prefix);
  const char* subjects[] = {stored.c_str()};
  jsRePublish republish;
  jsRePublish_Init(&republish);
  republish.Source = stored.c_str();
  republish.Destination = live.c_str();
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = stream_.c_str();
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.RePublish = &republish;
  sc.AllowDirect = true;
  sc.Storage = config_.jetstream_storage == "memory" ? js_MemoryStorage : js_FileStorage;
  sc.Replicas = config_.jetstream_replicas;
  sc.MaxMsgs = config_.jetstream_max_msgs ? static_cast<int64_t>(config_.jetstream_max_msgs) : -1;
  sc.MaxBytes = config_.jetstream_max_bytes ? static_cast<int64_t>(config_.jetstream_max_bytes) : -1;
  sc.MaxAge = static_cast<int64_t>(config_.history_ttl_ms) * 1'000'000;
  sc.Duplicates = limits::kJsDuplicateWindowMs * 1'000'000;
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&si, fetch_js_, &sc, nullptr, &code);
  if (s != NATS_OK && code == JSStreamNameExistErr) s = js_UpdateStream(&si, fetch_js_, &sc, nullptr, &code);
  if (s != NATS_OK) {
    // Another node made it with other limits, or the update is not allowed (storage type): use it.
    LOG_WARN("cluster: stream %s: create/update refused (%s, code %d); using it as it is", stream_.c_str(),
             natsStatus_GetText(s), static_cast<int>(code));
    s = js_GetStreamInfo(&si, fetch_js_, stream_.c_str(), nullptr, &code);
  }
  if (s != NATS_OK || !si) {
    const int64_t now = monotonic_ms();
    if (now - publish_failure_logged_ms_ >= limits::kBridgeLogEveryMs) {
      publish_failure_logged_ms_ = now;
      LOG_WARN("cluster: JetStream stream %s unavailable (%s); room pushes answer 503 meanwhile",
               stream_.c_str(), natsStatus_GetText(s));
    }
    return false;
  }
  const uint64_t epoch = jetstream::epoch_of(stream_, si->Created);
  jsStreamInfo_Destroy(si);
  cluster_.history_epoch.store(epoch, std::memory_order_release);
  cluster_.history_ok.store(1, std::memory_order_release);
  stream_ready_ = true;
  LOG_INFO("cluster: history in JetStream stream %s (epoch %016llx)", stream_.c_str(),
           static_cast<unsigned long long>(epoch));
  return true;
}

// After an ack failure the API refuses room pushes (503) until the stream answers again.
void Bridge::probe_stream() {
  const int64_t now = monotonic_ms();
  if (now < stream_probe_at_ms_) return;
  stream_probe_at_ms_ = now + limits::kJsProbeEveryMs;
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&si, fetch_js_, stream_.c_str(), nullptr, &code) == NATS_OK && si) {
    jsStreamInfo_Destroy(si);
    cluster_.history_ok.store(1, std::memory_order_release);
    LOG_INFO("cluster: JetStream stream %s answers again", stream_.c_str());
  }
}

// Staged room pushes go to the stream grouped by room: what one forward() turn takes from the ring
// for a room is one message (one position, like one push of several items), which under load saves
// the stream most of its per-message work and adds no wait (only pushes already there are grouped).
// A room's pushes keep their order; a group is cut at kJsBatchBytesMax.
void Bridge::stage(const RingEntry& entry) {
  const std::string room(entry.room());
  StagedBatch& batch = staged_[room];
  if (batch.entries > 0 && batch.items.size() + 1 + entry.items_len > limits::kJsBatchBytesMax) {
    send_staged();
    return stage(entry);
  }
  if (batch.entries == 0) {
    batch.first_seq = entry.seq;
    batch.publish_ns = entry.publish_ns;
  } else {
    batch.items += ',';
  }
  batch.items.append(entry.items());
  ++batch.entries;
}

void Bridge::send_staged() {
  for (auto& [room, batch] : staged_) {
    if (batch.entries == 0) continue;
    message_.clear();
    cluster::encode(message_, Target::room, room, batch.first_seq, batch.items, node_id_);
    jetstream::stored_room_subject(history_subject_, config_.nats_subject_prefix, room);
    message_id_ = jetstream::message_id(node_id_, ring_epoch_, batch.first_seq);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = message_id_.c_str();
    po.MaxWait = config_.jetstream_ack_timeout_ms;
    sent_ns_[batch.first_seq % kSentSlots].store(batch.publish_ns, std::memory_order_relaxed);
    natsStatus s;
    // kJsPublishPendingMax in flight: wait for acks (each try waits kJsStallWaitMs). The pushes are
    // out of the ring already, so they wait here; the ring then fills and the API answers 503.
    while ((s = js_PublishAsync(js_, history_subject_.c_str(), message_.data(),
                                static_cast<int>(message_.size()), &po)) == NATS_TIMEOUT &&
           !cluster_.stop.load(std::memory_order_relaxed)) {
    }
    if (s == NATS_OK) {
      cluster_.published.fetch_add(batch.entries, std::memory_order_relaxed);
      in_flight_.fetch_add(1, std::memory_order_acq_rel);
    } else {
      cluster_.publish_failed.fetch_add(batch.entries, std::memory_order_relaxed);
      cluster_.js_publish_failed.fetch_add(batch.entries, std::memory_order_relaxed);
      const int64_t now = monotonic_ms();
      if (now - publish_failure_logged_ms_ >= limits::kBridgeLogEveryMs) {
        publish_failure_logged_ms_ = now;
        LOG_WARN(
            "cluster: room pushes could not be sent to the stream (%s): delivered nowhere, counted in "
            "jsPublishFailed",
            natsStatus_GetText(s));
      }
    }
    batch.items.clear();
    batch.entries = 0;
  }
  // Rooms that were busy once do not keep an empty batch forever.
  if (staged_.size() > limits::kJsBatchRoomsKept) staged_.clear();
}

// On libnats' delivery thread (the acks' subscription shares the node's one delivery thread).
void Bridge::on_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* self) {
  auto* bridge = static_cast<Bridge*>(self);
  ClusterState& cluster = bridge->cluster_;
  if (ack) {
    cluster.js_acked.fetch_add(1, std::memory_order_relaxed);
    bridge->in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    const char* id = nullptr;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id) {
      const uint64_t seq = jetstream::message_id_seq(id);
      const int64_t sent = bridge->sent_ns_[seq % kSentSlots].load(std::memory_order_relaxed);
      const int64_t took = clock::monotonic_ns() - sent;
      if (sent > 0 && took >= 0 && took < 3'600'000'000'000) {
        cluster.js_ack_ns_sum.fetch_add(took, std::memory_order_relaxed);
        max_into(cluster.js_ack_ns_max, took);
      }
    }
    natsMsg_Destroy(msg);
    return;
  }
  if (error) {
    // An ack timeout or an error: the stream may not have it. Sent again with the same message id, so
    // that one it did store is not stored twice (kJsDuplicateWindowMs). Meanwhile the API refuses
    // room pushes until the stream answers (probe_stream).
    cluster.history_ok.store(0, std::memory_order_release);
    const int attempt = static_cast<int>(header_number(msg, kAttemptHeader));
    const int attempts = attempt > 0 ? attempt : 1;
    if (attempts < limits::kJsPublishAttempts && !cluster.stop.load(std::memory_order_relaxed)) {
      const std::string next = std::to_string(attempts + 1);
      natsMsgHeader_Set(msg, kAttemptHeader, next.c_str());
      cluster.js_publish_retries.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(bridge->resend_mu_);
      bridge->resend_.push_back(msg);  // the bridge's thread sends it (it may have to wait for room)
      return;
    }
    cluster.js_publish_failed.fetch_add(1, std::memory_order_relaxed);
    bridge->in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    LOG_WARN(
        "cluster: a room push was not acknowledged by the stream after %d attempts (%s): delivered "
        "nowhere, counted in jsPublishFailed",
        limits::kJsPublishAttempts, natsStatus_GetText(error->Err));
  }
  natsMsg_Destroy(msg);
}

// Sends again what the stream did not acknowledge in time (lost with a connection, or refused), oldest
// ring entry first; if the stream did store one, the message id makes the second copy a duplicate it
// drops. (libnats' js_PublishAsyncGetPendingList is not used: in 3.4.1 it leaves the timers of the
// messages it hands back armed.)
void Bridge::resend_failed() {
  if (!cluster_.connected.load(std::memory_order_acquire)) return;
  std::vector<natsMsg*> batch;
  {
    std::lock_guard<std::mutex> lock(resend_mu_);
    batch.swap(resend_);
  }
  if (batch.empty()) return;
  auto seq_of = [](natsMsg* m) -> uint64_t {
    const char* id = nullptr;
    return natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id ? jetstream::message_id_seq(id) : 0;
  };
  std::stable_sort(batch.begin(), batch.end(), [&](natsMsg* x, natsMsg* y) { return seq_of(x) < seq_of(y); });
  size_t i = 0;
  for (; i < batch.size(); ++i) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = config_.jetstream_ack_timeout_ms;
    if (js_PublishMsgAsync(js_, &batch[i], &po) != NATS_OK) break;  // no room yet: the rest waits
  }
  std::lock_guard<std::mutex> lock(resend_mu_);
  resend_.insert(resend_.begin(), batch.begin() + static_cast<std::ptrdiff_t>(i), batch.end());
}

// On libnats' delivery thread: an item the stream stored and republished on a room's live subject.
void Bridge::receive_history(natsMsg* msg) {
  const uint64_t position = header_number(msg, JSSequence);
  const uint64_t previous = header_number(msg, JSLastSequence);
  const char* marker = nullptr;
  if (natsMsgHeader_Get(msg, jetstream::kMarkerHeader, &marker) == NATS_OK && position > 0) {
    // A node's marker: no item, but a position of the room every node's window moves past.
    std::lock_guard<std::mutex> lock(history_mu_);
    auto it = windows_.find(natsMsg_GetData(msg) ? std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg))
                                                 : std::string());
    if (it != windows_.end()) {
      if (it->second.fit(position, previous) == jetstream::RoomWindow::Fit::gap)
        fill_gap(it->first, it->second, previous);
      it->second.skip(position, previous);
      window_started_.notify_all();
    }
    return;
  }
  cluster::Message m;
  const cluster::DecodeError error = cluster::decode(
      std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))), m);
  if (error != cluster::DecodeError::none || m.origin == 0 || m.target != Target::room || position == 0) {
    cluster_.rejected.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::string room(m.room);
  std::lock_guard<std::mutex> lock(history_mu_);
  auto it = windows_.find(room);
  if (it == windows_.end()) return;  // unsubscribed meanwhile
  jetstream::RoomWindow& window = it->second;
  switch (window.fit(position, previous)) {
    case jetstream::RoomWindow::Fit::duplicate:
      cluster_.js_duplicates.fetch_add(1, std::memory_order_relaxed);
      return;
    case jetstream::RoomWindow::Fit::gap:
      // Items of the room came and went past this node (an outage, a message lost between servers):
      // they are fetched and committed first, so that order holds.
      cluster_.js_gaps.fetch_add(1, std::memory_order_relaxed);
      fill_gap(room, window, previous);
      if (window.last() < previous) cluster_.js_catchup_missed.fetch_add(1, std::memory_order_relaxed);
      break;
    case jetstream::RoomWindow::Fit::next:
      break;
  }
  if (commit_room_item(room, m.origin, position, m.items)) {
    cluster_.received.fetch_add(1, std::memory_order_relaxed);
    append_window(window, position, previous, m.items);
    window_started_.notify_all();
  }
}

// With history_mu_ held. The same validation and encoding as a local push, with the stream's position
// as the PUSH `seq`; waits a little for ring space like receive().
bool Bridge::commit_room_item(const std::string& room, uint32_t origin, uint64_t position,
                              std::string_view items) {
  for (int waited_ms = 0;; ++waited_ms) {
    const PublishOutcome out =
        publisher_.publish_at(setup_.ring, Target::room, room, items, origin, position);
    if (out.error == PublishError::none) return true;
    if (out.error != PublishError::ring_full) {
      cluster_.rejected.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (waited_ms >= limits::kBridgeRingFullWaitMs || cluster_.stop.load(std::memory_order_relaxed)) {
      cluster_.receive_failed.fetch_add(1, std::memory_order_relaxed);
      LOG_WARN("cluster: ring full for %d ms: a room item was dropped (clusterReceiveFailed)",
               limits::kBridgeRingFullWaitMs);
      return false;
    }
    usleep(1000);
  }
}

void Bridge::append_window(jetstream::RoomWindow& window, uint64_t position, uint64_t previous,
                           std::string_view items) {
  window_bytes_ += window.append(position, previous, items);
  // Over the node's budget: this room's oldest items go (its replays then reach the stream sooner).
  if (window_bytes_ > config_.jetstream_window_bytes)
    window_bytes_ -= window.trim(window_bytes_ - config_.jetstream_window_bytes);
  cluster_.js_window_bytes.store(static_cast<int64_t>(window_bytes_), std::memory_order_relaxed);
}

// With history_mu_ held: fetches the room's items in (last, upto] from the stream and commits them.
bool Bridge::fill_gap(const std::string& room, jetstream::RoomWindow& window, uint64_t upto) {
  std::vector<jetstream::WindowItem> items;
  const bool complete = fetch_items(room, window.last(), upto, items);
  for (jetstream::WindowItem& item : items) {
    if (item.position <= window.last()) continue;
    if (!commit_room_item(room, node_id_, item.position, item.items)) return false;
    append_window(window, item.position, window.last(), item.items);
    cluster_.js_catchup_items.fetch_add(1, std::memory_order_relaxed);
  }
  // Everything up to `upto` was fetched: positions past the last item were markers.
  if (complete) window.skip(upto, window.last());
  return complete;
}

// The room's items with positions in (after, upto], oldest first, one direct get each (nats-server
// 2.9 has no batch get). False when the stream did not answer.
bool Bridge::fetch_items(const std::string& room, uint64_t after, uint64_t upto,
                         std::vector<jetstream::WindowItem>& out) {
  std::string subject;
  jetstream::stored_room_subject(subject, config_.nats_subject_prefix, room);
  uint64_t next = after + 1;
  while (next <= upto) {
    jsDirectGetMsgOptions dg;
    jsDirectGetMsgOptions_Init(&dg);
    dg.Sequence = next;
    dg.NextBySubject = subject.c_str();
    natsMsg* msg = nullptr;
    const natsStatus s = js_DirectGetMsg(&msg, fetch_js_, stream_.c_str(), nullptr, &dg);
    if (s == NATS_NOT_FOUND) return true;  // nothing more of the room
    if (s != NATS_OK) {
      LOG_DEBUG("cluster: direct get from %s failed: %s", stream_.c_str(), natsStatus_GetText(s));
      return false;
    }
    const uint64_t position = header_number(msg, JSSequence);
    cluster::Message m;
    const bool ok =
        position >= next && cluster::decode(std::string_view(natsMsg_GetData(msg),
                                                             static_cast<size_t>(natsMsg_GetDataLength(msg))),
                                            m) == cluster::DecodeError::none;
    const char* marker = nullptr;
    const bool is_marker = natsMsgHeader_Get(msg, jetstream::kMarkerHeader, &marker) == NATS_OK;
    if (is_marker) {
      natsMsg_Destroy(msg);
      next = position + 1;
      continue;
    }
    if (ok && position <= upto) out.push_back(jetstream::WindowItem{position, std::string(m.items)});
    natsMsg_Destroy(msg);
    if (!ok) return false;
    next = position + 1;
  }
  return true;
}

bool Bridge::fetch_last(const std::string& room, uint64_t& last) {
  std::string subject;
  jetstream::stored_room_subject(subject, config_.nats_subject_prefix, room);
  jsDirectGetMsgOptions dg;
  jsDirectGetMsgOptions_Init(&dg);
  dg.LastBySubject = subject.c_str();
  natsMsg* msg = nullptr;
  const natsStatus s = js_DirectGetMsg(&msg, fetch_js_, stream_.c_str(), nullptr, &dg);
  if (s == NATS_NOT_FOUND) {
    last = 0;
    return true;
  }
  if (s != NATS_OK) return false;
  last = header_number(msg, JSSequence);
  natsMsg_Destroy(msg);
  return last > 0;
}

bool Bridge::fetch_first_seq(uint64_t& first) {
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&si, fetch_js_, stream_.c_str(), nullptr, &code) != NATS_OK || !si) return false;
  first = si->State.FirstSeq;
  jsStreamInfo_Destroy(si);
  return true;
}

void Bridge::history_subscribed(const std::string& room) {
  std::lock_guard<std::mutex> lock(history_mu_);
  windows_.try_emplace(room);
}

void Bridge::history_unsubscribed(const std::string& room) {
  std::lock_guard<std::mutex> lock(history_mu_);
  auto it = windows_.find(room);
  if (it == windows_.end()) return;
  window_bytes_ -= it->second.bytes();
  windows_.erase(it);
  cluster_.js_window_bytes.store(static_cast<int64_t>(window_bytes_), std::memory_order_relaxed);
}

// After a reconnect: every room this node follows is checked against the stream's newest item of it,
// and what came meanwhile is fetched (items that come live later are duplicates, skipped).
void Bridge::catch_up() {
  std::vector<std::string> rooms;
  {
    std::lock_guard<std::mutex> lock(history_mu_);
    for (const auto& [room, window] : windows_)
      if (window.started()) rooms.push_back(room);
  }
  cluster_.js_catchup_pending.store(static_cast<int64_t>(rooms.size()), std::memory_order_relaxed);
  bool complete = true;
  for (const std::string& room : rooms) {
    if (cluster_.stop.load(std::memory_order_relaxed)) break;
    uint64_t newest = 0;
    if (!fetch_last(room, newest)) {
      complete = false;
    } else {
      std::lock_guard<std::mutex> lock(history_mu_);
      auto it = windows_.find(room);
      if (it != windows_.end() && it->second.started() && newest > it->second.last()) {
        cluster_.js_gaps.fetch_add(1, std::memory_order_relaxed);
        if (!fill_gap(room, it->second, newest)) complete = false;
      }
    }
    cluster_.js_catchup_pending.fetch_sub(1, std::memory_order_relaxed);
  }
  cluster_.js_catchup_pending.store(0, std::memory_order_relaxed);
  if (!complete) {  // tried again a little later
    catch_up_at_ms_ = monotonic_ms() + limits::kBridgeReconcileRetryMs;
    catch_up_needed_.store(true, std::memory_order_relaxed);
  }
}

void Bridge::stop_history() {
  if (!js_) return;
  // What was accepted last still reaches the stream (or its ack times out).
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = config_.jetstream_ack_timeout_ms;
  resend_failed();
  if (cluster_.connected.load(std::memory_order_acquire)) js_PublishAsyncComplete(js_, &po);
}

}  // namespace ringcast
