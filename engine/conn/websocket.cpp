// Control frames and parser errors of a WebSocket connection (see websocket.h).
#include "engine/conn/websocket.h"

namespace ringcast {

void WebSocket::on_control(uint32_t id, ws::Opcode op, std::span<uint8_t> payload) {
  Conn& c = conns_[id];
  if (c.phase == Phase::dead) return;
  if (op == ws::Opcode::ping) {
    if (!c.close_sent)
      sender_.queue_ws(c, id, ws::Opcode::pong,
                       {reinterpret_cast<const char*>(payload.data()), payload.size()});
    return;
  }
  if (op == ws::Opcode::pong) return;
  // Close. The parser has checked the code and the reason's UTF-8.
  c.close_received = true;
  if (c.close_sent) {
    // The answer to our close: the handshake is complete; the server closes the TCP connection first.
    if (sender_.idle(c))
      conns_.terminate(c, id);
    else
      c.after_flush = AfterFlush::terminate;
    return;
  }
  uint16_t code = ws::close_code::normal;
  if (payload.size() >= 2) code = static_cast<uint16_t>(payload[0] << 8 | payload[1]);
  conns_.close_ws(c, id, code, {});
  c.after_flush = AfterFlush::terminate;
}

void WebSocket::on_error(uint32_t id, uint16_t code, std::string_view reason) {
  Conn& c = conns_[id];
  if (c.phase == Phase::dead) return;
  switch (code) {
    case ws::close_code::protocol_error:
      stats_.add(Counter::close_protocol_error);
      break;
    case ws::close_code::invalid_payload:
      stats_.add(Counter::close_invalid_payload);
      break;
    case ws::close_code::message_too_big:
      stats_.add(Counter::close_too_big);
      break;
    default:
      break;
  }
  // The parser reads nothing more after an error, so there is no close handshake to wait for: the
  // connection ends once the close frame is out (RFC 6455 7.1.7, "fail the WebSocket connection").
  conns_.close_ws(c, id, code, reason);
  c.after_flush = AfterFlush::terminate;
}

}  // namespace ringcast
