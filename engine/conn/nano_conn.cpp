// Pomelo connections inside a shard: the handshake, ack, heartbeat and kick state machine, the
// built-in chat routes and the dispatch to the application's handlers, and the PUSH -> Pomelo
// transcoding of the fan-out. The codec is engine/codec/pomelo.h; this file only decides what to do.
#include "engine/conn/nano_conn.h"

#include <time.h>

#include <cstdlib>
#include <cstring>

#include "engine/conn/access.h"
#include "engine/codec/http.h"
#include "engine/base/log.h"
#include "engine/shard/shard.h"

namespace ringcast {
namespace {

// The shard's timer wheel resolution (shard.cpp's kTickNs): 100 ms.
constexpr uint64_t kTickMs = 100;
constexpr uint64_t ticks_for_ms(uint64_t ms) {
  return (ms + kTickMs - 1) / kTickMs;
}

// The go-push PUSH frame's envelope around its data object (publish.h's kPushPrefix starts with it).
constexpr std::string_view kPushEnvelope = R"({"type":"PUSH","data":)";
// An item published for Pomelo routes starts like this (see append_nano_pushes).
constexpr std::string_view kRoutedItem = R"({"route":")";

void append_error_json(std::string& out, int code, std::string_view error, std::string_view message) {
  out += R"({"code":)";
  out += std::to_string(code);
  out += R"(,"error":")";
  http::append_json_escaped(out, error);
  out += '"';
  if (!message.empty()) {
    out += R"(,"message":")";
    http::append_json_escaped(out, message);
    out += '"';
  }
  out += '}';
}

int join_refusal_code(std::string_view refused) {
  if (refused == "bad_room") return 400;
  if (refused == "forbidden_room") return 403;
  if (refused == "too_many_rooms") return 429;
  return 500;
}

}  // namespace

// sys.type: printable ASCII, no space; sys.version: starts with a digit, then digits, letters, . + -.
bool nano_client_supported(std::string_view type, std::string_view version) {
  if (type.empty() || type.size() > 64 || version.empty() || version.size() > 32) return false;
  for (unsigned char ch : type)
    if (ch <= 0x20 || ch >= 0x7f) return false;
  if (version[0] < '0' || version[0] > '9') return false;
  for (unsigned char ch : version)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '.' ||
          ch == '+' || ch == '-'))
      return false;
  return true;
}

// A PUSH's data object {"items":[...],"room":"r","seq":N} becomes Pomelo push packets:
// - usually one push on nano_push_route whose payload is the data object as it is (no parsing);
// - when items have the form {"route":R,"data":D} (what room.join and room.message publish, and what
//   the push API may publish for Pomelo routes), each such item is its own push on route R with payload
//   D, and the other items, in runs, pushes on nano_push_route with {"items":[run],"room":..,"seq":N}.
// Several packets travel in one binary message, which Pomelo clients decode one after the other.
bool append_nano_pushes(std::string& out, std::string_view data_object, std::string_view push_route,
                        const pomelo::RouteDict& dict, simdjson::dom::parser& parser) {
  bool complete = true;
  auto append_push = [&](std::string_view route, std::string_view payload) {
    pomelo::Message msg;
    msg.type = pomelo::MessageType::push;
    msg.route = route;
    msg.payload = payload;
    if (pomelo::append_data_packet(out, msg, dict) != pomelo::MessageError::none) complete = false;
  };
  simdjson::dom::element doc;
  simdjson::dom::array items;
  if (data_object.find(kRoutedItem) == std::string_view::npos ||
      parser.parse(data_object.data(), data_object.size()).get(doc) || doc["items"].get_array().get(items)) {
    append_push(push_route, data_object);
    return complete;
  }
  std::string tail;  // ,"room":"r","seq":N}
  std::string_view room;
  if (doc["room"].get_string().get(room) == simdjson::SUCCESS) {
    tail += R"(,"room":")";
    http::append_json_escaped(tail, room);
    tail += '"';
  }
  uint64_t seq = 0;
  if (doc["seq"].get_uint64().get(seq) == simdjson::SUCCESS) tail += R"(,"seq":)" + std::to_string(seq);
  tail += '}';
  std::string run;
  auto flush_run = [&] {
    if (run.empty()) return;
    std::string payload = R"({"items":[)" + run + "]" + tail;
    append_push(push_route, payload);
    run.clear();
  };
  for (simdjson::dom::element item : items) {
    simdjson::dom::object obj;
    std::string_view route;
    simdjson::dom::element data;
    if (item.get_object().get(obj) == simdjson::SUCCESS && obj.size() == 2 &&
        obj["route"].get_string().get(route) == simdjson::SUCCESS &&
        obj["data"].get(data) == simdjson::SUCCESS && !route.empty() &&
        route.size() <= pomelo::kRouteBytesMax) {
      flush_run();
      append_push(route, simdjson::minify(data));
      continue;
    }
    if (!run.empty()) run += ',';
    run += simdjson::minify(item);
  }
  flush_run();
  return complete;
}

NanoConns::NanoConns(Shard& shard) : shard_(shard) {
  const Config& config = shard_.config_;
  enabled_ = nano_enabled(config);
  heartbeat_s_ = config.nano_heartbeat_s;
  if (enabled_) {
    std::vector<std::string> routes = split_list(config.nano_routes);
    std::vector<std::string_view> views(routes.begin(), routes.end());
    const pomelo::RouteDictError e = pomelo::RouteDict::build(views, dict_);
    RC_ASSERT(e == pomelo::RouteDictError::none);  // validate() built it once already
  }
  heartbeat_bytes_.resize(ws::server_header_bytes(pomelo::kHeartbeatPacket.size()));
  ws::encode_server_header(reinterpret_cast<uint8_t*>(heartbeat_bytes_.data()), ws::Opcode::binary,
                           pomelo::kHeartbeatPacket.size());
  heartbeat_bytes_ += pomelo::kHeartbeatPacket;
  heartbeat_frame_ = shard_.frames_.permanent_frame(reinterpret_cast<const uint8_t*>(heartbeat_bytes_.data()),
                                                    static_cast<uint32_t>(heartbeat_bytes_.size()));
}

NanoConns::State* NanoConns::find(uint32_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

bool NanoConns::ready(uint32_t id) const {
  auto it = sessions_.find(id);
  return it != sessions_.end() && it->second.stage == Stage::ready;
}

std::string_view NanoConns::uid(uint32_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? std::string_view() : std::string_view(it->second.uid);
}

void NanoConns::open(Conn& c, uint32_t id) {
  c.nano = 1;
  State& s = sessions_[id];
  s = State{};
  rearm(c, id, s);
}

// The next thing the timer must look at: the silence limit (2x the interval since the last bytes
// received; before the ack as after it), or our next heartbeat, whichever is first.
void NanoConns::rearm(Conn& c, uint32_t id, const State& s) {
  uint64_t next = c.last_rx_tick + ticks_for_ms(2ull * heartbeat_s_ * 1000);
  if (s.stage == Stage::ready) next = std::min(next, s.heartbeat_due_tick);
  shard_.timers_.arm(id, next);
}

void NanoConns::on_timer(Conn& c, uint32_t id) {
  State* s = find(id);
  RC_ASSERT(s != nullptr);
  const uint64_t now = shard_.now_tick_;
  if (c.last_rx_tick + ticks_for_ms(2ull * heartbeat_s_ * 1000) <= now) {
    shard_.stats_.add(Counter::heartbeat_timeouts);
    shard_.close_ws(c, id, ws::close_code::going_away, "heartbeat timeout");
    return;
  }
  if (s->stage == Stage::ready && s->heartbeat_due_tick <= now) {
    shard_.queue_frame(c, id, heartbeat_frame_);
    s->heartbeat_due_tick = now + ticks_for_ms(1000ull * heartbeat_s_);
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
  shard_.queue_ws(c, id, ws::Opcode::binary, packet);
}

void NanoConns::fail(Conn& c, uint32_t id, uint16_t close_code, std::string_view reason) {
  if (close_code == ws::close_code::protocol_error) shard_.stats_.add(Counter::close_protocol_error);
  // close_ws queues the kick {"reason":...} before the close frame (server-initiated).
  shard_.close_ws(c, id, close_code, reason);
}

void NanoConns::on_message(Conn& c, uint32_t id, ws::Opcode op, std::span<uint8_t> payload) {
  if (op != ws::Opcode::binary) {
    fail(c, id, ws::close_code::unsupported_data, "Pomelo packets travel in binary messages");
    return;
  }
  const pomelo::DecodeResult result =
      pomelo::decode_packets(payload, shard_.config_.max_message_bytes,
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
        // The first heartbeat goes at once, as Pomelo's server sends it: clients that only answer
        // heartbeats (Pomelo's and Nano's JS clients send theirs `heartbeat` seconds after each of
        // ours) then beat well inside the 2x silence limit.
        s->stage = Stage::ready;
        shard_.queue_frame(c, id, heartbeat_frame_);
        s->heartbeat_due_tick = shard_.now_tick_ + ticks_for_ms(1000ull * heartbeat_s_);
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
  pomelo::Handshake hs;
  const pomelo::HandshakeError e = pomelo::parse_handshake(shard_.command_parser_, body, hs);
  shard_.stats_.add(Counter::commands_in);
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
  const Hooks* hooks = shard_.config_.hooks;
  if (accepted && hooks && hooks->authorize_nano_handshake) {
    ringcast::Session session(shard_, id, shard_.public_conn_id(c, id), {});
    accepted = hooks->authorize_nano_handshake(
        session, NanoHandshake{hs.sys_type, hs.sys_version, hs.user_json}, reason);
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
  pomelo::append_handshake_response(text_, heartbeat_s_, static_cast<int64_t>(::time(nullptr)), dict_);
  send_packet(c, id, pomelo::PacketType::handshake, text_);
  s.stage = Stage::ack;
}

void NanoConns::handle_data(Conn& c, uint32_t id, State& s, std::string_view body) {
  pomelo::Message msg;
  const pomelo::MessageError e = pomelo::decode_message(body, dict_, msg);
  shard_.stats_.add(Counter::commands_in);
  if (e != pomelo::MessageError::none) {
    fail(c, id, ws::close_code::protocol_error,
         std::string("bad message: ") + std::string(pomelo::message_error_text(e)));
    return;
  }
  if (msg.type != pomelo::MessageType::request && msg.type != pomelo::MessageType::notify) {
    fail(c, id, ws::close_code::protocol_error, "bad message: a client sends requests and notifies only");
    return;
  }
  if (msg.route == kJoinRoute)
    join(c, id, s, msg);
  else if (msg.route == kMessageRoute)
    chat(c, id, s, msg);
  else
    dispatch(c, id, s, msg);
}

void NanoConns::respond(Conn& c, uint32_t id, uint32_t request_id, std::string_view payload) {
  if (c.close_sent || c.phase != Phase::open) return;
  pomelo::Message msg;
  msg.type = pomelo::MessageType::response;
  msg.id = request_id;
  msg.payload = payload;
  std::string packet;
  if (pomelo::append_data_packet(packet, msg, dict_) != pomelo::MessageError::none) return;
  shard_.queue_ws(c, id, ws::Opcode::binary, packet);
}

void NanoConns::push(Conn& c, uint32_t id, std::string_view route, std::string_view payload) {
  if (c.close_sent || c.phase != Phase::open) return;
  pomelo::Message msg;
  msg.type = pomelo::MessageType::push;
  msg.route = route;
  msg.payload = payload;
  std::string packet;
  if (pomelo::append_data_packet(packet, msg, dict_) != pomelo::MessageError::none) return;
  shard_.queue_ws(c, id, ws::Opcode::binary, packet);
}

// room.join, payload {"room":"r","uid":"ann"} (both optional; "nickname" or "name" stand for "uid";
// numbers are taken as their text): joins the room as a JOIN would, binds the uid, pushes onMembers
// (this shard's Pomelo members of the room, before the joiner) to the joiner, publishes onNewUser to
// the room through the ring and answers {"code":0,"result":"success"}.
void NanoConns::join(Conn& c, uint32_t id, State& s, const pomelo::Message& msg) {
  const bool request = msg.type == pomelo::MessageType::request;
  std::string room(kDefaultRoom);
  std::string uid;
  auto refuse = [&](int code, std::string_view error, std::string_view message) {
    if (!request) return;
    text_.clear();
    append_error_json(text_, code, error, message);
    respond(c, id, msg.id, text_);
  };
  if (!msg.payload.empty()) {
    simdjson::dom::element doc;
    simdjson::dom::object obj;
    if (shard_.command_parser_.parse(msg.payload.data(), msg.payload.size()).get(doc) ||
        doc.get_object().get(obj)) {
      refuse(400, "bad_payload", "room.join takes a JSON object {\"room\":...,\"uid\":...}");
      return;
    }
    std::string_view text;
    if (obj["room"].get_string().get(text) == simdjson::SUCCESS) room.assign(text);
    for (const char* key : {"uid", "nickname", "name"}) {
      simdjson::dom::element value;
      if (obj[key].get(value) != simdjson::SUCCESS) continue;
      if (value.get_string().get(text) == simdjson::SUCCESS) {
        uid.assign(text);
      } else if (value.is_int64() || value.is_uint64()) {
        uid = simdjson::minify(value);
      }
      if (!uid.empty()) break;
    }
  }
  if (uid.empty()) uid = s.uid.empty() ? std::to_string(shard_.public_conn_id(c, id)) : s.uid;
  if (uid.size() > kUidBytesMax) {
    refuse(400, "bad_uid", "uid over 128 bytes");
    return;
  }
  // The members before the joiner, as Nano's chat example lists them: Pomelo members of the room on
  // this shard with their uids (docs/nano.md: what "members" means).
  std::string members = R"({"members":[)";
  const RoomId rid = shard_.rooms_.find(room);
  bool first = true;
  if (rid != kNil) {
    for (uint32_t member : shard_.rooms_.room(rid).members) {
      if (member == id || !shard_.slab_[member].nano) continue;
      const std::string_view member_uid = this->uid(member);
      if (member_uid.empty()) continue;
      if (!first) members += ',';
      first = false;
      members += '"';
      http::append_json_escaped(members, member_uid);
      members += '"';
    }
  }
  members += "]}";
  const std::string_view refused = shard_.join_room(c, id, room, nullptr, true);
  if (!refused.empty()) {
    refuse(join_refusal_code(refused), refused, "room.join refused");
    return;
  }
  s.uid = uid;
  s.room = room;
  // With user_bind_command the uid binds the connection like a go-push BIND (POST /push/user reaches
  // it); a connect token's user stays bound as it is.
  if (shard_.config_.user_bind_command && shard_.rooms_.user_of(id).empty() &&
      room_name_valid(uid, shard_.config_.user_id_bytes_max, RoomCharset::utf8))
    shard_.bind_user(c, id, uid);
  push(c, id, kMembersRoute, members);
  // Everyone in the room (every shard, worker and node; go-push members too) hears of the newcomer
  // through the ring, in order with every other push to the room.
  text_ = R"([{"route":")";
  text_ += kNewUserRoute;
  text_ += R"(","data":{"content":"New user: )";
  http::append_json_escaped(text_, uid);
  text_ += R"(","uid":")";
  http::append_json_escaped(text_, uid);
  text_ += R"("}}])";
  const PublishOutcome published = shard_.publisher_.publish(shard_.setup_.ring, Target::room, room, text_);
  if (published.error != PublishError::none)
    LOG_DEBUG("shard %u: onNewUser not published: %s", shard_.setup_.index,
              std::string(publish_error_text(published.error)).c_str());
  if (request) respond(c, id, msg.id, R"({"code":0,"result":"success"})");
}

// room.message (notify, or a request answered {"code":0}): the payload, any JSON, is published to the
// room room.join put the session in as one item {"route":"onMessage","data":<payload>}; Pomelo members
// get it as an onMessage push, go-push members as that item in a PUSH.
void NanoConns::chat(Conn& c, uint32_t id, State& s, const pomelo::Message& msg) {
  const bool request = msg.type == pomelo::MessageType::request;
  auto answer = [&](int code, std::string_view error, std::string_view message) {
    if (!request) return;
    text_.clear();
    append_error_json(text_, code, error, message);
    respond(c, id, msg.id, text_);
  };
  const RoomId rid = s.room.empty() ? kNil : shard_.rooms_.find(s.room);
  if (rid == kNil || !shard_.rooms_.is_member(id, rid)) {
    answer(400, "not_in_room", "room.join first");
    return;
  }
  text_ = R"([{"route":")";
  text_ += kChatRoute;
  text_ += R"(","data":)";
  text_ += msg.payload.empty() ? std::string_view("null") : msg.payload;
  text_ += "}]";
  const PublishOutcome published = shard_.publisher_.publish(shard_.setup_.ring, Target::room, s.room, text_);
  if (published.error != PublishError::none) {
    answer(publish_error_status(published.error), publish_error_text(published.error),
           "room.message not published");
    return;
  }
  if (request) respond(c, id, msg.id, R"({"code":0})");
}

// Any other route: the application's handler registered for it (Engine::handle), which answers a
// request through Session::reply. A request nobody answers gets {"code":404} (no handler) or
// {"code":500,"error":"no_reply"} (the handler returned without replying), so no client waits forever.
void NanoConns::dispatch(Conn& c, uint32_t id, State& s, const pomelo::Message& msg) {
  const bool request = msg.type == pomelo::MessageType::request;
  const Hooks* hooks = shard_.config_.hooks;
  const MessageHandler* handler = hooks ? hooks->handler(msg.route) : nullptr;
  if (!handler) {
    if (request) {
      text_.clear();
      append_error_json(text_, 404, "no_handler", "no handler for this route");
      respond(c, id, msg.id, text_);
    }
    return;
  }
  shard_.stats_.add(Counter::hook_messages);
  s.in_request = request;
  s.request_id = msg.id;
  ringcast::Session session(shard_, id, shard_.public_conn_id(c, id), msg.route);
  (*handler)(session, ClientMessage{msg.route, msg.payload.empty() ? std::string_view("null") : msg.payload});
  if (s.in_request) {
    s.in_request = false;
    text_.clear();
    append_error_json(text_, 500, "no_reply", "the handler did not answer");
    respond(c, id, msg.id, text_);
  }
}

void NanoConns::reply(Conn& c, uint32_t id, std::string_view route, std::string_view payload) {
  State* s = find(id);
  if (s && s->in_request) {
    s->in_request = false;
    respond(c, id, s->request_id, payload);
    return;
  }
  push(c, id, route, payload);
}

void NanoConns::error(Conn& c, uint32_t id, std::string_view code, std::string_view message) {
  std::string body;
  append_error_json(body, 500, code, message);
  State* s = find(id);
  if (s && s->in_request) {
    s->in_request = false;
    respond(c, id, s->request_id, body);
    return;
  }
  push(c, id, "onError", body);
}

// ---- Fan-out ----

FrameId NanoConns::transcode(FrameId src) {
  if (src == cached_src_) return cached_dst_;
  end_fanout();
  Frames& frames = shard_.frames_;
  // (Copied out: building a frame may grow the frames's frame table.)
  const Frame f = frames.frame(src);
  FrameId dst = kNil;
  if (f.len >= 2 && (f.data[0] & 0x0F) == static_cast<uint8_t>(ws::Opcode::text)) {
    const uint8_t len7 = f.data[1] & 0x7F;
    const size_t header = len7 < 126 ? 2 : len7 == 126 ? 4 : 10;
    const std::string_view payload =
        f.len >= header ? std::string_view(reinterpret_cast<const char*>(f.data) + header, f.len - header)
                        : std::string_view();
    if (payload.size() > kPushEnvelope.size() && payload.substr(0, kPushEnvelope.size()) == kPushEnvelope &&
        payload.back() == '}') {
      out_.clear();
      if (!append_nano_pushes(out_,
                              payload.substr(kPushEnvelope.size(), payload.size() - kPushEnvelope.size() - 1),
                              shard_.config_.nano_push_route, dict_, push_parser_))
        LOG_DEBUG("shard %u: a push could not be encoded for Pomelo clients", shard_.setup_.index);
      if (!out_.empty()) {
        const size_t head = ws::server_header_bytes(out_.size());
        auto* bytes = static_cast<uint8_t*>(std::malloc(head + out_.size()));
        RC_ASSERT(bytes != nullptr);
        ws::encode_server_header(bytes, ws::Opcode::binary, out_.size());
        std::memcpy(bytes + head, out_.data(), out_.size());
        dst =
            frames.owned_frame(bytes, static_cast<uint32_t>(head + out_.size()), f.items, true, f.publish_ns);
      }
    }
  }
  // Both stay referenced while cached: the source so its id cannot be reused for another frame.
  frames.ref(src);
  cached_src_ = src;
  if (dst != kNil) frames.ref(dst);
  cached_dst_ = dst;
  return dst;
}

void NanoConns::end_fanout() {
  if (cached_src_ == kNil) return;
  Frames& frames = shard_.frames_;
  if (cached_dst_ != kNil) frames.unref(cached_dst_);
  frames.unref(cached_src_);
  cached_src_ = kNil;
  cached_dst_ = kNil;
}

}  // namespace ringcast
