// Nano/Pomelo connections (nano_path, docs/nano.md): Pomelo packets in binary WebSocket messages. Owns
// their per-connection state (a side table keyed by connection id), the handshake / ack / heartbeat /
// kick state machine and the dispatch of routes to handlers: the application's (Engine::handle) and,
// for the routes of Nano's chat example, the default ones (nano_chat.cpp) over the session API.
// Pushes reach a Nano connection as the Pomelo encoding of each frame (encodings.h), once it acked.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/base/json.h"
#include "engine/broadcast/frames.h"
#include "engine/broadcast/publish.h"
#include "engine/broadcast/sender.h"
#include "engine/codec/pomelo.h"
#include "engine/config.h"
#include "engine/conn/conns.h"
#include "engine/conn/membership.h"
#include "engine/conn/session.h"
#include "engine/conn/websocket.h"
#include "engine/node/stats.h"
#include "engine/settings.h"

namespace ringcast {

class NanoConns;

// What the default chat handlers need beyond the session API (nano_chat.cpp).
struct NanoChat {
  NanoConns& conns;
  uint32_t conn;
  const pomelo::Message& message;  // as decoded (its payload may be empty)
};
using NanoDefaultHandler = void (*)(Session& session, const ClientMessage& message, NanoChat& chat);

class NanoConns final : public SessionBase {
 public:
  // The route codes and names of the built-in routes (the dictionary's defaults, docs/nano.md).
  static constexpr std::string_view kJoinRoute = "room.join";
  static constexpr std::string_view kMessageRoute = "room.message";
  static constexpr std::string_view kMembersRoute = "onMembers";
  static constexpr std::string_view kNewUserRoute = "onNewUser";
  static constexpr std::string_view kChatRoute = "onMessage";
  // room.join without a "room": the room Nano's chat example puts everyone in.
  static constexpr std::string_view kDefaultRoom = "room-1";
  static constexpr size_t kUidBytesMax = 128;
  // A client silent for this many heartbeat intervals is kicked. Pomelo's and Nano's web clients send
  // a heartbeat only from their own timer, S after a server heartbeat that found the timer idle; the
  // server heartbeats that arrive while it is pending are ignored, so an idle client beats at most
  // every 2 S (plus the jitter of our heartbeats, a wheel tick each, and the network). 3 S leaves a
  // whole interval of margin at any S, and is the worst case of Nano's own check (2 S of silence,
  // looked at every S). docs/nano.md, "Heartbeats and kicks".
  static constexpr uint32_t kSilenceIntervals = 3;

  NanoConns(const Config& config, const Settings& settings, ShardStats& stats, Conns& conns, Sender& sender,
            Frames& frames, Membership& membership, Publisher& publisher, Ring ring, uint32_t shard_index);
  NanoConns(const NanoConns&) = delete;
  NanoConns& operator=(const NanoConns&) = delete;

  // The upgrade on nano_path succeeded: the connection now waits for the client's handshake packet.
  void open(Conn& c, uint32_t id);
  void on_bytes(Conn& c, uint32_t id, uint8_t* data, size_t len) { websocket_.feed(c, id, data, len, *this); }
  // A complete WebSocket message.
  void on_message(Conn& c, uint32_t id, ws::Opcode op, std::span<uint8_t> payload);
  // The connection's timer: a heartbeat is due, or the client has been silent for kSilenceIntervals.
  void on_timer(Conn& c, uint32_t id);
  // Queues a kick packet {"reason":...}: every close the server starts sends one before its close frame.
  void kick(Conn& c, uint32_t id, std::string_view reason);
  // The record is being released.
  void forget(uint32_t id) { sessions_.erase(id); }

  // SessionHost on a Pomelo connection.
  void session_send(uint32_t conn, std::string_view route, std::string_view payload) override;
  void session_reply(uint32_t conn, std::string_view route, std::string_view payload) override;
  void session_error(uint32_t conn, std::string_view code, std::string_view message) override;

  // ---- for the default chat handlers (nano_chat.cpp) ----
  // A JOIN as the client's own (authorize_join asked); the refusal, if any.
  JoinRefusal join_as_client(Session& session, uint32_t conn, std::string_view room);
  // Names the connection `uid`: bound for POST /push/user when user_bind_command allows and it is
  // not bound yet, else the name it goes by. Remembers the room it is chatting in.
  void name(uint32_t conn, std::string_view uid, std::string_view room);
  std::string_view chat_room(uint32_t conn) const;
  // {"members":[...]}: the uids of this shard's Pomelo members of `room`, but `conn`.
  std::string members_json(uint32_t conn, std::string_view room) const;
  PublishOutcome publish(std::string_view room, std::string_view items_json);
  // A notify refused: it has no response to carry the error, so it is counted (nanoNotifiesDropped,
  // in the shard's limits line) instead.
  void notify_dropped(std::string_view route, std::string_view why);
  simdjson::dom::parser& parser() { return parser_; }
  uint32_t shard_index() const { return shard_index_; }

 private:
  enum class Stage : uint8_t { handshake, ack, ready };
  struct State {
    Stage stage = Stage::handshake;
    bool in_request = false;  // a handler is serving a request that has not been answered
    uint32_t request_id = 0;
    uint64_t heartbeat_due_tick = 0;
    std::string room;  // the room room.join put it in (room.message's default)
  };

  void join_refused(Conn&, uint32_t, std::string_view, const JoinOutcome&) override {
  }  // answered by the handler
  bool handle_packet(Conn& c, uint32_t id, const pomelo::Packet& packet);
  void handle_handshake(Conn& c, uint32_t id, State& s, std::string_view body);
  void handle_data(Conn& c, uint32_t id, State& s, std::string_view body);
  void dispatch(Conn& c, uint32_t id, State& s, const pomelo::Message& msg);
  void respond(Conn& c, uint32_t id, uint32_t request_id, std::string_view payload);
  void answer(uint32_t conn, std::string_view route, std::string_view payload);
  void push(Conn& c, uint32_t id, std::string_view route, std::string_view payload);
  void fail(Conn& c, uint32_t id, uint16_t close_code, std::string_view reason);
  void send_packet(Conn& c, uint32_t id, pomelo::PacketType type, std::string_view body);
  void rearm(Conn& c, uint32_t id, const State& s);
  uint64_t silence_deadline_tick(const Conn& c) const;
  State* find(uint32_t id);
  const State* find(uint32_t id) const;

  const Config& config_;
  const Settings& settings_;
  ShardStats& stats_;
  Sender& sender_;
  Publisher& publisher_;
  Ring ring_;
  uint32_t shard_index_;
  WebSocket websocket_;
  uint32_t heartbeat_s_ = 30;
  std::unordered_map<uint32_t, State> sessions_;
  std::string heartbeat_bytes_;  // a binary WebSocket frame holding the heartbeat packet
  FrameId heartbeat_frame_ = kNil;
  simdjson::dom::parser parser_;
  std::string text_;      // scratch: JSON being built
  std::string repaired_;  // scratch: a client's CESU-8 text made UTF-8 (handshake body, data payload)
};

}  // namespace ringcast
