// FrameParser::feed and its helpers: templates over the connection's sink, so they live in a header
// included at the end of engine/codec/frame.h. A recv buffer goes in; complete messages, control frames or
// one error come out through the sink.
#pragma once

#include <algorithm>
#include <cstdlib>

#include "engine/codec/frame.h"

namespace ringcast::ws {

namespace frame_detail {

constexpr bool is_control(Opcode op) {
  return (static_cast<uint8_t>(op) & 0x08) != 0;
}

inline uint64_t read_be(const uint8_t* bytes, size_t n) {
  uint64_t value = 0;
  for (size_t i = 0; i < n; ++i) value = value << 8 | bytes[i];
  return value;
}

inline bool utf8_ok(const uint8_t* data, size_t len) {
  return len == 0 || utf8_valid(data, len);
}

// One reason for every UTF-8 failure of a text message, whether it is found in a whole message, in a
// piece or at the end: the reported error must not depend on how the bytes were split.
constexpr std::string_view kTextNotUtf8 = "text message is not valid UTF-8";

}  // namespace frame_detail

template <class Sink>
ParseStatus FrameParser::feed(uint8_t* data, size_t len, size_t max_message_bytes, Sink& sink) {
  using frame_detail::is_control;
  if (state_ == State::closed || state_ == State::failed) return status();
  uint8_t* p = data;
  uint8_t* const end = data + len;
  for (;;) {
    if (state_ == State::header) {
      if (p == end) return ParseStatus::ok;
      const size_t avail = static_cast<size_t>(end - p);
      if (header_len_ == 0 && avail >= 2 && avail >= header_bytes(p[1])) {
        // The common case: the whole header is in this buffer, read it where it lies.
        if (!check_prefix(p[0], p[1], sink)) return status();
        const uint8_t* header = p;
        p += header_bytes(p[1]);
        if (!begin_frame(header, max_message_bytes, sink)) return status();
      } else {
        // A header split across feeds is gathered in header_: first its two fixed bytes, which are
        // checked at once and say how long the rest is.
        if (header_len_ < 2) {
          while (header_len_ < 2 && p < end) header_[header_len_++] = *p++;
          if (header_len_ < 2) return ParseStatus::ok;
          if (!check_prefix(header_[0], header_[1], sink)) return status();
        }
        const size_t want = header_bytes(header_[1]);
        const size_t n = std::min(want - header_len_, static_cast<size_t>(end - p));
        std::memcpy(header_ + header_len_, p, n);
        header_len_ += static_cast<uint8_t>(n);
        p += n;
        if (header_len_ < want) return ParseStatus::ok;
        header_len_ = 0;
        if (!begin_frame(header_, max_message_bytes, sink)) return status();
      }
    }

    // State::payload. A frame that arrives whole and needs no assembly is unmasked where it lies
    // and handed over without a copy; everything else goes through a spill buffer.
    const size_t avail = static_cast<size_t>(end - p);
    const bool control = is_control(frame_op_);
    // (A compressed text message's UTF-8 is checked once it is inflated.)
    const bool text = !control && message_op_ == Opcode::text && !message_compressed_;
    if (payload_left_ == frame_len_ && avail >= frame_len_ &&
        (control || (frame_fin_ && spill_size(message_) == 0))) {
      const size_t n = static_cast<size_t>(frame_len_);
      unmask(p, n, mask_, 0);
      // A whole message (no earlier fragment brought a byte): the SIMD validator sees all of it.
      if (text && !frame_detail::utf8_ok(p, n)) {
        fail(close_code::invalid_payload, frame_detail::kTextNotUtf8, sink);
        return status();
      }
      uint8_t* payload = p;
      p += n;
      payload_left_ = 0;
      if (!finish_frame(payload, n, sink)) return status();
      continue;
    }
    const size_t n = std::min<size_t>(avail, payload_left_);
    unmask(p, n, mask_, mask_offset_);
    mask_offset_ = static_cast<uint8_t>((mask_offset_ + n) & 3);
    // A text message in pieces is checked piece by piece, so a peer sending invalid UTF-8 is failed
    // when those bytes arrive rather than after it has sent (and we have buffered) the rest.
    if (text && !text_utf8_.feed(p, n)) {
      fail(close_code::invalid_payload, frame_detail::kTextNotUtf8, sink);
      return status();
    }
    Spill*& spill = control ? control_ : message_;
    // A final frame's total is known, so the buffer never grows past it; a non-final fragment may be
    // followed by more, bounded only by the message limit (already checked against this frame).
    const size_t capacity_limit = (control || frame_fin_)
                                      ? spill_size(spill) + static_cast<size_t>(payload_left_)
                                      : message_limit(max_message_bytes);
    if (!append(spill, p, n, capacity_limit)) {
      fail(close_code::internal_error, "out of memory", sink);
      return status();
    }
    p += n;
    payload_left_ -= static_cast<uint32_t>(n);
    if (payload_left_ > 0) return ParseStatus::ok;  // the buffer ended inside the payload
    if (!finish_frame(spill == nullptr ? nullptr : spill->data, spill_size(spill), sink)) return status();
  }
}

// Checks what the first two header bytes alone decide, so a bad frame is refused before the rest of
// its header arrives. The order of the checks is fixed: the reported error must not depend on how
// the bytes were split.
template <class Sink>
bool FrameParser::check_prefix(uint8_t byte0, uint8_t byte1, Sink& sink) {
  const uint8_t op = byte0 & 0x0F;
  const bool fin = (byte0 & 0x80) != 0;
  // RSV1 means "compressed" once permessage-deflate was agreed, and only on a message's first frame
  // (RFC 7692 6.1); RSV2 and RSV3 belong to no extension we speak.
  if ((byte0 & 0x30) != 0 || ((byte0 & 0x40) != 0 && !compressed_allowed_)) {
    fail(close_code::protocol_error, "reserved bits set", sink);
    return false;
  }
  if ((byte0 & 0x40) != 0 && (op == 0x0 || (op & 0x08) != 0)) {
    fail(close_code::protocol_error, op == 0x0 ? "RSV1 on a continuation frame" : "RSV1 on a control frame",
         sink);
    return false;
  }
  switch (op) {
    case 0x0:
      if (!in_message_) {
        fail(close_code::protocol_error, "continuation frame without a message", sink);
        return false;
      }
      break;
    case 0x1:
    case 0x2:
      if (in_message_) {
        fail(close_code::protocol_error, "new message inside a fragmented message", sink);
        return false;
      }
      break;
    case 0x8:
    case 0x9:
    case 0xA:
      if (!fin) {
        fail(close_code::protocol_error, "fragmented control frame", sink);
        return false;
      }
      if ((byte1 & 0x7F) > kMaxControlPayloadBytes) {
        fail(close_code::protocol_error, "control frame payload over 125 bytes", sink);
        return false;
      }
      break;
    default:
      fail(close_code::protocol_error, "unknown opcode", sink);
      return false;
  }
  if ((byte1 & 0x80) == 0) {
    fail(close_code::protocol_error, "unmasked client frame", sink);
    return false;
  }
  return true;
}

// Reads the length and mask key of a complete header whose prefix passed check_prefix, and enters
// the payload state. The message limit is enforced here, from the declared length, so an oversized
// message is refused before any of its payload is buffered.
template <class Sink>
bool FrameParser::begin_frame(const uint8_t* header, size_t max_message_bytes, Sink& sink) {
  using frame_detail::read_be;
  const uint8_t len7 = header[1] & 0x7F;
  const uint8_t* rest = header + 2;
  uint64_t len = len7;
  if (len7 == 126) {
    len = read_be(rest, 2);
    rest += 2;
    if (len < 126) {
      fail(close_code::protocol_error, "non-minimal length encoding", sink);
      return false;
    }
  } else if (len7 == 127) {
    len = read_be(rest, 8);
    rest += 8;
    if ((len >> 63) != 0) {
      fail(close_code::protocol_error, "64-bit length with the top bit set", sink);
      return false;
    }
    if (len <= 0xFFFF) {
      fail(close_code::protocol_error, "non-minimal length encoding", sink);
      return false;
    }
  }
  frame_op_ = static_cast<Opcode>(header[0] & 0x0F);
  frame_fin_ = (header[0] & 0x80) != 0;
  if (frame_op_ == Opcode::text || frame_op_ == Opcode::binary) {
    message_op_ = frame_op_;  // continuations and the end of the message refer to it
    message_compressed_ = (header[0] & 0x40) != 0;
    text_utf8_.reset();
  }
  if (!frame_detail::is_control(frame_op_)) {
    const size_t limit = message_limit(max_message_bytes);
    const size_t assembled = frame_op_ == Opcode::continuation ? spill_size(message_) : 0;
    if (assembled > limit || len > limit - assembled) {
      fail(close_code::message_too_big, "message too big", sink);
      return false;
    }
  }
  std::memcpy(mask_, rest, 4);
  mask_offset_ = 0;
  frame_len_ = static_cast<uint32_t>(len);  // (at most kMessageLimitMax, or 125: checked above)
  payload_left_ = static_cast<uint32_t>(len);
  state_ = State::payload;
  return true;
}

// Called with the complete, unmasked payload of the current frame: in place in the caller's buffer,
// or in the spill it was assembled in. False when the parser stopped (error or close).
template <class Sink>
bool FrameParser::finish_frame(uint8_t* payload, size_t len, Sink& sink) {
  state_ = State::header;
  if (frame_detail::is_control(frame_op_)) {
    if (frame_op_ == Opcode::close) return finish_close(payload, len, sink);
    sink.on_control(frame_op_, std::span<uint8_t>(payload, len));
    std::free(control_);
    control_ = nullptr;
    return true;
  }
  if (!frame_fin_) {
    in_message_ = true;
    return true;
  }
  in_message_ = false;
  // Every byte was checked on arrival; what is left is a character cut by the end of the message.
  if (message_compressed_) {
    sink.on_compressed(message_op_, std::span<uint8_t>(payload, len));
  } else {
    if (message_op_ == Opcode::text && !text_utf8_.complete()) {
      fail(close_code::invalid_payload, frame_detail::kTextNotUtf8, sink);
      return false;
    }
    sink.on_message(message_op_, std::span<uint8_t>(payload, len));
  }
  std::free(message_);  // the message was delivered from here, or it is null (in place)
  message_ = nullptr;
  return true;
}

template <class Sink>
bool FrameParser::finish_close(uint8_t* payload, size_t len, Sink& sink) {
  if (len == 1) {
    fail(close_code::protocol_error, "close payload of one byte", sink);
    return false;
  }
  if (len >= 2) {
    const auto code = static_cast<uint16_t>(frame_detail::read_be(payload, 2));
    if (!close_code_valid_on_wire(code)) {
      fail(close_code::protocol_error, "invalid close code", sink);
      return false;
    }
    if (!frame_detail::utf8_ok(payload + 2, len - 2)) {
      fail(close_code::invalid_payload, "close reason is not valid UTF-8", sink);
      return false;
    }
  }
  sink.on_control(Opcode::close, std::span<uint8_t>(payload, len));
  state_ = State::closed;
  release();  // nothing after a close is read, so nothing is worth keeping
  return false;
}

template <class Sink>
void FrameParser::fail(uint16_t code, std::string_view reason, Sink& sink) {
  state_ = State::failed;
  release();
  sink.on_error(code, reason);
}

}  // namespace ringcast::ws
