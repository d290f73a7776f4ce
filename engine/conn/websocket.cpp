// Control frames and parser errors of a WebSocket connection (see websocket.h).
#include "engine/conn/websocket.h"

#include "engine/codec/utf8.h"

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
    if (sender_.idle(c, id))
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

bool WebSocket::inflate(uint32_t id, ws::Opcode op, std::span<uint8_t> compressed,
                        std::span<uint8_t>& plain) {
  const deflate::InflateResult r =
      inflater_.inflate(compressed.data(), compressed.size(), config_.max_message_bytes);
  switch (r) {
    case deflate::InflateResult::ok:
      break;
    case deflate::InflateResult::too_big:
      on_error(id, ws::close_code::message_too_big, "message too big");
      return false;
    case deflate::InflateResult::corrupt:
      on_error(id, ws::close_code::invalid_payload, "compressed message is not valid DEFLATE");
      return false;
    case deflate::InflateResult::no_memory:
      on_error(id, ws::close_code::internal_error, "out of memory");
      return false;
  }
  plain = std::span<uint8_t>(inflater_.output(), inflater_.output_size());
  if (op == ws::Opcode::text && !plain.empty() && !utf8_valid(plain.data(), plain.size())) {
    on_error(id, ws::close_code::invalid_payload, "text message is not valid UTF-8");
    return false;
  }
  stats_.add(Counter::inflate_messages);
  stats_.add(Counter::inflate_bytes_in, static_cast<int64_t>(compressed.size()));
  stats_.add(Counter::inflate_bytes_out, static_cast<int64_t>(plain.size()));
  return true;
}

}  // namespace ringcast
