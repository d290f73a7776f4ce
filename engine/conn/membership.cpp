// Rooms and users of a shard's connections (see membership.h).
#include "engine/conn/membership.h"

#include <cstdio>

#include "engine/base/clock.h"
#include "engine/broadcast/history.h"
#include "engine/codec/json_writer.h"
#include "engine/node/cluster_state.h"
#include "engine/node/jetstream.h"

namespace ringcast {

std::string_view join_refusal_code(JoinRefusal refusal) {
  switch (refusal) {
    case JoinRefusal::none:
      return {};
    case JoinRefusal::bad_room:
      return "bad_room";
    case JoinRefusal::forbidden_room:
      return "forbidden_room";
    case JoinRefusal::too_many_rooms:
      return "too_many_rooms";
    case JoinRefusal::closed:
      return "closed";
  }
  return "closed";
}

Membership::Membership(const Config& config, const Settings& settings, ShardStats& stats, Conns& conns,
                       RoomIndex& rooms, Fanout& fanout, Delivery& delivery, Publisher& publisher, Ring ring,
                       RoomTable& room_table, uint32_t shard_index)
    : config_(config),
      settings_(settings),
      stats_(stats),
      conns_(conns),
      rooms_(rooms),
      fanout_(fanout),
      delivery_(delivery),
      publisher_(publisher),
      ring_(ring),
      room_table_(room_table),
      shard_index_(shard_index) {
  char epoch[17];
  std::snprintf(epoch, sizeof(epoch), "%016llx", static_cast<unsigned long long>(ring.epoch()));
  epoch_text_ = epoch;
}

namespace {

// The gauge of open connections of the connection's transport.
Counter open_gauge(Protocol protocol) {
  return protocol == Protocol::sse      ? Counter::sse_open
         : protocol == Protocol::ndjson ? Counter::stream_open
                                        : Counter::ws_open;
}

}  // namespace

void Membership::open(Conn& c, uint32_t id, std::string_view uid) {
  rooms_.join_all_room(id);
  stats_.add(open_gauge(c.protocol));
  if (!uid.empty()) {
    bind_user(id, uid);
    c.user_from_token = 1;
  }
}

void Membership::leave_all(Conn& c, uint32_t id) {
  if (config_.presence_events && !conns_.stopping()) {
    std::vector<std::string> left;
    rooms_.for_each_room_of(id, [&](const Room& r) { left.push_back(r.name); });
    const std::string uid(rooms_.user_of(id));
    rooms_.leave_all(id);
    for (const std::string& room : left) publish_presence_event(c, id, "leave", room, uid);
  } else {
    rooms_.leave_all(id);
  }
  for (size_t i = pending_.size(); i-- > 0;)
    if (pending_[i].conn == id) forget_pending(i);
  stats_.add(open_gauge(c.protocol), -1);
}

void Membership::release(Conn& c, uint32_t id) {
  grants_.release(c.grant);
  if (!names_.empty()) names_.erase(id);
}

JoinOutcome Membership::join(Conn& c, uint32_t id, std::string_view room, Session* authorizer,
                             Resume* resume) {
  auto refuse = [&](JoinRefusal why, std::string_view message, bool names_room) {
    stats_.add(Counter::joins_refused);
    return JoinOutcome{why, message, names_room};
  };
  if (!room_name_valid(room, config_.room_name_bytes_max, settings_.publish.room_charset))
    return refuse(JoinRefusal::bad_room, room_name_rule_text(settings_.publish.room_charset), false);
  if (!grants_.allows(c.grant, room)) {
    stats_.add(Counter::joins_forbidden);
    return refuse(JoinRefusal::forbidden_room, "the connect token does not grant this room", true);
  }
  if (rooms_.find(room) != kNil && rooms_.is_member(id, rooms_.find(room))) return {};  // a repeat JOIN
  uint32_t waiting = 0;  // rooms this connection waits to join (JetStream replays)
  for (const PendingRecovery& p : pending_) {
    if (p.conn != id) continue;
    if (p.room == room) return {};  // a repeat JOIN while its replay is on its way
    ++waiting;
  }
  if (authorizer && config_.hooks && config_.hooks->authorize_join) {
    hook_reason_.clear();
    if (!config_.hooks->authorize_join(*authorizer, room, hook_reason_)) {
      stats_.add(Counter::joins_forbidden);
      return refuse(JoinRefusal::forbidden_room,
                    hook_reason_.empty() ? std::string_view("refused by the application") : hook_reason_,
                    true);
    }
    if (c.phase != Phase::open || c.close_sent)
      return JoinOutcome{JoinRefusal::closed, {}, false};  // the hook closed it
  }
  if (rooms_.rooms_of(id) + waiting >= config_.rooms_per_conn_max)
    return refuse(JoinRefusal::too_many_rooms, "rooms_per_conn_max (maxJoinRoom) reached", true);
  // A room new to this shard is registered node-wide first (the cluster subscribes to it); the
  // node's room limit refuses it here, before any state changes.
  if (rooms_.find(room) == kNil && !recovering_room(room) && !room_table_.add(shard_index_, room))
    return refuse(JoinRefusal::too_many_rooms, "rooms_max rooms with members on this node", true);
  if (resume && jetstream()) {
    // The bridge answers through the ring; the connection joins when its answer arrives.
    if (request_replay(id, c, room, *resume)) return JoinOutcome{JoinRefusal::none, {}, false, true};
    // It cannot be asked (NATS down, the stream not known yet, the ring full): joined now, told so.
    replay_frames_.clear();
    resume->settled = true;
    resume->recovered = false;
    resume->position = 0;
  } else if (resume) {
    resume->settled = true;
    resume->recovered = prepare_recovery(room, *resume);
  }
  bool created = false;
  if (rooms_.join(id, room, created)) {
    stats_.add(Counter::joins);
    if (created) stats_.add(Counter::rooms);
    if (config_.presence_events) publish_presence_event(c, id, "join", room, rooms_.user_of(id));
  }
  return {};
}

bool Membership::leave(Conn& c, uint32_t id, std::string_view room, bool announce) {
  bool removed = false;
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (pending_[i].conn != id || pending_[i].room != room) continue;
    forget_pending(i);  // it never joined: no presence event; its replay, if it comes, is dropped
    stats_.add(Counter::leaves);
    return true;
  }
  if (!rooms_.leave(id, room, removed)) return false;
  stats_.add(Counter::leaves);
  if (announce && config_.presence_events) publish_presence_event(c, id, "leave", room, rooms_.user_of(id));
  return true;
}

bool Membership::in_room(uint32_t id, std::string_view room) const {
  const RoomId r = rooms_.find(room);
  return r != kNil && rooms_.is_member(id, r);
}

// Recovery, for a JOIN with `since` (docs/protocol.md): before the connection joins, settle where the
// fan-out will take over (`position`: the member gets every later item of the room from it), then build
// the replay of the room's items in (since, position] from the ring's history. True when all of them
// could be replayed; false (and nothing replayed) when some are gone, expired, too many, from another
// epoch, or `since` is beyond what this node has published.
bool Membership::prepare_recovery(std::string_view room_name, Resume& resume) {
  replay_frames_.clear();
  const RoomId room = rooms_.find(room_name);
  if (!resume.since_now) {
    // The client may resume from an item another shard delivered and this one has not drained yet:
    // catch up first, or the fan-out would bring that item (and those before it) once more.
    while (fanout_.cursor_seq() <= resume.since && fanout_.drain(conns_.now_ns(), delivery_) > 0) {
    }
    // With a merge window the room may have a batch waiting, holding items the client may have had:
    // the members there get it now, before the client joins, so it cannot come twice.
    if (room != kNil) {
      const RoomBatch& batch = rooms_.room(room).batch;
      if (!batch.entries.empty() && batch.entries.front()->seq <= resume.since)
        fanout_.emit_now(room, delivery_);
    }
  }
  // The member gets every item after the cursor from the fan-out, or, when the room has a batch
  // waiting, every item from the batch's first on.
  uint64_t& position = resume.position;
  position = fanout_.cursor_seq() - 1;
  if (room != kNil && !rooms_.room(room).batch.entries.empty())
    position = rooms_.room(room).batch.entries.front()->seq - 1;
  if (resume.since_now) return true;  // only the position: nothing to replay
  if (!resume.epoch.empty() && resume.epoch != epoch_text_) return false;
  if (config_.history_items_max == 0 || resume.since > position) return false;
  ReplayLimits limits;
  limits.items_max = config_.history_items_max;
  limits.ttl_ns = static_cast<int64_t>(config_.history_ttl_ms) * 1000000;
  limits.frame_bytes_max = config_.merge_frame_bytes_max;
  // (The TTL is measured on the clock publish_ns was taken from.)
  if (!collect_replay(ring_, room_name, resume.since, position, limits, clock::monotonic_ns(), replay_frames_,
                      replay_body_)) {
    replay_frames_.clear();
    return false;
  }
  return true;
}

bool Membership::jetstream() const {
  const ClusterState* cluster = publisher_.cluster_gate();
  return cluster && cluster->jetstream.load(std::memory_order_relaxed);
}

std::string_view Membership::epoch_text() {
  if (jetstream()) {
    // The stream's identity, known once the bridge has found the stream (until then the ring's, which
    // no resume can match: those clients are told recovered:false).
    const uint64_t epoch = publisher_.cluster_gate()->history_epoch.load(std::memory_order_acquire);
    if (epoch && epoch != epoch_shown_) {
      char text[17];
      std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(epoch));
      epoch_text_ = text;
      epoch_shown_ = epoch;
    }
  }
  return epoch_text_;
}

bool Membership::request_replay(uint32_t id, const Conn& c, std::string_view room, const Resume& resume) {
  const ClusterState& cluster = *publisher_.cluster_gate();
  if (!cluster.connected.load(std::memory_order_acquire) ||
      !cluster.history_epoch.load(std::memory_order_acquire))
    return false;
  uint8_t flags = 0;
  if (resume.since_now) flags |= jetstream::kRequestSinceNow;
  if (!resume.since_now && !resume.epoch.empty() && resume.epoch != epoch_text())
    flags |= jetstream::kRequestNoReplay;
  if (!resume.since_now && config_.history_items_max == 0) flags |= jetstream::kRequestNoReplay;
  const uint32_t ticket = jetstream::make_ticket(shard_index_, ++ticket_serial_);
  if (!jetstream::commit_control(ring_, publisher_.claim_record(), Target::replay_request, room, ticket,
                                 flags, resume.since))
    return false;
  PendingRecovery p;
  p.ticket = ticket;
  p.conn = id;
  p.generation = c.generation;
  p.room.assign(room);
  p.deadline_ns = conns_.now_ns() + static_cast<int64_t>(config_.jetstream_replay_timeout_ms) * 1000000;
  p.since_now = resume.since_now;
  pending_.push_back(std::move(p));
  return true;
}

PendingRecovery* Membership::pending_recovery(uint32_t ticket) {
  for (PendingRecovery& p : pending_)
    if (p.ticket == ticket) return &p;
  return nullptr;
}

void Membership::finish_recovery(Conn& c, uint32_t ticket) {
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (pending_[i].ticket != ticket) continue;
    const uint32_t id = pending_[i].conn;
    const std::string room = pending_[i].room;
    bool created = false;
    if (rooms_.join(id, room, created)) {
      stats_.add(Counter::joins);
      if (created) stats_.add(Counter::rooms);
      if (config_.presence_events) publish_presence_event(c, id, "join", room, rooms_.user_of(id));
    }
    forget_pending(i);
    return;
  }
}

void Membership::drop_recovery(uint32_t ticket) {
  for (size_t i = 0; i < pending_.size(); ++i)
    if (pending_[i].ticket == ticket) return forget_pending(i);
}

void Membership::expired_recoveries(int64_t now_ns, std::vector<uint32_t>& tickets) const {
  for (const PendingRecovery& p : pending_)
    if (p.deadline_ns <= now_ns) tickets.push_back(p.ticket);
}

bool Membership::recovering_room(std::string_view room) const {
  for (const PendingRecovery& p : pending_)
    if (p.room == room) return true;
  return false;
}

void Membership::forget_pending(size_t index) {
  const std::string room = std::move(pending_[index].room);
  pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index));
  // The room stays in the node's table while this shard has members or other JOINs waiting for it.
  if (rooms_.find(room) == kNil && !recovering_room(room)) room_table_.remove(shard_index_, room);
}

void Membership::bind_user(uint32_t id, std::string_view uid) {
  bool created = false;
  rooms_.bind_user(id, uid, created);
  stats_.add(Counter::binds);
}

std::string_view Membership::uid(uint32_t id) const {
  const std::string_view bound = rooms_.user_of(id);
  if (!bound.empty() || names_.empty()) return bound;
  auto it = names_.find(id);
  return it == names_.end() ? std::string_view() : std::string_view(it->second);
}

void Membership::set_name(uint32_t id, std::string_view uid) {
  names_[id].assign(uid);
}

// The event is an item of an ordinary room push, so it takes the ring, the cluster and coalescing like
// any other and keeps its place among the room's items: {"presence":"join","room":"r","uid":"u"|null,
// "conn":"<id>"}. Not sent while the node stops (every connection leaves then).
void Membership::publish_presence_event(const Conn& c, uint32_t id, std::string_view event,
                                        std::string_view room, std::string_view uid) {
  if (conns_.stopping()) return;
  std::string item;
  JsonWriter json(item);
  json.begin_array().begin_object().key("presence").string(event).key("room").string(room);
  json.key("uid").string_or_null(uid).key("conn").string(conns_.id_text(c, id));
  json.end_object().end_array();
  const PublishOutcome out = publisher_.publish(ring_, Target::room, room, item);
  stats_.add(out.error == PublishError::none ? Counter::presence_events : Counter::presence_events_refused);
}

}  // namespace ringcast
