// RFC 6455 on an open connection, for every WebSocket protocol alike: the bytes a recv delivered go
// through the frame parser (codec/frame.h); complete messages go to the protocol's handler; pings are
// answered, the close handshake is run, and a parser error becomes its close code (counted). A
// compressed message (permessage-deflate) is inflated here, so handlers only ever see plain ones. The
// handler is a template argument, so a message costs no virtual call.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "engine/broadcast/sender.h"
#include "engine/codec/deflate.h"
#include "engine/codec/frame.h"
#include "engine/config.h"
#include "engine/conn/conns.h"
#include "engine/node/stats.h"

namespace ringcast {

class WebSocket {
 public:
  WebSocket(Conns& conns, Sender& sender, ShardStats& stats, const Config& config)
      : conns_(conns), sender_(sender), stats_(stats), config_(config) {}

  // Feeds received bytes; `handler.on_message(Conn&, id, op, payload)` gets each complete message of
  // a connection that is not closing. The callbacks may close the connection: its parser and record
  // stay intact until feed() returns, and a connection that ended is released then.
  template <class Handler>
  void feed(Conn& c, uint32_t id, uint8_t* data, size_t len, Handler& handler) {
    if (c.close_received) return;
    Sink<Handler> sink{this, &handler, id};
    c.parsing = true;
    c.parser.feed(data, len, config_.max_message_bytes, sink);
    c.parsing = false;
    if (c.phase == Phase::dead) {
      c.parser.release();
      conns_.release_if_done(c, id);
    }
  }

 private:
  template <class Handler>
  struct Sink {
    WebSocket* ws;
    Handler* handler;
    uint32_t id;
    void on_message(ws::Opcode op, std::span<uint8_t> payload) {
      Conn& c = ws->conns_[id];
      if (c.close_sent || c.phase == Phase::dead) return;  // closing: the rest is ignored
      handler->on_message(c, id, op, payload);
    }
    void on_compressed(ws::Opcode op, std::span<uint8_t> payload) {
      Conn& c = ws->conns_[id];
      if (c.close_sent || c.phase == Phase::dead) return;
      std::span<uint8_t> plain;
      if (ws->inflate(id, op, payload, plain)) handler->on_message(c, id, op, plain);
    }
    void on_control(ws::Opcode op, std::span<uint8_t> payload) { ws->on_control(id, op, payload); }
    void on_error(uint16_t code, std::string_view reason) { ws->on_error(id, code, reason); }
  };

  void on_control(uint32_t id, ws::Opcode op, std::span<uint8_t> payload);
  void on_error(uint32_t id, uint16_t code, std::string_view reason);
  // Inflates a compressed message into `plain` (valid until the next one). False when the connection
  // was failed for it: 1009 over max_message_bytes, 1007 for a corrupt stream or a text that is not
  // UTF-8, 1011 when zlib has no memory.
  bool inflate(uint32_t id, ws::Opcode op, std::span<uint8_t> compressed, std::span<uint8_t>& plain);

  Conns& conns_;
  Sender& sender_;
  ShardStats& stats_;
  const Config& config_;
  deflate::Inflater inflater_;
};

}  // namespace ringcast
