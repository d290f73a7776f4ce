// The Nano/Pomelo side of a shard (docs/nano.md): connections upgraded on `nano_path` speak Pomelo
// packets in binary WebSocket messages. Owns their per-connection state (a side table: the Conn record
// only carries a `nano` bit), the handshake / ack / heartbeat / kick state machine, the built-in chat
// routes (room.join, room.message) and the dispatch of other routes to the application's handlers, and
// turns each go-push PUSH frame the fan-out emits into one Pomelo frame, built once per shard.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/codec/frame.h"
#include "engine/codec/pomelo.h"
#include "engine/broadcast/frames.h"

namespace ringcast {

class Shard;
struct Conn;

// ---- Pure parts (unit-tested in tests/unit/nano_conn_test.cpp) ----

// A handshake's sys.type and sys.version the server accepts: a type of 1..64 printable ASCII bytes
// without space; a version of 1..32 bytes starting with a digit, then digits, letters, '.', '+', '-'.
bool nano_client_supported(std::string_view type, std::string_view version);

// Appends to `out` the Pomelo data packets (push messages) for a go-push PUSH's data object
// {"items":[...],"room":"r","seq":N}: one push on `push_route` with the data object as its payload,
// unless some items have the form {"route":R,"data":D} (exactly these two keys, R 1..255 bytes): then
// each such item is a push on R with payload D, and each run of other items a push on `push_route`
// with {"items":[run],"room":"r","seq":N}, in item order. `parser` is reused (one per shard). False
// when a push could not be encoded (a route not UTF-8): it is left out.
bool append_nano_pushes(std::string& out, std::string_view data_object, std::string_view push_route,
                        const pomelo::RouteDict& dict, simdjson::dom::parser& parser);

class NanoConns {
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

  explicit NanoConns(Shard& shard);
  NanoConns(const NanoConns&) = delete;
  NanoConns& operator=(const NanoConns&) = delete;

  bool enabled() const { return enabled_; }

  // The upgrade on nano_path succeeded: the connection now waits for the client's handshake packet.
  void open(Conn& c, uint32_t id);
  // The record is being released.
  void forget(uint32_t id) { sessions_.erase(id); }
  // A complete WebSocket message from a Pomelo connection.
  void on_message(Conn& c, uint32_t id, ws::Opcode op, std::span<uint8_t> payload);
  // The connection's timer: a heartbeat is due, or the client has been silent for 2x the interval.
  void on_timer(Conn& c, uint32_t id);
  // Queues a kick packet {"reason":...}: every server-initiated close sends one before its close frame.
  void kick(Conn& c, uint32_t id, std::string_view reason);

  // Fan-out: the Pomelo frame for a go-push PUSH frame (kNil: nothing to send a Pomelo client). Built on
  // the first Pomelo member and reused for every other while that PUSH frame is being delivered;
  // end_fanout() lets it go (the shard calls it after each fan-out phase).
  FrameId transcode(FrameId push_frame);
  void end_fanout();
  // Only a connection past the handshake ack gets pushes.
  bool ready(uint32_t id) const;

  // Session (hooks.h) on a Pomelo connection.
  std::string_view uid(uint32_t id) const;
  void push(Conn& c, uint32_t id, std::string_view route, std::string_view payload);
  void reply(Conn& c, uint32_t id, std::string_view route, std::string_view payload);
  void error(Conn& c, uint32_t id, std::string_view code, std::string_view message);

 private:
  enum class Stage : uint8_t { handshake, ack, ready };
  struct State {
    Stage stage = Stage::handshake;
    bool in_request = false;  // a handler is serving a request that has not been answered
    uint32_t request_id = 0;
    uint64_t heartbeat_due_tick = 0;
    std::string uid;   // bound by room.join
    std::string room;  // the room room.join put it in (room.message's default)
  };

  bool handle_packet(Conn& c, uint32_t id, const pomelo::Packet& packet);
  void handle_handshake(Conn& c, uint32_t id, State& s, std::string_view body);
  void handle_data(Conn& c, uint32_t id, State& s, std::string_view body);
  void join(Conn& c, uint32_t id, State& s, const pomelo::Message& msg);
  void chat(Conn& c, uint32_t id, State& s, const pomelo::Message& msg);
  void dispatch(Conn& c, uint32_t id, State& s, const pomelo::Message& msg);
  void respond(Conn& c, uint32_t id, uint32_t request_id, std::string_view payload);
  void fail(Conn& c, uint32_t id, uint16_t close_code, std::string_view reason);
  void send_packet(Conn& c, uint32_t id, pomelo::PacketType type, std::string_view body);
  void rearm(Conn& c, uint32_t id, const State& s);
  State* find(uint32_t id);

  Shard& shard_;
  bool enabled_ = false;
  uint32_t heartbeat_s_ = 30;
  pomelo::RouteDict dict_;
  std::unordered_map<uint32_t, State> sessions_;
  std::string heartbeat_bytes_;  // a binary WebSocket frame holding the heartbeat packet
  FrameId heartbeat_frame_ = kNil;
  FrameId cached_src_ = kNil;  // the PUSH frame last transcoded (a reference is held on it)
  FrameId cached_dst_ = kNil;  // its Pomelo frame (a reference is held too), or kNil
  // Transcoding has its own parser: it runs inside deliver, which a go-push JOIN with `since` reaches
  // while its command's views still point into the shard's command parser.
  simdjson::dom::parser push_parser_;
  std::string out_;   // scratch: packets being built
  std::string text_;  // scratch: JSON being built
};

}  // namespace ringcast
