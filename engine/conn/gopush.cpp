// go-push connections (see gopush.h).
#include "engine/conn/gopush.h"

#include <cstdlib>
#include <cstring>

#include "engine/base/check.h"
#include "engine/limits.h"

namespace ringcast {

GoPushConns::GoPushConns(const Config& config, ShardStats& stats, Conns& conns, Sender& sender,
                         Frames& frames, Membership& membership)
    : SessionBase(conns, membership),
      config_(config),
      stats_(stats),
      sender_(sender),
      frames_(frames),
      websocket_(conns, sender, stats, config) {
  ws::append_server_frame(pong_bytes_, ws::Opcode::text, pong_command_json());
  pong_frame_ = frames_.permanent_frame(reinterpret_cast<const uint8_t*>(pong_bytes_.data()),
                                        static_cast<uint32_t>(pong_bytes_.size()));
}

void GoPushConns::open(Conn& c, uint32_t id) {
  c.encoding = c.parser.compressed_allowed() ? Encoding::ws_deflate : Encoding::ws_text;
  conns_.arm_ms(id, config_.heartbeat_timeout_ms);
}

void GoPushConns::on_timer(Conn& c, uint32_t id) {
  // Heard from since the deadline was armed: re-armed lazily for the rest of the interval.
  const uint64_t due = c.last_rx_tick + limits::ticks_for_ms(config_.heartbeat_timeout_ms);
  if (due > conns_.now_tick()) {
    conns_.arm_at_tick(id, due);
    return;
  }
  stats_.add(Counter::heartbeat_timeouts);
  conns_.close_ws(c, id, ws::close_code::going_away, "heartbeat timeout");
}

void GoPushConns::on_message(Conn& c, uint32_t id, ws::Opcode op, std::span<uint8_t> payload) {
  if (op != ws::Opcode::text) return;  // go-push ignores binary messages
  command(c, id, payload.data(), payload.size());
}

void GoPushConns::command(Conn& c, uint32_t id, const uint8_t* data, size_t len) {
  Command cmd;
  const CommandError err = parse_command(parser_, data, len, cmd);
  stats_.add(Counter::commands_in);
  switch (err) {
    case CommandError::none:
      break;
    case CommandError::malformed_json:
    case CommandError::not_an_object:
      stats_.add(Counter::close_invalid_payload);
      conns_.close_ws(c, id, ws::close_code::invalid_payload, command_error_text(err));
      return;
    case CommandError::bad_uid:
      stats_.add(Counter::binds_refused);
      send_text(c, id, error_command_json("bad_uid", command_error_text(err), ""));
      return;
    case CommandError::bad_room:
    case CommandError::bad_since:
      stats_.add(Counter::joins_refused);
      send_text(c, id,
                error_command_json(err == CommandError::bad_room ? "bad_room" : "bad_since",
                                   command_error_text(err), ""));
      return;
  }
  switch (cmd.type) {
    case CommandType::ping:
      sender_.queue(c, id, pong_frame_);
      return;
    case CommandType::join:
      join(c, id, cmd);
      return;
    case CommandType::leave:
      membership_.leave(c, id, cmd.room, /*announce=*/true);
      return;
    case CommandType::bind:
      bind(c, id, cmd.uid);
      return;
    case CommandType::hello:
      send_text(c, id, hello_command_json(conns_.id_text(c, id), membership_.bound_user(id)));
      return;
    case CommandType::unknown:
      if (config_.hooks && !cmd.type_name.empty()) {
        if (const MessageHandler* handler = config_.hooks->handler(cmd.type_name)) {
          const std::string message = cmd.has_data ? simdjson::minify(cmd.data) : std::string("null");
          stats_.add(Counter::hook_messages);
          Session s = session(c, id, cmd.type_name);
          (*handler)(s, ClientMessage{cmd.type_name, message});
        }
      }
      return;
  }
}

// A client's JOIN: the application's authorize_join is asked; with `since`, the replay goes first,
// then the JOINED marker; the fan-out's items (all after its position) follow.
void GoPushConns::join(Conn& c, uint32_t id, const Command& cmd) {
  Resume resume;
  resume.since_now = cmd.since_now;
  resume.since = cmd.since;
  resume.epoch = cmd.epoch;
  Session authorizer = session(c, id, {});
  const JoinOutcome outcome =
      membership_.join(c, id, cmd.room, &authorizer, cmd.has_since ? &resume : nullptr);
  if (outcome.refusal != JoinRefusal::none) {
    if (outcome.refusal != JoinRefusal::closed) join_refused(c, id, cmd.room, outcome);
    return;
  }
  if (outcome.pending || !resume.settled) return;  // the replay is on its way; no `since`; a repeat JOIN
  uint32_t replayed = 0;
  for (auto& [bytes, items] : membership_.replay()) {
    auto* copy = static_cast<uint8_t*>(std::malloc(bytes.size()));
    RC_ASSERT(copy != nullptr);
    std::memcpy(copy, bytes.data(), bytes.size());
    sender_.queue(c, id, frames_.owned_frame(copy, static_cast<uint32_t>(bytes.size()), items, true));
    replayed += items;
  }
  membership_.replay().clear();
  if (!resume.since_now) stats_.add(resume.recovered ? Counter::recoveries : Counter::recoveries_failed);
  stats_.add(Counter::items_replayed, replayed);
  send_text(c, id,
            joined_command_json(cmd.room, resume.position, membership_.epoch_text(), resume.recovered));
}

void GoPushConns::finish_recovery(uint32_t ticket, uint64_t position, bool recovered) {
  const PendingRecovery* p = membership_.pending_recovery(ticket);
  if (!p) return;
  const uint32_t id = p->conn;
  if (!usable(id) || conns_[id].generation != p->generation) return membership_.drop_recovery(ticket);
  const std::string room = p->room;
  const uint32_t replayed = p->replayed;
  if (!p->since_now) stats_.add(recovered ? Counter::recoveries : Counter::recoveries_failed);
  stats_.add(Counter::items_replayed, replayed);
  membership_.finish_recovery(conns_[id], ticket);
  send_text(conns_[id], id, joined_command_json(room, position, membership_.epoch_text(), recovered));
}

void GoPushConns::join_refused(Conn& c, uint32_t id, std::string_view room, const JoinOutcome& outcome) {
  send_text(c, id,
            error_command_json(join_refusal_code(outcome.refusal), outcome.message,
                               outcome.names_room ? room : std::string_view()));
}

// BIND (user_bind_command): the client names its user. Refusals are ERROR frames; the connection
// stays. A connection binds one user for its life: a second BIND of the same uid is answered BOUND
// again, of another uid refused (rebinding would race with pushes already on their way).
void GoPushConns::bind(Conn& c, uint32_t id, std::string_view uid) {
  auto refuse = [&](std::string_view code, std::string_view message) {
    stats_.add(Counter::binds_refused);
    send_text(c, id, error_command_json(code, message, ""));
  };
  if (!config_.user_bind_command) return refuse("bind_disabled", "BIND is not enabled (user_bind_command)");
  if (c.user_from_token)
    return refuse("bound_by_token", "the connect token bound this connection to its user");
  if (!room_name_valid(uid, config_.user_id_bytes_max, RoomCharset::utf8))
    return refuse("bad_uid", "uid must be 1..user_id_bytes_max bytes of UTF-8 without control characters");
  const std::string_view bound = membership_.bound_user(id);
  if (!bound.empty() && bound != uid)
    return refuse("already_bound", "this connection is bound to another user; reconnect to change");
  if (bound.empty()) membership_.bind_user(id, uid);
  send_text(c, id, bound_command_json(uid, conns_.id_text(c, id)));
}

void GoPushConns::session_send(uint32_t conn, std::string_view type, std::string_view data_json) {
  if (usable(conn)) send_text(conns_[conn], conn, message_command_json(type, data_json));
}

void GoPushConns::session_error(uint32_t conn, std::string_view code, std::string_view message) {
  if (!usable(conn)) return;
  send_text(conns_[conn], conn, error_command_json(code, message, ""));
}

}  // namespace ringcast
