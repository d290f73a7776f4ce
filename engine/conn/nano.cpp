// Pomelo connections inside a shard: the handshake, ack, heartbeat and kick state machine and the
// dispatch of routes to handlers (the application's, or the default chat ones in nano_chat.cpp). The
// codec is engine/codec/pomelo.h; this file only decides what to do.
#include "engine/conn/nano.h"

#include <algorithm>

#include "engine/base/check.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/codec/json_writer.h"
#include "engine/codec/nano.h"
#include "engine/limits.h"

namespace ringcast {

// The routes of Nano's chat example, served when the application has no handler of its own for them
// (it cannot register one: Engine::handle refuses them).
void nano_room_join(Session& session, const ClientMessage& message, NanoChat& chat);
void nano_room_message(Session& session, const ClientMessage& message, NanoChat& chat);

namespace {

NanoDefaultHandler default_handler(std::string_view route) {
  if (route == NanoConns::kJoinRoute) return nano_room_join;
  if (route == NanoConns::kMessageRoute) return nano_room_message;
  return nullptr;
}

}  // namespace

NanoConns::NanoConns(const Config& config, const Settings& settings, ShardStats& stats, Conns& conns,
                     Sender& sender, Frames& frames, Membership& membership, Publisher& publisher, Ring ring,
                     uint32_t shard_index)
    : SessionBase(conns, membership),
      config_(config),
      settings_(settings),
      stats_(stats),
      sender_(sender),
      publisher_(publisher),
      ring_(ring),
      shard_index_(shard_index),
      websocket_(conns, sender, stats, config),
      heartbeat_s_(config.nano_heartbeat_s) {
  ws::append_server_frame(heartbeat_bytes_, ws::Opcode::binary, pomelo::kHeartbeatPacket);
  heartbeat_frame_ = frames.permanent_frame(reinterpret_cast<const uint8_t*>(heartbeat_bytes_.data()),
                                            static_cast<uint32_t>(heartbeat_bytes_.size()));
}

NanoConns::State* NanoConns::find(uint32_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

const NanoConns::State* NanoConns::find(uint32_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

void NanoConns::open(Conn& c, uint32_t id) {
  State& s = sessions_[id];
  s = State{};
  rearm(c, id, s);
}

// The silence limit: kSilenceIntervals intervals since the last bytes received (any bytes: a client's
// requests count as much as its heartbeats), before the ack as after it.
uint64_t NanoConns::silence_deadline_tick(const Conn& c) const {
  return c.last_rx_tick + limits::ticks_for_ms(1000ull * kSilenceIntervals * heartbeat_s_);
}

// The next thing the timer must look at: the silence limit or our next heartbeat, whichever is first.
void NanoConns::rearm(Conn& c, uint32_t id, const State& s) {
  uint64_t next = silence_deadline_tick(c);
  if (s.stage == Stage::ready) next = std::min(next, s.heartbeat_due_tick);
  conns_.arm_at_tick(id, next);
}

void NanoConns::on_timer(Conn& c, uint32_t id) {
  State* s = find(id);
  RC_ASSERT(s != nullptr);
  const uint64_t now = conns_.now_tick();
  if (silence_deadline_tick(c) <= now) {
    stats_.add(Counter::heartbeat_timeouts);
    conns_.close_ws(c, id, ws::close_code::going_away, "heartbeat timeout");
    return;
  }
  if (s->stage == Stage::ready && s->heartbeat_due_tick <= now) {
    sender_.queue(c, id, heartbeat_frame_);
    s->heartbeat_due_tick = now + limits::ticks_for_ms(1000ull * heartbeat_s_);
  }
  rearm(c, id, *s);
}

void NanoConns::kick(Conn& c, uint32_t id, std::string_view reason) {
  text_.clear();
  pomelo::append_kick_body(text_, reason);
  send_packet(c, id, pomelo::PacketType::kick, text_);
}

void NanoConns::send_packet(Conn& c, uint32_t id, pomelo::PacketType type, std::string_view body) {
  std::string packet;
  if (!pomelo::append_packet(packet, type, body)) return;
  sender_.queue_ws(c, id, ws::Opcode::binary, packet);
}

void NanoConns::fail(Conn& c, uint32_t id, uint16_t close_code, std::string_view reason) {
  if (close_code == ws::close_code::protocol_error) stats_.add(Counter::close_protocol_error);
  // close_ws queues the kick {"reason":...} before the close frame (server-initiated).
  conns_.close_ws(c, id, close_code, reason);
}

void NanoConns::on_message(Conn& c, uint32_t id, ws::Opcode op, std::span<uint8_t> payload) {
  if (op != ws::Opcode::binary) {
    fail(c, id, ws::close_code::unsupported_data, "Pomelo packets travel in binary messages");
    return;
  }
  const pomelo::DecodeResult result =
      pomelo::decode_packets(payload, config_.max_message_bytes,
                             [&](const pomelo::Packet& packet) { return handle_packet(c, id, packet); });
  if (result.status == pomelo::DecodeStatus::incomplete) {
    fail(c, id, ws::close_code::protocol_error, "bad packet: truncated (a packet split across messages)");
  } else if (result.status == pomelo::DecodeStatus::error) {
    fail(c, id, ws::close_code::protocol_error,
         std::string("bad packet: ") + std::string(pomelo::packet_error_text(result.error)));
  }
}

// False stops the packets of the message: the connection is closing.
bool NanoConns::handle_packet(Conn& c, uint32_t id, const pomelo::Packet& packet) {
  State* s = find(id);
  RC_ASSERT(s != nullptr);
  switch (packet.type) {
    case pomelo::PacketType::handshake:
      if (s->stage != Stage::handshake)
        fail(c, id, ws::close_code::protocol_error, "unexpected handshake: already done");
      else
        handle_handshake(c, id, *s, packet.body);
      break;
    case pomelo::PacketType::handshake_ack:
      if (s->stage != Stage::ack) {
        fail(c, id, ws::close_code::protocol_error, "unexpected handshake ack");
      } else {
        // The first heartbeat goes at once, as Pomelo's server sends it: web clients send theirs only
        // `heartbeat` seconds after one of ours (see kSilenceIntervals), so they start beating one
        // interval after the ack instead of two. Then one every interval, so a client that expects
        // ours within 2 intervals of its own always has one. Pushes reach it from now on.
        s->stage = Stage::ready;
        c.encoding = c.parser.compressed_allowed() ? Encoding::pomelo_deflate : Encoding::pomelo;
        sender_.queue(c, id, heartbeat_frame_);
        s->heartbeat_due_tick = conns_.now_tick() + limits::ticks_for_ms(1000ull * heartbeat_s_);
        rearm(c, id, *s);
      }
      break;
    case pomelo::PacketType::heartbeat:
      break;  // its bytes refreshed the connection's last_rx_tick already
    case pomelo::PacketType::data:
      if (s->stage != Stage::ready)
        fail(c, id, ws::close_code::policy_violation, "data before handshake ack");
      else
        handle_data(c, id, *s, packet.body);
      break;
    case pomelo::PacketType::kick:
      fail(c, id, ws::close_code::protocol_error, "unexpected kick from a client");
      break;
  }
  return !c.close_sent && c.phase == Phase::open;
}

void NanoConns::handle_handshake(Conn& c, uint32_t id, State& s, std::string_view body) {
  // Web clients write a user object holding an emoji as CESU-8, which is not JSON (docs/nano.md).
  const RepairedText text = repair_cesu8(body, repaired_);
  pomelo::Handshake hs;
  const pomelo::HandshakeError e = pomelo::parse_handshake(parser_, text.text, hs);
  stats_.add(Counter::commands_in);
  if (e != pomelo::HandshakeError::none) {
    text_.clear();
    pomelo::append_handshake_error(text_, pomelo::handshake_code::bad_handshake);
    send_packet(c, id, pomelo::PacketType::handshake, text_);
    fail(c, id, ws::close_code::policy_violation,
         std::string("bad handshake: ") + std::string(pomelo::handshake_error_text(e)));
    return;
  }
  std::string reason;
  bool accepted = nano_client_supported(hs.sys_type, hs.sys_version);
  if (!accepted) reason = "client type or version not supported";
  const Hooks* hooks = config_.hooks;
  if (accepted && hooks && hooks->authorize_nano_handshake) {
    Session hook_session = session(c, id, {});
    accepted = hooks->authorize_nano_handshake(
        hook_session, NanoHandshake{hs.sys_type, hs.sys_version, hs.user_json}, reason);
    if (c.close_sent || c.phase != Phase::open) return;  // the hook closed it
    if (!accepted && reason.empty()) reason = "refused by the application";
  }
  if (!accepted) {
    text_.clear();
    pomelo::append_handshake_error(text_, pomelo::handshake_code::unsupported_version);
    send_packet(c, id, pomelo::PacketType::handshake, text_);
    fail(c, id, ws::close_code::policy_violation, "handshake refused: " + reason);
    return;
  }
  text_.clear();
  pomelo::append_handshake_response(text_, heartbeat_s_, clock::wall_s(), settings_.nano_routes);
  send_packet(c, id, pomelo::PacketType::handshake, text_);
  s.stage = Stage::ack;
}

void NanoConns::handle_data(Conn& c, uint32_t id, State& s, std::string_view body) {
  pomelo::Message msg;
  const pomelo::MessageError e = pomelo::decode_message(body, settings_.nano_routes, msg);
  stats_.add(Counter::commands_in);
  if (e != pomelo::MessageError::none) {
    fail(c, id, ws::close_code::protocol_error,
         std::string("bad message: ") + std::string(pomelo::message_error_text(e)));
    return;
  }
  if (msg.type != pomelo::MessageType::request && msg.type != pomelo::MessageType::notify) {
    fail(c, id, ws::close_code::protocol_error, "bad message: a client sends requests and notifies only");
    return;
  }
  // Handlers, the JSON parsers and the other members' text frames all need UTF-8; web clients send
  // characters beyond U+FFFF as CESU-8 surrogate halves (docs/nano.md). msg.payload may now view
  // repaired_, untouched until the next packet.
  pomelo::repair_client_payload(msg, repaired_);
  dispatch(c, id, s, msg);
}

// A route's handler: the application's (Engine::handle), else the default one for Nano's chat
// routes. A request is answered through Session::reply; one nobody answers gets {"code":404} (no
// handler) or {"code":500,"error":"no_reply"} (the handler returned without replying), so no client
// waits forever.
void NanoConns::dispatch(Conn& c, uint32_t id, State& s, const pomelo::Message& msg) {
  const bool request = msg.type == pomelo::MessageType::request;
  const MessageHandler* handler = config_.hooks ? config_.hooks->handler(msg.route) : nullptr;
  const NanoDefaultHandler fallback = handler ? nullptr : default_handler(msg.route);
  if (!handler && !fallback) {
    if (request) {
      text_.clear();
      append_nano_error_json(text_, 404, "no_handler", "no handler for this route");
      respond(c, id, msg.id, text_);
    } else {
      notify_dropped(msg.route, "no handler for this route");
    }
    return;
  }
  s.in_request = request;
  s.request_id = msg.id;
  Session handler_session = session(c, id, msg.route);
  const ClientMessage message{msg.route, msg.payload.empty() ? std::string_view("null") : msg.payload,
                              request};
  if (handler) {
    stats_.add(Counter::hook_messages);
    (*handler)(handler_session, message);
  } else {
    NanoChat chat{*this, id, msg};
    fallback(handler_session, message, chat);
  }
  if (s.in_request) {
    s.in_request = false;
    text_.clear();
    append_nano_error_json(text_, 500, "no_reply", "the handler did not answer");
    respond(c, id, msg.id, text_);
  }
}

void NanoConns::respond(Conn& c, uint32_t id, uint32_t request_id, std::string_view payload) {
  if (c.close_sent || c.phase != Phase::open) return;
  pomelo::Message msg;
  msg.type = pomelo::MessageType::response;
  msg.id = request_id;
  msg.payload = payload;
  std::string packet;
  if (pomelo::append_data_packet(packet, msg, settings_.nano_routes) != pomelo::MessageError::none) return;
  sender_.queue_ws(c, id, ws::Opcode::binary, packet);
}

void NanoConns::push(Conn& c, uint32_t id, std::string_view route, std::string_view payload) {
  if (c.close_sent || c.phase != Phase::open) return;
  pomelo::Message msg;
  msg.type = pomelo::MessageType::push;
  msg.route = route;
  msg.payload = payload;
  std::string packet;
  if (pomelo::append_data_packet(packet, msg, settings_.nano_routes) != pomelo::MessageError::none) return;
  sender_.queue_ws(c, id, ws::Opcode::binary, packet);
}

void NanoConns::session_send(uint32_t conn, std::string_view route, std::string_view payload) {
  if (usable(conn)) push(conns_[conn], conn, route, payload.empty() ? "null" : payload);
}

// The response to the request a handler is serving, or, when it was a notify (or is answered
// already), a push on `route`.
void NanoConns::answer(uint32_t conn, std::string_view route, std::string_view payload) {
  State* s = find(conn);
  if (s && s->in_request) {
    s->in_request = false;
    respond(conns_[conn], conn, s->request_id, payload);
    return;
  }
  push(conns_[conn], conn, route, payload);
}

void NanoConns::session_reply(uint32_t conn, std::string_view route, std::string_view payload) {
  if (usable(conn)) answer(conn, route, payload.empty() ? "null" : payload);
}

void NanoConns::session_error(uint32_t conn, std::string_view code, std::string_view message) {
  if (!usable(conn)) return;
  std::string body;
  append_nano_error_json(body, 500, code, message);
  answer(conn, "onError", body);
}

// ---- for the default chat handlers ----

JoinRefusal NanoConns::join_as_client(Session& session, uint32_t conn, std::string_view room) {
  if (!usable(conn)) return JoinRefusal::closed;
  return membership_.join(conns_[conn], conn, room, &session, nullptr).refusal;
}

void NanoConns::name(uint32_t conn, std::string_view uid, std::string_view room) {
  if (State* s = find(conn)) s->room.assign(room);
  if (!membership_.bound_user(conn).empty()) return;  // a connect token's user stays as it is
  // With user_bind_command the uid binds the connection like a go-push BIND (POST /push/user reaches
  // it); otherwise it is only the name the connection goes by.
  if (config_.user_bind_command && room_name_valid(uid, config_.user_id_bytes_max, RoomCharset::utf8))
    membership_.bind_user(conn, uid);
  else
    membership_.set_name(conn, uid);
}

std::string_view NanoConns::chat_room(uint32_t conn) const {
  const State* s = find(conn);
  return s ? std::string_view(s->room) : std::string_view();
}

std::string NanoConns::members_json(uint32_t conn, std::string_view room) const {
  std::string members;
  JsonWriter json(members);
  json.begin_object().key("members").begin_array();
  const RoomId rid = membership_.rooms().find(room);
  if (rid != kNil) {
    for (uint32_t member : membership_.rooms().room(rid).members) {
      if (member == conn || conns_[member].protocol != Protocol::nano) continue;
      const std::string_view member_uid = membership_.uid(member);
      if (!member_uid.empty()) json.string(member_uid);
    }
  }
  json.end_array().end_object();
  return members;
}

PublishOutcome NanoConns::publish(std::string_view room, std::string_view items_json) {
  return publisher_.publish(ring_, Target::room, room, items_json);
}

void NanoConns::notify_dropped(std::string_view route, std::string_view why) {
  stats_.add(Counter::nano_notifies_dropped);  // summarised in the shard's limits line (limit_log.h)
  LOG_DEBUG("shard %u: Nano notify %.*s dropped: %.*s", shard_index_, static_cast<int>(route.size()),
            route.data(), static_cast<int>(why.size()), why.data());
}

}  // namespace ringcast
