// RFC 6455 framing: the incremental client-frame parser and the server-frame encoder.
// Pure protocol code (no I/O): a connection feeds it the bytes a recv delivered and gets complete
// messages and control frames back through a sink; the encoder writes unmasked server frame headers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "engine/base/check.h"
#include "engine/codec/utf8.h"

namespace ringcast::ws {

enum class Opcode : uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// Close codes we send or check (RFC 6455 section 7.4.1).
namespace close_code {
constexpr uint16_t normal = 1000;
constexpr uint16_t going_away = 1001;
constexpr uint16_t protocol_error = 1002;
constexpr uint16_t unsupported_data = 1003;
constexpr uint16_t no_status = 1005;  // never on the wire
constexpr uint16_t abnormal = 1006;   // never on the wire
constexpr uint16_t invalid_payload = 1007;
constexpr uint16_t policy_violation = 1008;
constexpr uint16_t message_too_big = 1009;
constexpr uint16_t internal_error = 1011;
constexpr uint16_t try_again_later = 1013;
}  // namespace close_code

// True for codes a peer may put in a close frame: 1000-1003, 1007-1011 (1012-1014 are registered
// since and accepted too), 3000-4999. Everything else (1004-1006, 1015, <1000, 1016-2999, >=5000)
// is a protocol error.
bool close_code_valid_on_wire(uint16_t code);

constexpr size_t kMaxServerHeaderBytes = 10;  // server frames are never masked
constexpr size_t kMaxControlPayloadBytes = 125;

// Bytes of an unmasked header for a payload of this length.
constexpr size_t server_header_bytes(uint64_t payload_len) {
  return payload_len < 126 ? 2 : payload_len <= 0xFFFF ? 4 : 10;
}

// Writes an unmasked (server) frame header into out (at least server_header_bytes(len) bytes) and
// returns its size. fin=false only when a message really must be fragmented.
size_t encode_server_header(uint8_t* out, Opcode op, uint64_t payload_len, bool fin = true);

// The one builder of whole server frames. A frame in a malloc'd buffer (what Frames::owned_frame takes
// over): the header is written, and `payload` points at payload_len bytes the caller fills in (a
// coalesced PUSH splices its entries there).
struct FrameBuffer {
  uint8_t* bytes = nullptr;
  uint32_t len = 0;  // header + payload
  uint8_t* payload = nullptr;
};
FrameBuffer alloc_server_frame(Opcode op, size_t payload_len);
// The same with `payload` copied in.
FrameBuffer copy_server_frame(Opcode op, std::string_view payload);
// Appends a whole server frame to `out` (constant frames built once: the go-push PONG, Pomelo's
// heartbeat), or only its header, for a payload the caller appends in pieces (recovery's replay).
void append_server_frame(std::string& out, Opcode op, std::string_view payload);
void append_server_header(std::string& out, Opcode op, uint64_t payload_len);

// Writes a complete masked client frame (header + masked copy of payload) into out, which must hold
// payload.size() + 14 bytes; returns the bytes written. For tests, benchmarks and ringcast-load.
size_t encode_client_frame(uint8_t* out, Opcode op, std::span<const uint8_t> payload, uint32_t mask_key,
                           bool fin = true);

// XORs data with the 4-byte mask key, starting key_offset bytes into the key (0..3), in place.
// Works a machine word at a time; the hot part of reading client frames.
void unmask(uint8_t* data, size_t len, const uint8_t key[4], size_t key_offset);

// Outcome of feeding bytes, for the caller's bookkeeping.
enum class ParseStatus : uint8_t {
  ok,      // all bytes consumed; more may come
  closed,  // a close frame was delivered; the parser ignores what follows
  failed,  // a protocol error was reported through on_error; the parser ignores what follows
};

// What the parser calls back. Implemented by the connection (and by tests); the parser is a
// template over it, so there is no virtual call per frame.
//
//   void on_message(Opcode op, std::span<uint8_t> payload);   // complete text/binary message;
//        text already UTF-8 validated; payload unmasked; valid only during the call
//   void on_control(Opcode op, std::span<uint8_t> payload);   // ping, pong or (valid) close; the
//        close payload is code + reason as received, already checked
//   void on_compressed(Opcode op, std::span<uint8_t> payload);  // complete message whose first frame
//        had RSV1 (permessage-deflate, only once allow_compressed() was called): payload unmasked,
//        still compressed, its UTF-8 not checked (the sink inflates, then checks)
//   void on_error(uint16_t close_code, std::string_view reason);  // then the parser stops. Invalid
//        UTF-8 in a text message is reported (1007) by the feed() that brings its first bad byte,
//        before the rest of the message arrives (Autobahn's "fail fast" cases, 6.4)
//
// Any callback may be invoked several times per feed().

// The incremental parser state: small enough to live inside every connection. Bytes for a frame
// header that arrived split are kept in `header_`; a message that arrives split (across recv buffers or
// fragments) is assembled in a heap buffer taken only while needed, so an idle connection holds no
// read buffer at all. The UTF-8 of such a text message is checked piece by piece as it arrives; all
// that is kept between pieces is one byte saying what a character cut by the last piece still needs.
// A whole message in one buffer is checked at once by the SIMD validator.
class FrameParser {
 public:
  FrameParser() = default;
  ~FrameParser() { release(); }
  FrameParser(const FrameParser&) = delete;
  FrameParser& operator=(const FrameParser&) = delete;

  // Feeds bytes from the peer. `data` is mutable because unmasking is done in place. A message whose
  // assembled payload would exceed max_message_bytes fails with 1009.
  template <class Sink>
  ParseStatus feed(uint8_t* data, size_t len, size_t max_message_bytes, Sink& sink);

  // Frees the assembly buffer (also done by the destructor).
  void release();

  // permessage-deflate was agreed: RSV1 on the first frame of a data message marks it compressed
  // (RFC 7692 6); elsewhere it stays a protocol error.
  void allow_compressed() { compressed_allowed_ = true; }
  bool compressed_allowed() const { return compressed_allowed_; }

  // Heap bytes held right now (for memory accounting and tests).
  size_t buffered_bytes() const;
  bool failed() const { return state_ == State::failed; }
  bool closed() const { return state_ == State::closed; }

 private:
  enum class State : uint8_t { header, payload, closed, failed };

  // Growable buffer for a message assembled from several pieces. Allocated with malloc on demand.
  struct Spill {
    size_t size;
    size_t capacity;
    uint8_t data[];  // flexible array member (GNU extension, fine with g++)
  };

  static size_t spill_size(const Spill* spill) { return spill == nullptr ? 0 : spill->size; }
  // Bytes of the whole header announced by its second byte (length form and mask bit).
  static size_t header_bytes(uint8_t byte1) {
    const uint8_t len7 = byte1 & 0x7F;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((byte1 & 0x80) != 0 ? 4 : 0);
  }
  // Appends n bytes, growing the buffer at most to capacity_limit unless more is needed right now.
  // False when malloc fails.
  static bool append(Spill*& spill, const uint8_t* bytes, size_t n, size_t capacity_limit);

  // The limit on a message's bytes as they arrive. A compressed message is bounded by its inflated
  // size (the sink checks that); its compressed form may exceed the limit by what DEFLATE adds to
  // incompressible data (5 bytes per 64 KiB stored block), so it gets that much more here.
  size_t message_limit(size_t max_message_bytes) const {
    const size_t limit =
        message_compressed_ ? max_message_bytes + max_message_bytes / 256 + 64 : max_message_bytes;
    return std::min(limit, kMessageLimitMax);
  }
  static constexpr size_t kMessageLimitMax = UINT32_MAX;
  ParseStatus status() const {
    return state_ == State::closed   ? ParseStatus::closed
           : state_ == State::failed ? ParseStatus::failed
                                     : ParseStatus::ok;
  }
  template <class Sink>
  bool check_prefix(uint8_t byte0, uint8_t byte1, Sink& sink);
  template <class Sink>
  bool begin_frame(const uint8_t* header, size_t max_message_bytes, Sink& sink);
  template <class Sink>
  bool finish_frame(uint8_t* payload, size_t len, Sink& sink);
  template <class Sink>
  bool finish_close(uint8_t* payload, size_t len, Sink& sink);
  template <class Sink>
  void fail(uint16_t code, std::string_view reason, Sink& sink);

  Spill* message_ = nullptr;   // fragmented or split data message being assembled
  Spill* control_ = nullptr;   // split control frame being assembled (<= 125 bytes)
  // 32 bits: a data frame's length is refused above the message limit (kMessageLimitMax at most) and
  // a control frame's above 125 before either is stored.
  uint32_t payload_left_ = 0;  // bytes of the current frame's payload still to come
  uint32_t frame_len_ = 0;     // payload length of the current frame
  uint8_t mask_[4] = {0, 0, 0, 0};
  uint8_t mask_offset_ = 0;  // bytes of the current payload already unmasked, mod 4
  uint8_t header_[14];       // a frame header that arrived split
  uint8_t header_len_ = 0;
  Opcode frame_op_ = Opcode::continuation;    // opcode of the current frame
  Opcode message_op_ = Opcode::continuation;  // text/binary of the current (or last) data message
  bool frame_fin_ = false;
  bool in_message_ = false;  // a fragmented data message is in progress
  bool compressed_allowed_ = false;
  bool message_compressed_ = false;  // the current (or last) data message had RSV1
  State state_ = State::header;
  Utf8Stream text_utf8_;  // the text message's bytes seen so far, when it arrives in pieces
};

// One parser lives in every connection (a million per process): keep it from growing unnoticed.
static_assert(sizeof(FrameParser) <= 56, "FrameParser grew: every connection record grows with it");

}  // namespace ringcast::ws

#include "engine/codec/frame_inl.h"
