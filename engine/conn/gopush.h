// go-push connections (ws_path): JSON commands in text frames, parsed by codec/command.h. PING is
// answered with the constant PONG frame; JOIN (with recovery's replay and JOINED marker) and LEAVE go
// through the membership; BIND and HELLO name the user and the connection; any other type goes to the
// application's handler for it. Refusals are ERROR frames and the connection stays; text that is not
// a JSON object closes it (1007). Also the heartbeat deadline of every go-push connection.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "engine/base/json.h"
#include "engine/broadcast/frames.h"
#include "engine/broadcast/sender.h"
#include "engine/codec/command.h"
#include "engine/config.h"
#include "engine/conn/conns.h"
#include "engine/conn/membership.h"
#include "engine/conn/session.h"
#include "engine/conn/websocket.h"
#include "engine/node/stats.h"

namespace ringcast {

class GoPushConns final : public SessionBase {
 public:
  GoPushConns(const Config& config, ShardStats& stats, Conns& conns, Sender& sender, Frames& frames,
              Membership& membership);
  GoPushConns(const GoPushConns&) = delete;
  GoPushConns& operator=(const GoPushConns&) = delete;

  // The 101 went out: pushes reach it from now on, and its heartbeat deadline runs.
  void open(Conn& c, uint32_t id);
  void on_bytes(Conn& c, uint32_t id, uint8_t* data, size_t len) { websocket_.feed(c, id, data, len, *this); }
  void on_message(Conn& c, uint32_t id, ws::Opcode op, std::span<uint8_t> payload);
  // Silent for heartbeat_timeout_ms (any frame counts): closed 1001.
  void on_timer(Conn& c, uint32_t id);

  void session_send(uint32_t conn, std::string_view type, std::string_view data_json) override;
  void session_reply(uint32_t conn, std::string_view type, std::string_view data_json) override {
    session_send(conn, type, data_json);
  }
  void session_error(uint32_t conn, std::string_view code, std::string_view message) override;

  // JetStream recovery: the replay for a JOIN with `since` is in (or its wait timed out): the
  // connection joins and gets its JOINED marker, `position` the one the fan-out takes over from.
  void finish_recovery(uint32_t ticket, uint64_t position, bool recovered);

 private:
  void join_refused(Conn& c, uint32_t id, std::string_view room, const JoinOutcome& outcome) override;
  void command(Conn& c, uint32_t id, const uint8_t* data, size_t len);
  void join(Conn& c, uint32_t id, const Command& cmd);
  void bind(Conn& c, uint32_t id, std::string_view uid);
  void send_text(Conn& c, uint32_t id, std::string_view text) {
    sender_.queue_ws(c, id, ws::Opcode::text, text);
  }

  const Config& config_;
  ShardStats& stats_;
  Sender& sender_;
  Frames& frames_;
  WebSocket websocket_;
  simdjson::dom::parser parser_;
  std::string pong_bytes_;  // the go-push PONG as a complete frame
  FrameId pong_frame_ = kNil;
};

}  // namespace ringcast
