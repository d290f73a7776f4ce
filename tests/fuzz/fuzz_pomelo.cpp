// libFuzzer target: the Nano/Pomelo codec on arbitrary bytes, read as the binary WebSocket message a
// client sent. Every packet decoded is re-encoded to the same bytes; every data packet's message is
// decoded with a fixed dictionary, re-encoded and decoded again to the same fields (and to the same
// bytes when the input was canonical); every handshake body is checked against simdjson's own reading
// (user_json is the "user" value, as text from the body), again after CESU-8 repair; every payload
// repaired as a web client's text is valid UTF-8 and repairs to itself; every kick reason makes valid
// JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "engine/base/check.h"
#include "engine/codec/pomelo.h"

namespace {

using namespace ringcast::pomelo;

// Small enough for body_too_large to be reached by inputs of the default maximum length.
constexpr size_t kBodyBytesMax = 1024;

const RouteDict& fuzz_dict() {
  // Codes 1..5, found by index, and two far codes, found by search; one route is not ASCII.
  static const RouteDict dict = [] {
    // clang-format off
    const std::pair<std::string_view, uint16_t> routes[] = {
        {"room.join", 1}, {"room.message", 2}, {"onMembers", 3}, {"onNewUser", 4}, {"onMessage", 5},
        {"far", 0x1234}, {"\xC3\xA9t\xC3\xA9", 0xFFFF},
    };
    // clang-format on
    RouteDict d;
    RC_ASSERT(RouteDict::build(routes, d) == RouteDictError::none);
    return d;
  }();
  return dict;
}

bool utf8(std::string_view text) {
  return ringcast::utf8_valid(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_message(std::string_view body) {
  const RouteDict& dict = fuzz_dict();
  Message m;
  if (decode_message(body, dict, m) != MessageError::none) return;
  RC_ASSERT(message_has_id(m.type) || m.id == 0);
  RC_ASSERT(message_has_route(m.type) || (m.route.empty() && !m.route_compressed));
  RC_ASSERT(m.route.size() <= kRouteBytesMax);
  RC_ASSERT(m.type != MessageType::request || !m.route.empty());
  RC_ASSERT(!m.route_compressed || dict.code_of(m.route) != 0);
  RC_ASSERT(m.route_compressed || m.route.empty() || inside(m.route, body));
  RC_ASSERT(inside(m.payload, body) && m.payload.data() + m.payload.size() == body.data() + body.size());

  std::string encoded;
  RC_ASSERT(append_message(encoded, m, dict) == MessageError::none);
  Message again;
  RC_ASSERT(decode_message(encoded, dict, again) == MessageError::none);
  RC_ASSERT(again.type == m.type && again.id == m.id && again.route == m.route && again.payload == m.payload);
  RC_ASSERT(again.route_compressed == (dict.code_of(m.route) != 0));
  // The encoder compresses every route the dictionary has and writes minimal ids, so it reproduces the
  // input exactly when the input did the same.
  const size_t header_bytes = body.size() - m.payload.size();
  const bool canonical =
      m.route_compressed == (dict.code_of(m.route) != 0) && header_bytes == message_header_bytes(m, dict);
  RC_ASSERT(canonical == (encoded == body));

  std::string packet;
  RC_ASSERT(append_data_packet(packet, m, dict) == MessageError::none);
  RC_ASSERT(packet.size() == kPacketHeaderBytes + encoded.size());
  RC_ASSERT(std::string_view(packet).substr(kPacketHeaderBytes) == encoded);

  // The payload repaired as a web client's text: valid UTF-8 out, at most 3 bytes per byte in (an
  // invalid byte becomes U+FFFD); valid input kept where it was; repairing again changes nothing.
  Message repaired = m;
  std::string scratch;
  const ringcast::Utf8Repair repair = repair_client_payload(repaired, scratch);
  RC_ASSERT(utf8(repaired.payload) && repaired.payload.size() <= 3 * m.payload.size());
  RC_ASSERT((repair == ringcast::Utf8Repair::none) == utf8(m.payload));
  RC_ASSERT(repair != ringcast::Utf8Repair::none || repaired.payload.data() == m.payload.data());
  RC_ASSERT(repaired.route.data() == m.route.data() && repaired.type == m.type && repaired.id == m.id);
  std::string scratch_again;
  RC_ASSERT(ringcast::repair_cesu8(repaired.payload, scratch_again).repair == ringcast::Utf8Repair::none);
}

void check_handshake(std::string_view body) {
  static simdjson::dom::parser parser;
  static simdjson::dom::parser checker;
  static simdjson::dom::parser user_checker;
  Handshake h;
  const HandshakeError error = parse_handshake(parser, body, h);

  // What simdjson alone says the answer should be.
  HandshakeError expected = HandshakeError::none;
  simdjson::dom::element doc;
  simdjson::dom::object object;
  simdjson::dom::element user;
  bool has_user = false;
  if (checker.parse(body.data(), body.size(), true).get(doc)) {
    expected = HandshakeError::malformed_json;
  } else if (doc.get_object().get(object)) {
    expected = HandshakeError::not_an_object;
  } else {
    simdjson::dom::element sys;
    simdjson::dom::object sys_object;
    if (object["sys"].get(sys)) {
      expected = HandshakeError::missing_sys;
    } else if (sys.get_object().get(sys_object)) {
      expected = HandshakeError::bad_sys;
    } else {
      for (const char* key : {"type", "version"}) {
        simdjson::dom::element value;
        if (!sys_object[key].get(value) && !value.is_string()) expected = HandshakeError::bad_sys;
      }
    }
    has_user = !object["user"].get(user);
  }
  RC_ASSERT(error == expected);
  if (error != HandshakeError::none) {
    RC_ASSERT(h.sys_type.empty() && h.sys_version.empty() && h.user_json.empty());
    return;
  }
  RC_ASSERT(has_user == !h.user_json.empty());
  if (has_user) {
    RC_ASSERT(inside(h.user_json, body));
    simdjson::dom::element reread;
    RC_ASSERT(!user_checker.parse(h.user_json.data(), h.user_json.size(), true).get(reread));
    RC_ASSERT(simdjson::minify(reread) == simdjson::minify(user));
  }
}

void check_kick(std::string_view body) {
  static simdjson::dom::parser checker;
  std::string json;
  append_kick_body(json, body);
  simdjson::dom::element doc;
  RC_ASSERT(!checker.parse(json).get(doc));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t offset = 0;
  const DecodeResult result = decode_packets(in, kBodyBytesMax, [&](const Packet& p) {
    const std::string_view wire = in.substr(offset, kPacketHeaderBytes + p.body.size());
    RC_ASSERT(p.body.size() <= kBodyBytesMax && inside(p.body, in));
    RC_ASSERT(p.body.data() == wire.data() + kPacketHeaderBytes);
    // Every prefix of a packet is incomplete, never an error.
    Packet partial;
    size_t bytes = 0;
    PacketError error;
    RC_ASSERT(decode_packet(wire.substr(0, wire.size() - 1), kBodyBytesMax, partial, bytes, error) ==
              DecodeStatus::incomplete);
    std::string again;
    RC_ASSERT(append_packet(again, p.type, p.body));
    RC_ASSERT(again == wire);
    offset += wire.size();
    switch (p.type) {
      case PacketType::data:
        check_message(p.body);
        break;
      case PacketType::handshake: {
        check_handshake(p.body);
        // As a connection reads a web client's handshake: repaired first (engine/codec/pomelo.h).
        std::string scratch;
        const ringcast::RepairedText repaired = ringcast::repair_cesu8(p.body, scratch);
        if (repaired.repair != ringcast::Utf8Repair::none) check_handshake(repaired.text);
        break;
      }
      case PacketType::kick:
        check_kick(p.body);
        break;
      case PacketType::handshake_ack:
      case PacketType::heartbeat:
        break;
    }
    return true;
  });
  RC_ASSERT(result.consumed == offset && result.consumed <= size);
  RC_ASSERT(result.status != DecodeStatus::stopped);
  RC_ASSERT((result.status == DecodeStatus::ok) == (result.consumed == size));
  RC_ASSERT((result.status == DecodeStatus::error) == (result.error != PacketError::none));

  // The raw input as one message body too, so the message decoder sees bytes no packet header wraps.
  check_message(in);
  return 0;
}
