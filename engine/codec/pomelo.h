// The Nano/Pomelo client protocol (lonng/nano speaks Pomelo's wire format) carried in WebSocket binary
// messages: the packet layer (handshake, ack, heartbeat, data, kick), the handshake JSON, the message
// layer inside data packets (request, notify, response, push; varint ids; routes, compressed through a
// RouteDict). Pure: bytes in, results out, no I/O; docs/nano.md describes the format byte by byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/base/json.h"
#include "engine/codec/utf8.h"

namespace ringcast::pomelo {

// ---- Wire limits (fixed by the format; the configured limits live with the caller) ----

constexpr size_t kPacketHeaderBytes = 4;            // type + 24-bit big-endian body length
constexpr size_t kPacketBodyBytesLimit = 0xFFFFFF;  // the most a 24-bit length can announce
constexpr size_t kVarintBytesMax = 5;               // a uint32 in 7-bit groups
constexpr size_t kRouteBytesMax = 255;              // an uncompressed route has a one-byte length
constexpr uint16_t kRouteCodeMax = 0xFFFF;          // compressed routes are two bytes; 0 is never a code
constexpr size_t kRouteDictRoutesMax = kRouteCodeMax;
// Flag byte + id + route length byte + route: everything of a message before its payload.
constexpr size_t kMessageHeaderBytesMax = 1 + kVarintBytesMax + 1 + kRouteBytesMax;

// ---- Packet layer ----

enum class PacketType : uint8_t {
  handshake = 1,      // client: handshake JSON; server: handshake response JSON
  handshake_ack = 2,  // client, after our handshake response; empty body
  heartbeat = 3,      // both ways; empty body
  data = 4,           // body is a message (below)
  kick = 5,           // server: {"reason":"..."} before it closes
};

struct Packet {
  PacketType type = PacketType::data;
  std::string_view body;  // points into the decoded buffer
};

enum class DecodeStatus : uint8_t {
  ok,          // every byte was a complete packet, all delivered
  incomplete,  // complete packets delivered; the bytes from `consumed` on are the start of another
  error,       // the header at `consumed` is bad (see PacketError); nothing after it was looked at
  stopped,     // the callback returned false; `consumed` ends after the packet it refused to go past
};

enum class PacketError : uint8_t {
  none,
  unknown_type,    // type 0 or > 5
  body_too_large,  // announced length over the caller's body_bytes_max (or, on encode, the 24-bit limit)
};

struct DecodeResult {
  DecodeStatus status = DecodeStatus::ok;
  PacketError error = PacketError::none;  // set when status == error
  size_t consumed = 0;                    // bytes of the complete packets delivered
  size_t packets = 0;                     // packets delivered
};

// Decodes the packet at the start of `in`. Returns ok with `out` and `bytes` (header + body) set,
// incomplete when `in` holds less than a whole packet, or error with `error` set. A bad header is an
// error as soon as the bytes that show it are there (the type with the first byte, the length with
// the fourth), without waiting for a body that may never be accepted.
DecodeStatus decode_packet(std::string_view in, size_t body_bytes_max, Packet& out, size_t& bytes,
                           PacketError& error);

// Decodes every complete packet of `in` back to back, calling `bool on_packet(const Packet&)` for
// each (return false to stop). One WebSocket message may carry several packets; a caller that must
// accept a packet split over messages keeps the bytes from `consumed` on and feeds them again with
// the next ones. Pomelo clients send whole packets, so a shard may as well treat incomplete as an error.
template <class OnPacket>
DecodeResult decode_packets(std::string_view in, size_t body_bytes_max, OnPacket&& on_packet) {
  DecodeResult result;
  while (result.consumed < in.size()) {
    Packet packet;
    size_t bytes = 0;
    const DecodeStatus status =
        decode_packet(in.substr(result.consumed), body_bytes_max, packet, bytes, result.error);
    if (status != DecodeStatus::ok) {
      result.status = status;
      return result;
    }
    result.consumed += bytes;
    ++result.packets;
    if (!on_packet(static_cast<const Packet&>(packet))) {
      result.status = DecodeStatus::stopped;
      return result;
    }
  }
  return result;
}

template <class OnPacket>
DecodeResult decode_packets(std::span<const uint8_t> in, size_t body_bytes_max, OnPacket&& on_packet) {
  return decode_packets(std::string_view(reinterpret_cast<const char*>(in.data()), in.size()), body_bytes_max,
                        static_cast<OnPacket&&>(on_packet));
}

// Writes the 4-byte header for a body of body_bytes into out. False (nothing written) when the body
// is over kPacketBodyBytesLimit: a 24-bit length cannot say it.
bool write_packet_header(uint8_t* out, PacketType type, size_t body_bytes);

// Appends header + body to out. False (out unchanged) when the body is over kPacketBodyBytesLimit.
bool append_packet(std::string& out, PacketType type, std::string_view body);

// The two constant packets, to send as they are.
constexpr std::string_view kHeartbeatPacket{"\x03\x00\x00\x00", 4};
constexpr std::string_view kHandshakeAckPacket{"\x02\x00\x00\x00", 4};

std::string_view packet_error_text(PacketError error);

// ---- Route dictionary ----

enum class RouteDictError : uint8_t {
  none,
  duplicate_route,  // the same route twice
  duplicate_code,   // the same code twice
  bad_code,         // code 0 (the format has codes 1..65535)
  bad_route,        // empty, over kRouteBytesMax bytes, or not UTF-8
  too_many_routes,  // more than kRouteDictRoutesMax
};

// The routes both sides agree to send as two-byte codes: the server announces them in its handshake
// response ("dict") and from then on either side may replace a route it holds by its code. Built
// once at start-up (allocates then); lookups do not allocate. Views it returns stay valid while the
// dictionary lives, even if it is moved.
class RouteDict {
 public:
  RouteDict() = default;  // empty: nothing is compressed, every compressed code is unknown

  // Codes 1..N in the order given.
  static RouteDictError build(std::span<const std::string_view> routes, RouteDict& out);
  // Explicit codes, as a Nano server that fixes them itself would send them.
  static RouteDictError build(std::span<const std::pair<std::string_view, uint16_t>> routes, RouteDict& out);

  // 0 when the route has no code.
  uint16_t code_of(std::string_view route) const;
  // Empty when the code is unknown.
  std::string_view route_of(uint16_t code) const;
  size_t size() const { return entries_.size(); }
  // The handshake's "dict" object, {"route":code,...} in code order; "{}" when empty. Rendered once
  // by build, so every handshake response copies it without formatting.
  std::string_view json() const { return json_; }

 private:
  struct Entry {
    uint32_t offset;  // into text_
    uint16_t code;
    uint8_t length;
  };
  std::string_view text_of(const Entry& e) const { return {text_.data() + e.offset, e.length}; }
  static RouteDictError finish(RouteDict& dict);

  std::vector<char> text_;          // all routes back to back (a vector: moves keep the storage)
  std::vector<Entry> entries_;      // sorted by code
  std::vector<uint32_t> by_route_;  // indexes into entries_, sorted by route text
  std::string json_ = "{}";
};

std::string_view route_dict_error_text(RouteDictError error);

// ---- Message layer (the body of a data packet) ----

enum class MessageType : uint8_t { request = 0, notify = 1, response = 2, push = 3 };

constexpr bool message_has_id(MessageType type) {
  return type == MessageType::request || type == MessageType::response;
}
constexpr bool message_has_route(MessageType type) {
  return type != MessageType::response;
}

struct Message {
  MessageType type = MessageType::request;
  uint32_t id = 0;         // request and response only; 0 otherwise
  std::string_view route;  // request, notify, push: into the body, or into the RouteDict when compressed
  bool route_compressed = false;  // decode: the route came as a code. Ignored by the encoder.
  std::string_view payload;       // the rest of the body, opaque (JSON by convention); into the body
};

enum class MessageError : uint8_t {
  none,
  truncated,           // the body ends inside the flag, id or route
  reserved_flag_bits,  // flag bits 4-7 set (Pinus' gzip/error bits included), or bit 0 on a response
  unknown_type,        // type 4..7
  bad_id,              // a varint id longer than 5 bytes or over UINT32_MAX
  unknown_route_code,  // a compressed route the dictionary does not have
  empty_route,         // a request without a route (never answerable); notify and push may have one
  route_not_utf8,
  route_too_long,  // encode only: over kRouteBytesMax bytes, refused rather than truncated
  body_too_large,  // encode only: a data packet body over kPacketBodyBytesLimit
};

// Decodes a data packet body. Views in `out` point into `body` or `dict`; `out` is reset first.
MessageError decode_message(std::string_view body, const RouteDict& dict, Message& out);

// Bytes encode_message_header will write for msg (0 when it would refuse it).
size_t message_header_bytes(const Message& msg, const RouteDict& dict);

// Writes flag, id and route of msg (not its payload) into out, which holds kMessageHeaderBytesMax
// bytes; `bytes` is set to what was written. The route is sent as its code when `dict` has it. Refuses
// (writing nothing) a route over 255 bytes, not UTF-8, or empty on a request. The fields a type does
// not carry (id of a notify or push, route of a response) are ignored.
MessageError encode_message_header(const Message& msg, const RouteDict& dict, uint8_t* out, size_t& bytes);

// Appends the whole message (header + payload) to out; out unchanged on error. Appending to a reused
// string allocates nothing once its capacity has grown.
MessageError append_message(std::string& out, const Message& msg, const RouteDict& dict);

// Appends a data packet carrying msg: packet header + message, in one pass. A push that goes to many
// connections is encoded once this way and the same bytes sent to each.
MessageError append_data_packet(std::string& out, const Message& msg, const RouteDict& dict);

std::string_view message_error_text(MessageError error);

// ---- Text from web clients (CESU-8) ----
//
// Pomelo's JS client and lonng/nano's (starx-wsclient) turn every string they send into bytes with
// Protocol.strencode, one UTF-16 code unit at a time: a character beyond U+FFFF (an emoji) arrives as
// two 3-byte surrogate halves, ED A0..AF xx ED B0..BF xx, which is not UTF-8. That text reaches JSON
// parsers (simdjson refuses it) and, through a room, WebSocket text frames to other clients (which
// must fail on it with 1007). So a connection repairs what a client sends as text before using it:
//   - a data message's payload: repair_client_payload, right after decode_message;
//   - the handshake body: repair_cesu8 (engine/codec/utf8.h), then parse_handshake on the result.
// Routes are not repaired: decode_message refuses one that is not UTF-8 (route_not_utf8). A route
// names a handler registered as UTF-8 by the server; one with a character beyond U+FFFF is not a
// case Pomelo servers have, and one with lone halves or stray bytes could never match a handler.

// Makes msg.payload valid UTF-8 with repair_cesu8: surrogate pairs joined, lone halves and other
// invalid bytes replaced by U+FFFD. When the payload is valid (the usual case) nothing is copied and
// Utf8Repair::none is returned; otherwise msg.payload views `scratch`, which must outlive msg's use.
// For a payload the connection reads as text: JSON, the only serializer ringcast speaks.
Utf8Repair repair_client_payload(Message& msg, std::string& scratch);

// ---- Varint message ids (little-endian groups of 7 bits; 0x80 = more bytes follow) ----

// Bytes append_varint writes for value (1..5).
constexpr size_t varint_bytes(uint32_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

// Writes value into out (kVarintBytesMax bytes) and returns the bytes written; always minimal.
size_t write_varint(uint8_t* out, uint32_t value);

enum class VarintStatus : uint8_t { ok, incomplete, too_long };

// Reads a varint from the start of in. ok: value and bytes set. incomplete: in ends while a byte says
// more follow. too_long: a sixth byte would be needed or the value is over UINT32_MAX. Non-minimal
// encodings within 5 bytes (0x80 0x00 for 0) are accepted, as Pomelo's decoders do.
VarintStatus read_varint(std::string_view in, uint32_t& value, size_t& bytes);

// ---- Handshake ----

// Handshake response codes (Pomelo's).
namespace handshake_code {
constexpr int ok = 200;
constexpr int bad_handshake = 500;        // not JSON, not an object, no sys object
constexpr int unsupported_version = 501;  // client type or version refused
}  // namespace handshake_code

enum class HandshakeError : uint8_t {
  none,
  malformed_json,  // answer handshake_code::bad_handshake
  not_an_object,   // ditto
  missing_sys,     // no "sys" member (Pomelo answers 500 too)
  bad_sys,         // sys is not an object, or sys.type or sys.version is present but not a string
};

struct Handshake {
  std::string_view sys_type;     // e.g. "js-websocket"; empty when absent
  std::string_view sys_version;  // e.g. "0.0.1"; empty when absent
  std::string_view user_json;    // the "user" value's JSON text exactly as sent; empty when absent
};

// Parses a handshake packet body {"sys":{"type":...,"version":...,"rsa":{}},"user":{...}}. `parser`
// is reused across calls (one per shard). sys_type and sys_version point into the parser's document
// (valid until its next parse); user_json points into `body`. A web client's body is CESU-8 when its
// user object holds a character beyond U+FFFF, which this refuses as malformed_json: pass the body
// through repair_cesu8 first (see "Text from web clients" above).
HandshakeError parse_handshake(simdjson::dom::parser& parser, std::string_view body, Handshake& out);

std::string_view handshake_error_text(HandshakeError error);

// Appends {"code":200,"sys":{"heartbeat":S,"servertime":T,"dict":{...}}}: the body of our handshake
// packet. heartbeat_s is the interval the client should send heartbeats at; servertime_s Unix seconds.
void append_handshake_response(std::string& out, uint32_t heartbeat_s, int64_t servertime_s,
                               const RouteDict& dict);

// Appends {"code":C}: a refused handshake (handshake_code::bad_handshake, ::unsupported_version).
void append_handshake_error(std::string& out, int code);

// Appends {"reason":"..."} with JSON escaping: the body of a kick packet.
void append_kick_body(std::string& out, std::string_view reason);

}  // namespace ringcast::pomelo
