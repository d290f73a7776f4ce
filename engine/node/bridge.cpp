// The NATS bridge's two directions and its connection handling. Threads: the bridge's own (forwarding,
// following the room table, sleeping on its eventfd) and libnats' (its reader, flusher and reconnect
// threads, and one message delivery thread that calls on_message). The two directions share nothing
// but the ring and the cluster counters.
#include "engine/node/bridge.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <unordered_set>

#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/limits.h"
#include "engine/node/cluster_state.h"
#include "engine/node/nats_tls.h"

namespace ringcast {
namespace {

int64_t monotonic_ms() {
  return clock::monotonic_ns() / 1'000'000;
}

std::string connected_url(natsConnection* nc) {
  char url[256] = "";
  if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) != NATS_OK) return "?";
  return url;
}

}  // namespace

std::string nats_error_text(natsStatus s) {
  // libnats keeps the details (a file it could not load, a certificate it refused) per thread, after
  // the place in its source that noticed: "(conn.c:733): SSL handshake error: ...".
  std::string_view detail = nats_GetLastError(nullptr) ? nats_GetLastError(nullptr) : "";
  if (detail.starts_with('(')) {
    const size_t end = detail.find("): ");
    if (end != std::string_view::npos) detail.remove_prefix(end + 3);
  }
  return detail.empty() ? natsStatus_GetText(s) : std::string(detail);
}

Bridge::Bridge(const BridgeSetup& setup)
    : setup_(setup),
      config_(*setup.config),
      cluster_(setup.shared->cluster),
      node_id_(setup.shared->cluster.node_id.load(std::memory_order_relaxed)),
      all_subject_(cluster::all_subject(setup.config->nats_subject_prefix)),
      user_subject_(cluster::user_subject(setup.config->nats_subject_prefix)),
      publisher_(setup.settings->publish) {
  // The delivery thread is the bridge's only ring producer; in workers mode its claim record lets the
  // supervisor repair a publish this process died in the middle of.
  publisher_.set_claim_record(&setup.ring.control()->claims[setup.slot]);
}

Bridge::~Bridge() {
  shutdown();
}

bool Bridge::start(std::string& error) {
  start_presence();
  // Outbound first: from here on every local push is forwarded (the API refuses them until connected).
  if (setup_.resume && cluster_.cursor_valid.load(std::memory_order_acquire)) {
    pos_ = cluster_.cursor_pos.load(std::memory_order_relaxed);
    seq_ = cluster_.cursor_seq.load(std::memory_order_relaxed);
    setup_.ring.resume(setup_.slot, setup_.wake_fd, pos_);
  } else {
    setup_.ring.attach(setup_.slot, setup_.wake_fd, pos_, seq_);
  }
  cluster_.cursor_pos.store(pos_, std::memory_order_relaxed);
  cluster_.cursor_seq.store(seq_, std::memory_order_relaxed);
  cluster_.cursor_valid.store(1, std::memory_order_release);

  // All subscriptions deliver through one thread of libnats' pool: messages are committed in the
  // order they arrived, and there is one producer (one Publisher, one claim record) on this side.
  natsStatus s = nats_SetMessageDeliveryPoolSize(1);
  if (s == NATS_OK) s = natsOptions_Create(&options_);
  const std::vector<std::string> urls = split_list(config_.nats);
  std::vector<const char*> url_ptrs;
  for (const std::string& u : urls) url_ptrs.push_back(u.c_str());
  const std::string name = "ringcast node " + std::to_string(node_id_);
  if (s == NATS_OK) s = natsOptions_SetServers(options_, url_ptrs.data(), static_cast<int>(url_ptrs.size()));
  if (s == NATS_OK) s = natsOptions_SetName(options_, name.c_str());
  if (s == NATS_OK && nats_tls_on(config_)) s = set_nats_tls(options_, config_);
  // The server does not send this connection's own publishes back: a node never receives (and so
  // never delivers twice) what it forwarded itself. The origin check in receive() is the second net.
  if (s == NATS_OK) s = natsOptions_SetNoEcho(options_, true);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(options_, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(options_, -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetCustomReconnectDelay(options_, reconnect_delay, this);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(options_, true, on_connected, this);
  if (s == NATS_OK) s = natsOptions_UseGlobalMessageDelivery(options_, true);
  if (s == NATS_OK) s = natsOptions_SetMaxPendingMsgs(options_, limits::kBridgeMaxPendingMsgs);
  // A dead peer that does not close the socket is noticed within ~3 pings.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(options_, 5000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(options_, 3);
  if (s == NATS_OK) s = natsOptions_SetTimeout(options_, 2000);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(options_, on_disconnected, this);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(options_, on_reconnected, this);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(options_, on_closed, this);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(options_, on_error, this);
  if (s != NATS_OK) {
    error = std::string("NATS client options: ") + nats_error_text(s);
    return false;
  }
  if (nats_tls_on(config_))
    LOG_INFO("cluster: TLS to NATS, servers verified against %s%s%s",
             config_.nats_tls_ca_file.empty() ? "the system's CAs" : config_.nats_tls_ca_file.c_str(),
             config_.nats_tls_cert_file.empty() ? "" : ", client certificate ",
             config_.nats_tls_cert_file.c_str());
  s = natsConnection_Connect(&connection_, options_);
  if (s == NATS_OK) {
    cluster_.connected.store(1, std::memory_order_release);
    LOG_INFO("cluster: node %u connected to %s (subjects %s.*)", node_id_, connected_url(connection_).c_str(),
             config_.nats_subject_prefix.c_str());
  } else if (s == NATS_NOT_YET_CONNECTED) {
    LOG_WARN("cluster: node %u cannot reach NATS (%s) yet; retrying, pushes answer 503 meanwhile", node_id_,
             config_.nats.c_str());
  } else {
    error = std::string("NATS connect: ") + nats_error_text(s);
    return false;
  }
  return !config_.jetstream || start_history(error);
}

void Bridge::run() {
  if (natsConnection_IsClosed(connection_))
    reopen();  // libnats gave up at once (see reopen()): subscribing to it would only fail
  else
    reconcile_all();
  while (!cluster_.stop.load(std::memory_order_acquire)) {
    bool busy = forward(limits::kBridgeForwardBatch) == limits::kBridgeForwardBatch;
    busy |= follow_rooms();
    if (natsConnection_IsClosed(connection_)) reopen();
    if (reconcile_needed_ && monotonic_ms() >= reconcile_at_ms_ && !natsConnection_IsClosed(connection_))
      reconcile_all();
    if (slow_consumer_seen_.exchange(false, std::memory_order_relaxed)) count_dropped();
    if (config_.jetstream) busy |= history_turn();
    busy |= presence_turn();
    if (!busy) sleep();
  }
  say_goodbye();  // the other nodes stop expecting this one's presence answers
  // The node is stopping and its shards are gone: what they published last still goes out.
  while (forward(limits::kBridgeForwardBatch) > 0) {
  }
  stop_history();
  if (cluster_.connected.load(std::memory_order_acquire))
    natsConnection_FlushTimeout(connection_, limits::kBridgeFinalFlushTimeoutMs);
  shutdown();
}

// libnats 3.4 (Debian 12's) closes a connection for good when its very first attempt got past TCP
// and then failed (a certificate refused either way, a host name that does not match, a server that
// hung up), where it keeps retrying a server that does not answer at all (fixed upstream in nats.c
// 3.12, commit 77843e72). A closed connection never comes back, so the bridge opens a new one: one
// attempt per reconnect delay, on this thread, and only a connection that got through replaces the
// closed one (libnats handles every later loss of it). Meanwhile the node is as with NATS down.
void Bridge::reopen() {
  const int64_t now = monotonic_ms();
  if (now < reopen_at_ms_) return;
  if (reopen_attempts_ == 0) {
    // One synchronous attempt at a time, which reports why it failed (the retrying kind does not).
    cluster_.connected.store(0, std::memory_order_release);
    natsOptions_SetRetryOnFailedConnect(options_, false, nullptr, nullptr);
  }
  natsConnection* fresh = nullptr;
  const natsStatus s = natsConnection_Connect(&fresh, options_);
  if (s != NATS_OK) {
    log_connect_failure(s, nats_error_text(s).c_str());
    reopen_at_ms_ = monotonic_ms() + backoff_ms(++reopen_attempts_);
    return;
  }
  reopen_attempts_ = 0;
  reopen_at_ms_ = 0;
  // What was made on the closed connection goes with it; reconcile_all() subscribes again.
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) unsubscribe(it++);
  for (natsSubscription** sub : {&all_subscription_, &user_subscription_, &question_subscription_,
                                 &answer_subscription_, &nodes_subscription_}) {
    if (*sub) natsSubscription_Destroy(*sub);
    *sub = nullptr;
  }
  if (js_) jsCtx_Destroy(js_);
  js_ = nullptr;
  natsConnection_Destroy(connection_);
  connection_ = fresh;
  if (config_.jetstream) {
    const natsStatus js = open_publish_context();
    if (js != NATS_OK) LOG_ERROR("cluster: JetStream on the new NATS connection: %s", nats_error_text(js).c_str());
  }
  cluster_.connected.store(1, std::memory_order_release);
  LOG_INFO("cluster: node %u connected to %s", node_id_, connected_url(connection_).c_str());
  reconcile_all();
}

uint32_t Bridge::forward(uint32_t limit) {
  uint32_t n = 0;
  for (; n < limit; ++n) {
    const RingEntry* e = setup_.ring.peek(pos_, seq_);
    if (!e) break;
    if (e->target == Target::room && (e->flags & kEntryStaged)) {
      // JetStream: to the stream, in ring order. While NATS is away it waits here (the API refuses
      // new pushes meanwhile); after a reconnect it waits until what was in flight is acknowledged
      // or sent again (an ack timeout), so that older pushes keep their place before newer ones.
      if (!cluster_.connected.load(std::memory_order_acquire)) break;
      if (reconnect_hold_.load(std::memory_order_acquire)) {
        if (in_flight_.load(std::memory_order_acquire) > 0) break;
        reconnect_hold_.store(false, std::memory_order_release);
      }
      stage(*e);
    } else if (e->target == Target::replay_request) {
      // Copied out and stepped over first: answering may take a while, and must not hold the ring.
      const std::string room(e->room());
      const uint32_t ticket = e->origin;
      const uint8_t flags = e->flags;
      const uint64_t since = jetstream::control_value(*e);
      pos_ += e->size;
      ++seq_;
      cluster_.cursor_seq.store(seq_, std::memory_order_relaxed);
      cluster_.cursor_pos.store(pos_, std::memory_order_relaxed);
      setup_.ring.slot(setup_.slot).held_pos.store(pos_, std::memory_order_release);
      answer_replay(room, ticket, flags, since);
      continue;
    } else if (e->origin == 0 && !config_.jetstream &&
               (e->target == Target::room || e->target == Target::all || e->target == Target::user)) {
      // Entries from other nodes came in through this bridge: they are never sent back out.
      // (Pushes to one connection id are node-local: a connection id names a connection of this node.)
      send(*e);
    } else if (e->origin == 0 && (e->target == Target::all || e->target == Target::user)) {
      send(*e);  // JetStream: push/all and user pushes have no history and keep the plain path
    }
    pos_ += e->size;
    ++seq_;
    // The cursor a restarted bridge resumes from: at most this one entry goes out twice.
    cluster_.cursor_seq.store(seq_, std::memory_order_relaxed);
    cluster_.cursor_pos.store(pos_, std::memory_order_relaxed);
  }
  if (!staged_.empty()) send_staged();
  // libnats copied what it sends: the bridge holds no ring bytes behind its cursor.
  if (n) setup_.ring.slot(setup_.slot).held_pos.store(pos_, std::memory_order_release);
  return n;
}

void Bridge::send(const RingEntry& entry) {
  message_.clear();
  cluster::encode_entry(message_, entry, node_id_);
  if (entry.target == Target::room)
    cluster::room_subject(subject_, config_.nats_subject_prefix, entry.room());
  const std::string& subject = entry.target == Target::room   ? subject_
                              : entry.target == Target::user ? user_subject_
                                                             : all_subject_;
  // While reconnecting, libnats keeps publishes in its reconnect buffer (8 MiB) and sends them once
  // connected; past that, or on a closed connection, the publish fails: counted, logged.
  const natsStatus s = natsConnection_Publish(connection_, subject.c_str(), message_.data(),
                                              static_cast<int>(message_.size()));
  if (s == NATS_OK) {
    cluster_.published.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  cluster_.publish_failed.fetch_add(1, std::memory_order_relaxed);
  const int64_t now = monotonic_ms();
  if (now - publish_failure_logged_ms_ >= limits::kBridgeLogEveryMs) {
    publish_failure_logged_ms_ = now;
    LOG_WARN(
        "cluster: a push could not be forwarded to NATS (%s); delivered on this node only, counted in "
        "clusterPublishFailed",
        natsStatus_GetText(s));
  }
}

void Bridge::on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* self) {
  auto* bridge = static_cast<Bridge*>(self);
  const std::string_view subject = natsMsg_GetSubject(msg);
  if (bridge->config_.jetstream && subject.starts_with(bridge->live_prefix_))
    bridge->receive_history(msg);
  else if (subject == bridge->question_subject_ || subject == bridge->answer_subject_ ||
           subject == bridge->nodes_subject_)
    bridge->receive_presence(msg);
  else
    bridge->receive(std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))));
  natsMsg_Destroy(msg);
}

void Bridge::receive(std::string_view bytes) {
  // With JetStream the ring's producer on this side is shared with the bridge's thread (replays).
  std::unique_lock<std::mutex> lock(history_mu_, std::defer_lock);
  if (config_.jetstream) lock.lock();
  cluster::Message m;
  const cluster::DecodeError error = cluster::decode(bytes, m);
  if (error != cluster::DecodeError::none || m.origin == 0) {
    cluster_.rejected.fetch_add(1, std::memory_order_relaxed);
    LOG_DEBUG("cluster: message rejected: %s", std::string(cluster::decode_error_text(error)).c_str());
    return;
  }
  if (m.origin == node_id_) return;  // our own, echoed (NoEcho makes this rare): delivered already
  // The same validation and encoding as a local push; a node whose limits differ may refuse it.
  for (int waited_ms = 0;; ++waited_ms) {
    const PublishOutcome out = publisher_.publish(setup_.ring, m.target, m.room, m.items, m.origin);
    if (out.error == PublishError::none) {
      cluster_.received.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (out.error != PublishError::ring_full) {
      cluster_.rejected.fetch_add(1, std::memory_order_relaxed);
      LOG_DEBUG("cluster: push from node %u rejected: %s", m.origin,
                std::string(publish_error_text(out.error)).c_str());
      return;
    }
    // The ring is full because a shard holds old entries; its slow consumers are being cut. Waiting
    // here holds this node's inbound traffic back (libnats buffers it, up to its pending limit).
    if (waited_ms >= limits::kBridgeRingFullWaitMs || cluster_.stop.load(std::memory_order_relaxed)) {
      cluster_.receive_failed.fetch_add(1, std::memory_order_relaxed);
      LOG_WARN("cluster: ring full for %d ms: a push from node %u was dropped (clusterReceiveFailed)",
               limits::kBridgeRingFullWaitMs, m.origin);
      return;
    }
    usleep(1000);
  }
}

bool Bridge::follow_rooms() {
  changes_.clear();
  if (setup_.rooms.take_changes(changes_)) {
    reconcile_all();  // more changes than the queue holds: the table itself says what is wanted
    return true;
  }
  if (changes_.empty()) return false;
  // A change is only a hint: the table at this moment decides (a room that emptied and filled again
  // since keeps its subscription).
  for (const std::string& room : changes_) {
    const bool wanted = setup_.rooms.has_members(room);
    auto it = subscriptions_.find(room);
    if (wanted && it == subscriptions_.end())
      subscribe(room);
    else if (!wanted && it != subscriptions_.end())
      unsubscribe(it);
  }
  subscriptions_changed();
  return true;
}

void Bridge::reconcile_all() {
  reconcile_needed_ = false;
  std::vector<std::string> live;
  setup_.rooms.live_rooms(live);
  std::unordered_set<std::string> wanted(live.begin(), live.end());
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    auto next = std::next(it);
    if (!wanted.count(it->first)) unsubscribe(it);
    it = next;
  }
  for (const std::string& room : live)
    if (!subscriptions_.count(room)) subscribe(room);
  // push/all matters to a node with clients; an API-only node only publishes it.
  if (config_.listen.enabled && !all_subscription_) {
    const natsStatus s =
        natsConnection_Subscribe(&all_subscription_, connection_, all_subject_.c_str(), on_message, this);
    if (s != NATS_OK) {
      all_subscription_ = nullptr;
      reconcile_needed_ = true;
      reconcile_at_ms_ = monotonic_ms() + limits::kBridgeReconcileRetryMs;
      LOG_WARN("cluster: cannot subscribe to %s: %s", all_subject_.c_str(), natsStatus_GetText(s));
    }
  }
  if (config_.listen.enabled && !user_subscription_) {
    const natsStatus s =
        natsConnection_Subscribe(&user_subscription_, connection_, user_subject_.c_str(), on_message, this);
    if (s != NATS_OK) {
      user_subscription_ = nullptr;
      reconcile_needed_ = true;
      reconcile_at_ms_ = monotonic_ms() + limits::kBridgeReconcileRetryMs;
      LOG_WARN("cluster: cannot subscribe to %s: %s", user_subject_.c_str(), natsStatus_GetText(s));
    }
  }
  subscribe_presence();
  subscriptions_changed();
}

void Bridge::subscribe(const std::string& room) {
  if (config_.jetstream)
    jetstream::live_room_subject(subject_, config_.nats_subject_prefix, room);  // numbered by the stream
  else
    cluster::room_subject(subject_, config_.nats_subject_prefix, room);
  natsSubscription* sub = nullptr;
  const natsStatus s = natsConnection_Subscribe(&sub, connection_, subject_.c_str(), on_message, this);
  if (s != NATS_OK) {
    // Only a closed connection refuses a subscription; the table is rescanned a little later.
    if (!reconcile_needed_)
      LOG_WARN("cluster: cannot subscribe to a room (%s); retrying", natsStatus_GetText(s));
    reconcile_needed_ = true;
    reconcile_at_ms_ = monotonic_ms() + limits::kBridgeReconcileRetryMs;
    return;
  }
  subscriptions_.emplace(room, sub);
  if (config_.jetstream) history_subscribed(room);
}

void Bridge::unsubscribe(std::unordered_map<std::string, natsSubscription*>::iterator it) {
  int64_t dropped = 0;
  if (natsSubscription_GetDropped(it->second, &dropped) == NATS_OK) dropped_gone_ += dropped;
  natsSubscription_Unsubscribe(it->second);
  natsSubscription_Destroy(it->second);
  if (config_.jetstream) history_unsubscribed(it->first);
  subscriptions_.erase(it);
}

void Bridge::subscriptions_changed() {
  // The gauge counts subscriptions the server has confirmed (a PING round trip after the SUBs), so
  // "subscribed" in /stats means "this node receives that room's pushes" — when connected; while
  // disconnected libnats sends them all again on reconnect.
  if (cluster_.connected.load(std::memory_order_acquire))
    natsConnection_FlushTimeout(connection_, limits::kBridgeFlushTimeoutMs);
  // (The fixed <prefix>.u subscription of user pushes is not counted: the gauge is rooms plus all.)
  cluster_.subscriptions.store(static_cast<int64_t>(subscriptions_.size()) + (all_subscription_ ? 1 : 0),
                               std::memory_order_relaxed);
}

void Bridge::count_dropped() {
  int64_t total = dropped_gone_;
  int64_t n = 0;
  for (auto& [room, sub] : subscriptions_)
    if (natsSubscription_GetDropped(sub, &n) == NATS_OK) total += n;
  if (all_subscription_ && natsSubscription_GetDropped(all_subscription_, &n) == NATS_OK) total += n;
  if (user_subscription_ && natsSubscription_GetDropped(user_subscription_, &n) == NATS_OK) total += n;
  cluster_.dropped.store(total, std::memory_order_relaxed);
}

void Bridge::sleep() {
  if (!setup_.ring.prepare_to_sleep(setup_.slot, pos_, seq_)) return;
  pollfd p{setup_.wake_fd, POLLIN, 0};
  int timeout_ms = reconcile_needed_
                       ? static_cast<int>(std::clamp<int64_t>(reconcile_at_ms_ - monotonic_ms(), 1,
                                                              limits::kBridgeIdlePollMs))
                       : limits::kBridgeIdlePollMs;
  // Presence: answers and shards wake us, but a gather's deadline and a box another asker holds do not.
  if (presence_busy()) timeout_ms = std::min(timeout_ms, limits::kClusterPresencePollMs);
  if (reopen_at_ms_)
    timeout_ms = static_cast<int>(std::clamp<int64_t>(reopen_at_ms_ - monotonic_ms(), 1, timeout_ms));
  if (cluster_.connected.load(std::memory_order_acquire))
    timeout_ms = static_cast<int>(std::clamp<int64_t>(announce_at_ms_ - monotonic_ms(), 1, timeout_ms));
  if (poll(&p, 1, timeout_ms) > 0 && (p.revents & POLLIN)) {
    uint64_t value = 0;
    [[maybe_unused]] ssize_t n = read(setup_.wake_fd, &value, sizeof(value));
  }
  setup_.ring.woke_up(setup_.slot);
}

void Bridge::shutdown() {
  if (!options_ && !connection_) return;
  // Down on purpose: the disconnect this causes is not a lost connection.
  cluster_.connected.store(0, std::memory_order_release);
  // Closing a subscription posts a message to libnats' delivery thread; the completion callback says
  // it was handled (and that on_message runs no more). Waiting for all of them before the library is
  // torn down keeps it from stopping that thread with the messages still queued (they would leak).
  int closing = 0;
  auto track = [&](natsSubscription* sub) {
    if (natsSubscription_SetOnCompleteCB(sub, on_subscription_done, this) == NATS_OK) ++closing;
  };
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    track(it->second);
    unsubscribe(it++);
  }
  if (all_subscription_) {
    track(all_subscription_);
    natsSubscription_Unsubscribe(all_subscription_);
    natsSubscription_Destroy(all_subscription_);
    all_subscription_ = nullptr;
  }
  for (natsSubscription** sub : {&user_subscription_, &question_subscription_, &answer_subscription_,
                                 &nodes_subscription_}) {
    if (!*sub) continue;
    track(*sub);
    natsSubscription_Unsubscribe(*sub);
    natsSubscription_Destroy(*sub);
    *sub = nullptr;
  }
  for (int waited_ms = 0; subscriptions_done_.load(std::memory_order_acquire) < closing && waited_ms < 2000;
       ++waited_ms)
    usleep(1000);
  if (js_) jsCtx_Destroy(js_);
  js_ = nullptr;
  if (fetch_js_) jsCtx_Destroy(fetch_js_);
  fetch_js_ = nullptr;
  if (fetch_connection_) natsConnection_Destroy(fetch_connection_);
  fetch_connection_ = nullptr;
  if (fetch_options_) natsOptions_Destroy(fetch_options_);
  fetch_options_ = nullptr;
  if (connection_) natsConnection_Destroy(connection_);
  connection_ = nullptr;
  if (options_) natsOptions_Destroy(options_);
  options_ = nullptr;
  cluster_.subscriptions.store(0, std::memory_order_relaxed);
  setup_.ring.detach(setup_.slot);
  cluster_.cursor_valid.store(0, std::memory_order_release);
  // libnats' threads (reader, flusher, delivery, reconnect) hold references to this object's
  // callbacks: wait until they are gone.
  nats_CloseAndWait(limits::kBridgeFinalFlushTimeoutMs);
  std::lock_guard<std::mutex> lock(resend_mu_);  // (libnats' threads, which add to it, are gone)
  for (natsMsg* m : resend_) natsMsg_Destroy(m);
  resend_.clear();
}

void Bridge::on_subscription_done(void* self) {
  static_cast<Bridge*>(self)->subscriptions_done_.fetch_add(1, std::memory_order_release);
}

void Bridge::on_connected(natsConnection* nc, void* self) {
  auto* bridge = static_cast<Bridge*>(self);
  bridge->cluster_.connected.store(1, std::memory_order_release);
  LOG_INFO("cluster: node %u connected to %s", bridge->node_id_, connected_url(nc).c_str());
}

void Bridge::on_disconnected(natsConnection*, void* self) {
  auto* bridge = static_cast<Bridge*>(self);
  // Only a live connection's loss counts (libnats also reports the end of a failed reconnect round).
  if (bridge->cluster_.connected.exchange(0, std::memory_order_acq_rel) == 1) {
    bridge->cluster_.disconnects.fetch_add(1, std::memory_order_relaxed);
    LOG_WARN("cluster: node %u lost its NATS connection; reconnecting, pushes answer 503 meanwhile",
             bridge->node_id_);
  }
}

void Bridge::on_reconnected(natsConnection* nc, void* self) {
  auto* bridge = static_cast<Bridge*>(self);
  // libnats has sent every subscription again (and then what it buffered) before calling this.
  bridge->cluster_.reconnects.fetch_add(1, std::memory_order_relaxed);
  // What the stream numbered meanwhile is fetched for the rooms this node follows (catch_up()).
  if (bridge->config_.jetstream) {
    bridge->catch_up_needed_.store(true, std::memory_order_relaxed);
    bridge->reconnect_hold_.store(true, std::memory_order_release);
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(bridge->setup_.wake_fd, &one, sizeof(one));  // forward again now
  }
  bridge->cluster_.connected.store(1, std::memory_order_release);
  LOG_INFO("cluster: node %u reconnected to %s", bridge->node_id_, connected_url(nc).c_str());
}

void Bridge::on_closed(natsConnection*, void* self) {
  auto* bridge = static_cast<Bridge*>(self);
  bridge->cluster_.connected.store(0, std::memory_order_release);
  // Not closed by shutdown(): libnats gave the connection up (see reopen()); the bridge's thread opens
  // another.
  if (!bridge->cluster_.stop.load(std::memory_order_acquire)) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(bridge->setup_.wake_fd, &one, sizeof(one));
  }
}

void Bridge::on_error(natsConnection*, natsSubscription*, natsStatus err, void* self) {
  auto* bridge = static_cast<Bridge*>(self);
  if (err == NATS_SLOW_CONSUMER) {
    // Counted from the subscriptions' dropped counts by the bridge's thread.
    bridge->slow_consumer_seen_.store(true, std::memory_order_relaxed);
    LOG_WARN(
        "cluster: inbound pushes arrive faster than the ring takes them; libnats drops some "
        "(clusterDropped)");
    return;
  }
  LOG_WARN("cluster: NATS error: %s", natsStatus_GetText(err));
}

int64_t Bridge::reconnect_delay(natsConnection* nc, int attempts, void* self) {
  // Called after a whole round over the server list failed. A server that answered but with which no
  // connection could be set up (a certificate refused either way, a host name that does not match,
  // authorization) left its reason on the connection; a refused or unanswered TCP connection leaves
  // none: that is the outage start() and on_disconnected() report.
  auto* bridge = static_cast<Bridge*>(self);
  const char* text = nullptr;
  const natsStatus last = natsConnection_GetLastError(nc, &text);
  if (last != NATS_OK) bridge->log_connect_failure(last, text);
  return bridge->backoff_ms(attempts);
}

int64_t Bridge::backoff_ms(int attempts) const {
  // Exponential backoff with jitter, so that many nodes do not hit a restarted server in step.
  const int64_t base = config_.nats_reconnect_wait_ms;
  const int64_t cap = config_.nats_reconnect_wait_max_ms;
  const int shift = std::min(attempts > 0 ? attempts - 1 : 0, 16);
  const int64_t delay = std::min<int64_t>(base << shift, cap);
  const uint64_t noise = static_cast<uint64_t>(monotonic_ms()) * 2654435761u;
  return delay + static_cast<int64_t>(noise % static_cast<uint64_t>(delay / 4 + 1));
}

void Bridge::log_connect_failure(natsStatus status, const char* text) {
  const int64_t now = monotonic_ms();
  int64_t logged = connect_failure_logged_ms_.load(std::memory_order_relaxed);
  if (now - logged < limits::kBridgeLogEveryMs ||
      !connect_failure_logged_ms_.compare_exchange_strong(logged, now, std::memory_order_relaxed))
    return;  // the other connection (JetStream's requests) said it just now
  const char* name = natsStatus_GetText(status);
  const bool same = text == nullptr || *text == 0 || std::string_view(text) == name;
  LOG_WARN("cluster: node %u cannot connect to NATS: %s%s%s; retrying, pushes answer 503 meanwhile", node_id_,
           name, same ? "" : ": ", same ? "" : text);
}

}  // namespace ringcast
