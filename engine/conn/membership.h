// Rooms and users of a shard's connections, for every protocol alike: JOIN with its limits, grants,
// the application's authorize_join and recovery (a JOIN with `since` settles where the fan-out takes
// over and collects the replay), LEAVE, the user binding (connect token, BIND, Nano's room.join), the
// presence events, and the connect tokens' room grants. Owns the shard's room index as the
// connections see it; the fan-out reads the same index.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/broadcast/fanout.h"
#include "engine/broadcast/publish.h"
#include "engine/broadcast/room.h"
#include "engine/config.h"
#include "engine/conn/access.h"
#include "engine/conn/conns.h"
#include "engine/conn/delivery.h"
#include "engine/hooks.h"
#include "engine/node/room_table.h"
#include "engine/node/stats.h"
#include "engine/settings.h"

namespace ringcast {

// Why a JOIN was refused. The connection stays either way; each protocol answers in its own form.
enum class JoinRefusal : uint8_t {
  none,
  bad_room,        // not a valid room name (room_name_bytes_max, room_name_charset)
  forbidden_room,  // the connect token's rooms, or the application's authorize_join, do not allow it
  too_many_rooms,  // rooms_per_conn_max, or the node's rooms_max
  closed,          // the connection is closing (a hook closed it)
};
// The code an ERROR frame, a Pomelo error and Session::join name it by: "bad_room", ...
std::string_view join_refusal_code(JoinRefusal refusal);

struct JoinOutcome {
  JoinRefusal refusal = JoinRefusal::none;
  std::string_view message;  // constant text, or the hook's reason (valid until the next JOIN)
  bool names_room = false;   // the answer names the room (forbidden_room, too_many_rooms)
  bool pending = false;      // JetStream: the replay comes from the NATS bridge; JOINED when it is in
};

// JetStream (docs/cluster.md): a JOIN with `since` waiting for the NATS bridge's replay. The
// connection joins the room when the replay's last entry reaches this shard's fan-out, so the replay
// and the live items meet exactly there.
struct PendingRecovery {
  uint32_t ticket = 0;
  uint32_t conn = 0;
  uint32_t generation = 0;
  std::string room;
  int64_t deadline_ns = 0;  // jetstream_replay_timeout_ms after the JOIN: then recovered:false
  uint32_t replayed = 0;    // items handed to the connection so far
  bool since_now = false;   // "since":null: only the position was asked (not counted as a recovery)
};

// A JOIN that resumes from what the client has (recovery, docs/protocol.md).
struct Resume {
  bool since_now = false;  // "since":null: only the room's position, nothing replayed
  uint64_t since = 0;
  std::string_view epoch;  // the ring `since` is from (empty: not said)
  // Filled by join(): whether every item after `since` up to `position` is in replay(), and where
  // the fan-out takes over. `settled` is false for a repeat JOIN (nothing to resume).
  bool settled = false;
  bool recovered = false;
  uint64_t position = 0;
};

class Membership {
 public:
  Membership(const Config& config, const Settings& settings, ShardStats& stats, Conns& conns,
             RoomIndex& rooms, Fanout& fanout, Delivery& delivery, Publisher& publisher, Ring ring,
             RoomTable& room_table, uint32_t shard_index);

  RoomIndex& rooms() { return rooms_; }
  const RoomIndex& rooms() const { return rooms_; }
  // Per-connection tables hold ids below `capacity`.
  void reserve(uint32_t capacity) { rooms_.reserve_conns(capacity); }

  // The connection is an open WebSocket or HTTP stream now (its protocol tag set): in the room of
  // everyone (push/all), counted in its transport's gauge (ws_open, sse_open, stream_open),
  // bound to `uid` when its connect token named one.
  void open(Conn& c, uint32_t id, std::string_view uid);
  // It leaves every room (closing or ending): presence events unless the node is stopping.
  void leave_all(Conn& c, uint32_t id);
  // Its record is freed: its grant and name go.
  void release(Conn& c, uint32_t id);

  // A JOIN, from the client (with `authorizer`, the application's authorize_join is asked through
  // that session) or from a hook. With `resume`, the replay is collected (replay()) before the
  // connection joins, so that replay and fan-out meet exactly.
  JoinOutcome join(Conn& c, uint32_t id, std::string_view room, Session* authorizer, Resume* resume);
  // A LEAVE: false when it was not a member. `announce`: a presence event (a client's LEAVE).
  bool leave(Conn& c, uint32_t id, std::string_view room, bool announce);
  bool in_room(uint32_t id, std::string_view room) const;

  // ---- JetStream recovery ----
  // The JOIN a replay entry answers (its ticket), or nullptr (it left, closed or timed out).
  PendingRecovery* pending_recovery(uint32_t ticket);
  // The replay is in (or the wait is over): the connection joins the room now. The record goes.
  void finish_recovery(Conn& c, uint32_t ticket);
  // Drops a pending JOIN whose connection is gone.
  void drop_recovery(uint32_t ticket);
  bool recoveries_pending() const { return !pending_.empty(); }
  // The tickets of JOINs whose wait passed jetstream_replay_timeout_ms.
  void expired_recoveries(int64_t now_ns, std::vector<uint32_t>& tickets) const;
  // A room a JOIN waits for stays in the node's room table (the bridge stays subscribed).
  bool recovering_room(std::string_view room) const;

  // The replay collected by the last join() with a Resume: complete PUSH frames and their items.
  std::vector<std::pair<std::string, uint32_t>>& replay() { return replay_frames_; }
  // The epoch as 16 hex digits (JOINED markers): the ring's, or with JetStream the stream's.
  std::string_view epoch_text();

  // ---- users ----
  // Binds the connection to a user for per-user push (a connect token's, a BIND, Nano's room.join
  // with user_bind_command). One user per connection; the caller checks.
  void bind_user(uint32_t id, std::string_view uid);
  // The connection's user id: the bound one, else the name it goes by (Nano's room.join without
  // user_bind_command). Empty when neither. Each connection's id is held in exactly one place.
  std::string_view uid(uint32_t id) const;
  std::string_view bound_user(uint32_t id) const { return rooms_.user_of(id); }
  // Names a connection that is not bound (Nano's room.join uid when it may not bind).
  void set_name(uint32_t id, std::string_view uid);

  // ---- connect tokens' room grants ----
  // The index a connection keeps in its record (GrantTable::kFull: too many distinct grants).
  uint32_t acquire_grant(const TokenGrant& grant) { return grants_.acquire(grant); }

 private:
  bool prepare_recovery(std::string_view room, Resume& resume);
  bool jetstream() const;
  // JetStream: asks the bridge for the replay; false when it cannot be asked (then the JOIN is
  // answered at once, recovered:false).
  bool request_replay(uint32_t id, const Conn& c, std::string_view room, const Resume& resume);
  void forget_pending(size_t index);
  void publish_presence_event(const Conn& c, uint32_t id, std::string_view event, std::string_view room,
                              std::string_view uid);

  const Config& config_;
  const Settings& settings_;
  ShardStats& stats_;
  Conns& conns_;
  RoomIndex& rooms_;
  Fanout& fanout_;
  Delivery& delivery_;
  Publisher& publisher_;
  Ring ring_;
  RoomTable& room_table_;
  uint32_t shard_index_;
  GrantTable grants_;
  std::unordered_map<uint32_t, std::string> names_;  // unbound connections' names (see uid())
  std::string hook_reason_;
  std::string epoch_text_;
  uint64_t epoch_shown_ = 0;  // the stream epoch epoch_text_ holds (JetStream)
  std::vector<PendingRecovery> pending_;
  uint32_t ticket_serial_ = 0;
  // Recovery: the PUSH frames (complete, with their item counts) replayed to a JOIN with `since`,
  // built before the connection joins and queued after.
  std::vector<std::pair<std::string, uint32_t>> replay_frames_;  // (ReplayFrame, history.h)
  std::string replay_body_;
};

}  // namespace ringcast
