// Unit tests for engine/pomelo: the Nano/Pomelo codec. Expected bytes are written out by hand from the
// format (docs/nano.md), never produced by the encoder under test: packet headers and their edges,
// every split point of a buffer, varint edges, every message type with plain and compressed routes,
// the route dictionary, the handshake JSON both ways, the kick body, encode/decode round trips, and the
// repair of CESU-8 text from web clients (bytes made by a copy of their Protocol.strencode).
#include "engine/codec/pomelo.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::pomelo {
namespace {

// Literal bytes, to be concatenated with literal text: B({0x00, 0x01, 0x09}) + "room.join".
std::string B(std::initializer_list<uint8_t> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

RouteDict chat_dict() {
  const std::vector<std::string_view> routes = {"room.join", "room.message", "onMembers", "onNewUser",
                                                "onMessage"};
  RouteDict dict;
  EXPECT_EQ(RouteDict::build(routes, dict), RouteDictError::none);
  return dict;
}

// ---- Packet layer ----

TEST(PomeloPacket, EncodeHeaderBytes) {
  std::string out;
  ASSERT_TRUE(append_packet(out, PacketType::handshake, "{}"));
  EXPECT_EQ(out, B({0x01, 0x00, 0x00, 0x02}) + "{}");
  out.clear();
  ASSERT_TRUE(append_packet(out, PacketType::handshake_ack, ""));
  EXPECT_EQ(out, B({0x02, 0x00, 0x00, 0x00}));
  EXPECT_EQ(out, kHandshakeAckPacket);
  out.clear();
  ASSERT_TRUE(append_packet(out, PacketType::heartbeat, ""));
  EXPECT_EQ(out, B({0x03, 0x00, 0x00, 0x00}));
  EXPECT_EQ(out, kHeartbeatPacket);
  out = "x";  // appends, never replaces
  ASSERT_TRUE(append_packet(out, PacketType::kick, "{\"reason\":\"bye\"}"));
  EXPECT_EQ(out, "x" + B({0x05, 0x00, 0x00, 0x10}) + "{\"reason\":\"bye\"}");

  uint8_t header[4] = {0xAA, 0xAA, 0xAA, 0xAA};
  ASSERT_TRUE(write_packet_header(header, PacketType::data, 0x012345));
  EXPECT_EQ(std::string(header, header + 4), B({0x04, 0x01, 0x23, 0x45}));
  ASSERT_TRUE(write_packet_header(header, PacketType::data, 0xFFFFFF));
  EXPECT_EQ(std::string(header, header + 4), B({0x04, 0xFF, 0xFF, 0xFF}));
  // 2^24 bytes cannot be announced in 24 bits: refused, nothing written.
  EXPECT_FALSE(write_packet_header(header, PacketType::data, 0x1000000));
  EXPECT_EQ(std::string(header, header + 4), B({0x04, 0xFF, 0xFF, 0xFF}));
}

TEST(PomeloPacket, AppendRefusesBodyOverTheWireLimit) {
  std::string body(kPacketBodyBytesLimit + 1, 'x');
  std::string out = "keep";
  EXPECT_FALSE(append_packet(out, PacketType::data, body));
  EXPECT_EQ(out, "keep");
  body.pop_back();
  ASSERT_TRUE(append_packet(out, PacketType::data, body));
  EXPECT_EQ(out.size(), 4 + 4 + kPacketBodyBytesLimit);
  EXPECT_EQ(out.substr(4, 4), B({0x04, 0xFF, 0xFF, 0xFF}));
}

struct Decoded {
  DecodeResult result;
  std::vector<std::pair<PacketType, std::string>> packets;
};

Decoded decode_all(std::string_view in, size_t body_bytes_max = kPacketBodyBytesLimit) {
  Decoded d;
  d.result = decode_packets(in, body_bytes_max, [&](const Packet& p) {
    d.packets.emplace_back(p.type, std::string(p.body));
    return true;
  });
  return d;
}

TEST(PomeloPacket, DecodeOnePacketOfEachType) {
  for (uint8_t type = 1; type <= 5; ++type) {
    const std::string in = B({type, 0x00, 0x00, 0x03}) + "abc";
    Packet p;
    size_t bytes = 99;
    PacketError error = PacketError::unknown_type;
    ASSERT_EQ(decode_packet(in, 100, p, bytes, error), DecodeStatus::ok) << int(type);
    EXPECT_EQ(static_cast<uint8_t>(p.type), type);
    EXPECT_EQ(p.body, "abc");
    EXPECT_EQ(p.body.data(), in.data() + 4);  // a view, not a copy
    EXPECT_EQ(bytes, 7u);
    EXPECT_EQ(error, PacketError::none);
  }
}

TEST(PomeloPacket, LengthZero) {
  const Decoded d = decode_all(B({0x03, 0x00, 0x00, 0x00}), 0);
  EXPECT_EQ(d.result.status, DecodeStatus::ok);
  EXPECT_EQ(d.result.consumed, 4u);
  ASSERT_EQ(d.packets.size(), 1u);
  EXPECT_EQ(d.packets[0].first, PacketType::heartbeat);
  EXPECT_EQ(d.packets[0].second, "");
}

TEST(PomeloPacket, UnknownTypeIsAnErrorFromTheFirstByte) {
  for (uint8_t type : {0x00, 0x06, 0x07, 0x40, 0xFF}) {
    for (const std::string& in :
         {B({type}), B({type, 0x00, 0x00, 0x00}), B({type, 0x00, 0x00, 0x01}) + "x"}) {
      const Decoded d = decode_all(in);
      EXPECT_EQ(d.result.status, DecodeStatus::error) << int(type);
      EXPECT_EQ(d.result.error, PacketError::unknown_type);
      EXPECT_EQ(d.result.consumed, 0u);
      EXPECT_TRUE(d.packets.empty());
    }
  }
}

TEST(PomeloPacket, ConfiguredMaxAgainstTheWireLimit) {
  // The length is judged as soon as the header is complete, before any of the body arrives.
  const std::string header = B({0x04, 0xFF, 0xFF, 0xFF});
  Decoded d = decode_all(header, kPacketBodyBytesLimit);
  EXPECT_EQ(d.result.status, DecodeStatus::incomplete);
  d = decode_all(header, kPacketBodyBytesLimit - 1);
  EXPECT_EQ(d.result.status, DecodeStatus::error);
  EXPECT_EQ(d.result.error, PacketError::body_too_large);
  d = decode_all(B({0x04, 0x00, 0x01, 0x00}), 255);
  EXPECT_EQ(d.result.status, DecodeStatus::error);
  EXPECT_EQ(d.result.error, PacketError::body_too_large);
  d = decode_all(B({0x04, 0x00, 0x00, 0xFF}) + std::string(255, 'p'), 255);
  EXPECT_EQ(d.result.status, DecodeStatus::ok);
  // The largest packet the format can carry, whole.
  const std::string biggest = header + std::string(kPacketBodyBytesLimit, 'b');
  d = decode_all(biggest, kPacketBodyBytesLimit);
  EXPECT_EQ(d.result.status, DecodeStatus::ok);
  ASSERT_EQ(d.packets.size(), 1u);
  EXPECT_EQ(d.packets[0].second.size(), kPacketBodyBytesLimit);
  // A max over the wire limit changes nothing: 24 bits cannot say more.
  d = decode_all(biggest, SIZE_MAX);
  EXPECT_EQ(d.result.status, DecodeStatus::ok);
}

// Three packets back to back: ack, heartbeat, a data packet with a 5-byte body, a kick.
const std::string kStream = B({0x02, 0x00, 0x00, 0x00}) + B({0x03, 0x00, 0x00, 0x00}) +
                            B({0x04, 0x00, 0x00, 0x05}) + "hello" + B({0x05, 0x00, 0x00, 0x02}) + "{}";
const size_t kStreamEnds[] = {4, 8, 17, 23};

TEST(PomeloPacket, SeveralPacketsInOneBuffer) {
  const Decoded d = decode_all(kStream);
  EXPECT_EQ(d.result.status, DecodeStatus::ok);
  EXPECT_EQ(d.result.consumed, kStream.size());
  EXPECT_EQ(d.result.packets, 4u);
  ASSERT_EQ(d.packets.size(), 4u);
  EXPECT_EQ(d.packets[0], std::make_pair(PacketType::handshake_ack, std::string()));
  EXPECT_EQ(d.packets[1], std::make_pair(PacketType::heartbeat, std::string()));
  EXPECT_EQ(d.packets[2], std::make_pair(PacketType::data, std::string("hello")));
  EXPECT_EQ(d.packets[3], std::make_pair(PacketType::kick, std::string("{}")));
}

TEST(PomeloPacket, EverySplitPointIsIncompleteUntilComplete) {
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    const Decoded d = decode_all(std::string_view(kStream).substr(0, cut));
    size_t complete = 0;
    size_t complete_bytes = 0;
    for (size_t end : kStreamEnds) {
      if (end <= cut) {
        ++complete;
        complete_bytes = end;
      }
    }
    EXPECT_EQ(d.packets.size(), complete) << cut;
    EXPECT_EQ(d.result.consumed, complete_bytes) << cut;
    EXPECT_EQ(d.result.status, cut == complete_bytes ? DecodeStatus::ok : DecodeStatus::incomplete) << cut;
  }
}

TEST(PomeloPacket, CarryingTheRemainderAcrossEverySplitGivesTheSamePackets) {
  const Decoded whole = decode_all(kStream);
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    std::vector<std::pair<PacketType, std::string>> got;
    const auto sink = [&](const Packet& p) {
      got.emplace_back(p.type, std::string(p.body));
      return true;
    };
    std::string pending(kStream.substr(0, cut));
    DecodeResult r = decode_packets(pending, 100, sink);
    pending.erase(0, r.consumed);
    pending += kStream.substr(cut);
    r = decode_packets(pending, 100, sink);
    EXPECT_EQ(r.status, DecodeStatus::ok) << cut;
    EXPECT_EQ(got, whole.packets) << cut;
  }
}

TEST(PomeloPacket, ErrorAfterGoodPacketsPointsAtTheBadHeader) {
  const std::string in =
      B({0x03, 0x00, 0x00, 0x00}) + B({0x09, 0x00, 0x00, 0x00}) + B({0x03, 0x00, 0x00, 0x00});
  const Decoded d = decode_all(in);
  EXPECT_EQ(d.result.status, DecodeStatus::error);
  EXPECT_EQ(d.result.error, PacketError::unknown_type);
  EXPECT_EQ(d.result.consumed, 4u);
  EXPECT_EQ(d.result.packets, 1u);
  EXPECT_EQ(d.packets.size(), 1u);
}

TEST(PomeloPacket, TheCallbackCanStop) {
  size_t seen = 0;
  const DecodeResult r = decode_packets(kStream, 100, [&](const Packet& p) {
    ++seen;
    return p.type != PacketType::heartbeat;
  });
  EXPECT_EQ(r.status, DecodeStatus::stopped);
  EXPECT_EQ(r.consumed, 8u);
  EXPECT_EQ(r.packets, 2u);
  EXPECT_EQ(seen, 2u);
}

TEST(PomeloPacket, SpanInput) {
  const std::vector<uint8_t> in = {0x04, 0x00, 0x00, 0x01, 0x7B};
  std::string body;
  const DecodeResult r = decode_packets(std::span<const uint8_t>(in), 10, [&](const Packet& p) {
    body = p.body;
    return true;
  });
  EXPECT_EQ(r.status, DecodeStatus::ok);
  EXPECT_EQ(body, "{");
}

TEST(PomeloPacket, EmptyInputIsOkWithNothing) {
  const Decoded d = decode_all("");
  EXPECT_EQ(d.result.status, DecodeStatus::ok);
  EXPECT_EQ(d.result.consumed, 0u);
  Packet p;
  size_t bytes = 0;
  PacketError error;
  EXPECT_EQ(decode_packet("", 10, p, bytes, error), DecodeStatus::incomplete);
}

// ---- Varint ----

struct VarintCase {
  uint32_t value;
  std::string bytes;
};

TEST(PomeloVarint, Edges) {
  const VarintCase cases[] = {
      {0, B({0x00})},
      {1, B({0x01})},
      {127, B({0x7F})},
      {128, B({0x80, 0x01})},
      {300, B({0xAC, 0x02})},
      {16383, B({0xFF, 0x7F})},
      {16384, B({0x80, 0x80, 0x01})},
      {(1u << 21) - 1, B({0xFF, 0xFF, 0x7F})},
      {1u << 21, B({0x80, 0x80, 0x80, 0x01})},
      {(1u << 28) - 1, B({0xFF, 0xFF, 0xFF, 0x7F})},
      {1u << 28, B({0x80, 0x80, 0x80, 0x80, 0x01})},
      {UINT32_MAX, B({0xFF, 0xFF, 0xFF, 0xFF, 0x0F})},
  };
  for (const VarintCase& c : cases) {
    uint8_t out[kVarintBytesMax];
    const size_t n = write_varint(out, c.value);
    EXPECT_EQ(std::string(out, out + n), c.bytes) << c.value;
    EXPECT_EQ(varint_bytes(c.value), c.bytes.size()) << c.value;
    uint32_t value = 12345;
    size_t bytes = 0;
    // Followed by other bytes, which the varint must not take.
    ASSERT_EQ(read_varint(c.bytes + "\x7F", value, bytes), VarintStatus::ok) << c.value;
    EXPECT_EQ(value, c.value);
    EXPECT_EQ(bytes, c.bytes.size());
  }
}

TEST(PomeloVarint, Rejected) {
  uint32_t value = 0;
  size_t bytes = 0;
  // Six bytes, even when the value would fit.
  EXPECT_EQ(read_varint(B({0x80, 0x80, 0x80, 0x80, 0x80, 0x00}), value, bytes), VarintStatus::too_long);
  EXPECT_EQ(read_varint(B({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), value, bytes), VarintStatus::too_long);
  // Five bytes that overflow a uint32: 2^32, and every fifth byte above 0x0F.
  EXPECT_EQ(read_varint(B({0x80, 0x80, 0x80, 0x80, 0x10}), value, bytes), VarintStatus::too_long);
  EXPECT_EQ(read_varint(B({0xFF, 0xFF, 0xFF, 0xFF, 0x7F}), value, bytes), VarintStatus::too_long);
  // A fifth byte that says more follow is a sixth byte, whatever comes next.
  EXPECT_EQ(read_varint(B({0xFF, 0xFF, 0xFF, 0xFF, 0x8F}), value, bytes), VarintStatus::too_long);
}

TEST(PomeloVarint, Truncated) {
  uint32_t value = 0;
  size_t bytes = 0;
  EXPECT_EQ(read_varint("", value, bytes), VarintStatus::incomplete);
  EXPECT_EQ(read_varint(B({0x80}), value, bytes), VarintStatus::incomplete);
  EXPECT_EQ(read_varint(B({0xFF, 0xFF}), value, bytes), VarintStatus::incomplete);
  EXPECT_EQ(read_varint(B({0xFF, 0xFF, 0xFF, 0xFF}), value, bytes), VarintStatus::incomplete);
}

TEST(PomeloVarint, NonMinimalWithinFiveBytesIsAccepted) {
  uint32_t value = 99;
  size_t bytes = 0;
  ASSERT_EQ(read_varint(B({0x80, 0x00}), value, bytes), VarintStatus::ok);
  EXPECT_EQ(value, 0u);
  EXPECT_EQ(bytes, 2u);
  ASSERT_EQ(read_varint(B({0x81, 0x80, 0x80, 0x80, 0x00}), value, bytes), VarintStatus::ok);
  EXPECT_EQ(value, 1u);
  EXPECT_EQ(bytes, 5u);
}

// ---- Route dictionary ----

TEST(PomeloRouteDict, CodesInOrder) {
  const RouteDict dict = chat_dict();
  EXPECT_EQ(dict.size(), 5u);
  EXPECT_EQ(dict.code_of("room.join"), 1);
  EXPECT_EQ(dict.code_of("room.message"), 2);
  EXPECT_EQ(dict.code_of("onMembers"), 3);
  EXPECT_EQ(dict.code_of("onNewUser"), 4);
  EXPECT_EQ(dict.code_of("onMessage"), 5);
  EXPECT_EQ(dict.code_of("onmessage"), 0);
  EXPECT_EQ(dict.code_of("room.joi"), 0);
  EXPECT_EQ(dict.code_of(""), 0);
  EXPECT_EQ(dict.route_of(1), "room.join");
  EXPECT_EQ(dict.route_of(5), "onMessage");
  EXPECT_EQ(dict.route_of(0), "");
  EXPECT_EQ(dict.route_of(6), "");
  EXPECT_EQ(dict.route_of(0xFFFF), "");
  EXPECT_EQ(dict.json(), R"({"room.join":1,"room.message":2,"onMembers":3,"onNewUser":4,"onMessage":5})");
}

TEST(PomeloRouteDict, ExplicitCodes) {
  const std::vector<std::pair<std::string_view, uint16_t>> pairs = {
      {"b", 10}, {"a", 3}, {"c", 0xFFFF}, {"d", 1}};
  RouteDict dict;
  ASSERT_EQ(RouteDict::build(pairs, dict), RouteDictError::none);
  EXPECT_EQ(dict.code_of("a"), 3);
  EXPECT_EQ(dict.code_of("b"), 10);
  EXPECT_EQ(dict.code_of("c"), 0xFFFF);
  EXPECT_EQ(dict.code_of("d"), 1);
  EXPECT_EQ(dict.route_of(1), "d");
  EXPECT_EQ(dict.route_of(3), "a");
  EXPECT_EQ(dict.route_of(10), "b");
  EXPECT_EQ(dict.route_of(0xFFFF), "c");
  EXPECT_EQ(dict.route_of(2), "");
  EXPECT_EQ(dict.route_of(4), "");
  EXPECT_EQ(dict.json(), R"({"d":1,"a":3,"b":10,"c":65535})");
}

TEST(PomeloRouteDict, Empty) {
  const RouteDict dict;
  EXPECT_EQ(dict.size(), 0u);
  EXPECT_EQ(dict.code_of("room.join"), 0);
  EXPECT_EQ(dict.route_of(1), "");
  EXPECT_EQ(dict.json(), "{}");
  RouteDict built;
  ASSERT_EQ(RouteDict::build(std::vector<std::string_view>{}, built), RouteDictError::none);
  EXPECT_EQ(built.json(), "{}");
}

TEST(PomeloRouteDict, Refused) {
  const std::string r255(255, 'r');
  const std::string r256(256, 'r');
  const std::vector<std::pair<std::vector<std::string_view>, RouteDictError>> lists = {
      {{"a", "b", "a"}, RouteDictError::duplicate_route},
      {{""}, RouteDictError::bad_route},
      {{"a", r256}, RouteDictError::bad_route},
      {{"\xC3\x28"}, RouteDictError::bad_route},
      {{"a", r255}, RouteDictError::none},
  };
  for (const auto& [routes, expected] : lists) {
    RouteDict dict = chat_dict();
    EXPECT_EQ(RouteDict::build(routes, dict), expected);
    // A refused dictionary leaves the one it was to replace.
    if (expected != RouteDictError::none) {
      EXPECT_EQ(dict.code_of("onMessage"), 5);
    }
  }
  const std::vector<std::pair<std::vector<std::pair<std::string_view, uint16_t>>, RouteDictError>> pairs = {
      {{{"a", 1}, {"b", 1}}, RouteDictError::duplicate_code},
      {{{"a", 0}}, RouteDictError::bad_code},
      {{{"a", 1}, {"a", 2}}, RouteDictError::duplicate_route},
      {{{"a", 2}, {"", 1}}, RouteDictError::bad_route},
  };
  for (const auto& [list, expected] : pairs) {
    RouteDict dict;
    EXPECT_EQ(RouteDict::build(list, dict), expected);
    EXPECT_EQ(dict.size(), 0u);
  }
}

TEST(PomeloRouteDict, AtMost65535Routes) {
  std::vector<std::string> names;
  for (size_t i = 0; i <= kRouteDictRoutesMax; ++i)
    names.push_back(std::string(1, 'r').append(std::to_string(i)));
  std::vector<std::string_view> views(names.begin(), names.end());
  RouteDict dict;
  EXPECT_EQ(RouteDict::build(views, dict), RouteDictError::too_many_routes);
  views.pop_back();
  ASSERT_EQ(RouteDict::build(views, dict), RouteDictError::none);
  EXPECT_EQ(dict.code_of("r65534"), 0xFFFF);
  EXPECT_EQ(dict.route_of(0xFFFF), "r65534");
  EXPECT_EQ(dict.code_of("r0"), 1);
}

TEST(PomeloRouteDict, JsonEscapesRoutes) {
  const std::vector<std::string_view> routes = {"a\"b", "c\\d", "\xC3\xA9"};
  RouteDict dict;
  ASSERT_EQ(RouteDict::build(routes, dict), RouteDictError::none);
  EXPECT_EQ(dict.json(), "{\"a\\\"b\":1,\"c\\\\d\":2,\"\xC3\xA9\":3}");
}

TEST(PomeloRouteDict, ViewsSurviveAMove) {
  RouteDict dict = chat_dict();
  const std::string_view route = dict.route_of(3);
  RouteDict moved = std::move(dict);
  EXPECT_EQ(route, "onMembers");
  EXPECT_EQ(moved.route_of(3).data(), route.data());
}

// ---- Message layer ----

struct Expect {
  MessageType type;
  uint32_t id;
  std::string route;
  bool compressed;
  std::string payload;
};

void expect_decodes(const std::string& body, const RouteDict& dict, const Expect& e) {
  Message m;
  ASSERT_EQ(decode_message(body, dict, m), MessageError::none);
  EXPECT_EQ(m.type, e.type);
  EXPECT_EQ(m.id, e.id);
  EXPECT_EQ(m.route, e.route);
  EXPECT_EQ(m.route_compressed, e.compressed);
  EXPECT_EQ(m.payload, e.payload);
}

std::string encode(const Message& m, const RouteDict& dict) {
  std::string out;
  EXPECT_EQ(append_message(out, m, dict), MessageError::none);
  return out;
}

TEST(PomeloMessage, RequestPlainRoute) {
  const std::string wire = B({0x00, 0x01, 0x09}) + "room.join" + R"({"room":"lobby"})";
  expect_decodes(wire, RouteDict{}, {MessageType::request, 1, "room.join", false, R"({"room":"lobby"})"});
  EXPECT_EQ(encode({MessageType::request, 1, "room.join", false, R"({"room":"lobby"})"}, RouteDict{}), wire);
  // A dictionary without the route leaves it plain.
  const std::vector<std::string_view> other = {"x"};
  RouteDict dict;
  ASSERT_EQ(RouteDict::build(other, dict), RouteDictError::none);
  EXPECT_EQ(encode({MessageType::request, 1, "room.join", false, R"({"room":"lobby"})"}, dict), wire);
}

TEST(PomeloMessage, RequestIdsOfEveryLength) {
  const RouteDict none;
  EXPECT_EQ(encode({MessageType::request, 0, "r", false, "p"}, none), B({0x00, 0x00, 0x01}) + "rp");
  EXPECT_EQ(encode({MessageType::request, 128, "r", false, "p"}, none), B({0x00, 0x80, 0x01, 0x01}) + "rp");
  EXPECT_EQ(encode({MessageType::request, 16384, "r", false, ""}, none),
            B({0x00, 0x80, 0x80, 0x01, 0x01}) + "r");
  EXPECT_EQ(encode({MessageType::request, UINT32_MAX, "r", false, ""}, none),
            B({0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01}) + "r");
  expect_decodes(B({0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01}) + "r{}", none,
                 {MessageType::request, UINT32_MAX, "r", false, "{}"});
  expect_decodes(B({0x00, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01}) + "r", none,
                 {MessageType::request, 1u << 28, "r", false, ""});
}

TEST(PomeloMessage, RequestCompressedRoute) {
  const RouteDict dict = chat_dict();
  const std::string wire = B({0x01, 0x02, 0x00, 0x01}) + R"({"room":"lobby"})";
  expect_decodes(wire, dict, {MessageType::request, 2, "room.join", true, R"({"room":"lobby"})"});
  EXPECT_EQ(encode({MessageType::request, 2, "room.join", false, R"({"room":"lobby"})"}, dict), wire);
  // The compressed route is a view into the dictionary.
  Message m;
  ASSERT_EQ(decode_message(wire, dict, m), MessageError::none);
  EXPECT_EQ(m.route.data(), dict.route_of(1).data());
}

TEST(PomeloMessage, Notify) {
  const RouteDict dict = chat_dict();
  const std::string plain = B({0x02, 0x0C}) + "room.message" + R"({"text":"hi"})";
  expect_decodes(plain, RouteDict{}, {MessageType::notify, 0, "room.message", false, R"({"text":"hi"})"});
  EXPECT_EQ(encode({MessageType::notify, 0, "room.message", false, R"({"text":"hi"})"}, RouteDict{}), plain);
  const std::string compressed = B({0x03, 0x00, 0x02}) + R"({"text":"hi"})";
  expect_decodes(compressed, dict, {MessageType::notify, 0, "room.message", true, R"({"text":"hi"})"});
  EXPECT_EQ(encode({MessageType::notify, 0, "room.message", false, R"({"text":"hi"})"}, dict), compressed);
  // A notify carries no id: one given is not written.
  EXPECT_EQ(encode({MessageType::notify, 77, "room.message", false, R"({"text":"hi"})"}, dict), compressed);
}

TEST(PomeloMessage, Response) {
  const std::string wire = B({0x04, 0xAC, 0x02}) + R"({"code":0})";
  expect_decodes(wire, RouteDict{}, {MessageType::response, 300, "", false, R"({"code":0})"});
  // A response carries no route, with or without a dictionary that has it.
  EXPECT_EQ(encode({MessageType::response, 300, "room.join", false, R"({"code":0})"}, chat_dict()), wire);
  expect_decodes(B({0x04, 0x05}), RouteDict{}, {MessageType::response, 5, "", false, ""});
}

TEST(PomeloMessage, Push) {
  const RouteDict dict = chat_dict();
  const std::string plain = B({0x06, 0x09}) + "onMessage" + R"({"from":"ann"})";
  expect_decodes(plain, RouteDict{}, {MessageType::push, 0, "onMessage", false, R"({"from":"ann"})"});
  EXPECT_EQ(encode({MessageType::push, 0, "onMessage", false, R"({"from":"ann"})"}, RouteDict{}), plain);
  const std::string compressed = B({0x07, 0x00, 0x05}) + R"({"from":"ann"})";
  expect_decodes(compressed, dict, {MessageType::push, 0, "onMessage", true, R"({"from":"ann"})"});
  EXPECT_EQ(encode({MessageType::push, 0, "onMessage", false, R"({"from":"ann"})"}, dict), compressed);
}

TEST(PomeloMessage, HighRouteCodesAreBigEndian) {
  const std::vector<std::pair<std::string_view, uint16_t>> pairs = {{"far", 0x1234}, {"last", 0xFFFF}};
  RouteDict dict;
  ASSERT_EQ(RouteDict::build(pairs, dict), RouteDictError::none);
  EXPECT_EQ(encode({MessageType::push, 0, "far", false, "x"}, dict), B({0x07, 0x12, 0x34}) + "x");
  expect_decodes(B({0x07, 0xFF, 0xFF}), dict, {MessageType::push, 0, "last", true, ""});
}

TEST(PomeloMessage, PayloadIsOpaque) {
  const std::string payload = B({0x00, 0xFF, 0x04, 0x00, 0x00, 0x01});
  expect_decodes(B({0x06, 0x01}) + "r" + payload, RouteDict{}, {MessageType::push, 0, "r", false, payload});
  EXPECT_EQ(encode({MessageType::push, 0, "r", false, payload}, RouteDict{}),
            B({0x06, 0x01}) + "r" + payload);
}

TEST(PomeloMessage, EmptyRoute) {
  // Refused on a request, which could never be answered; accepted on notify and push, which nothing
  // waits on (Pomelo allows a zero length).
  Message m;
  EXPECT_EQ(decode_message(B({0x00, 0x01, 0x00}) + "{}", RouteDict{}, m), MessageError::empty_route);
  expect_decodes(B({0x02, 0x00}) + "{}", RouteDict{}, {MessageType::notify, 0, "", false, "{}"});
  expect_decodes(B({0x06, 0x00}), RouteDict{}, {MessageType::push, 0, "", false, ""});
  std::string out = "keep";
  EXPECT_EQ(append_message(out, {MessageType::request, 1, "", false, "{}"}, chat_dict()),
            MessageError::empty_route);
  EXPECT_EQ(out, "keep");
  EXPECT_EQ(encode({MessageType::notify, 0, "", false, "{}"}, chat_dict()), B({0x02, 0x00}) + "{}");
  EXPECT_EQ(encode({MessageType::push, 0, "", false, ""}, chat_dict()), B({0x06, 0x00}));
}

TEST(PomeloMessage, Route255BytesOkAnd256Refused) {
  const std::string r255(255, 'a');
  const std::string wire = B({0x06, 0xFF}) + r255 + "{}";
  EXPECT_EQ(encode({MessageType::push, 0, r255, false, "{}"}, RouteDict{}), wire);
  expect_decodes(wire, RouteDict{}, {MessageType::push, 0, r255, false, "{}"});
  const std::string r256(256, 'a');
  for (MessageType type : {MessageType::request, MessageType::notify, MessageType::push}) {
    std::string out = "keep";
    EXPECT_EQ(append_message(out, {type, 1, r256, false, "{}"}, RouteDict{}), MessageError::route_too_long);
    EXPECT_EQ(out, "keep");  // refused, never truncated
    EXPECT_EQ(append_data_packet(out, {type, 1, r256, false, "{}"}, RouteDict{}),
              MessageError::route_too_long);
    EXPECT_EQ(out, "keep");
    EXPECT_EQ(message_header_bytes({type, 1, r256, false, "{}"}, RouteDict{}), 0u);
  }
}

TEST(PomeloMessage, RouteMustBeUtf8) {
  Message m;
  EXPECT_EQ(decode_message(B({0x02, 0x02, 0xC3, 0x28}), RouteDict{}, m), MessageError::route_not_utf8);
  EXPECT_EQ(decode_message(B({0x06, 0x01, 0xFF}), RouteDict{}, m), MessageError::route_not_utf8);
  expect_decodes(B({0x02, 0x02, 0xC3, 0xA9}) + "{}", RouteDict{},
                 {MessageType::notify, 0, "\xC3\xA9", false, "{}"});
  std::string out;
  EXPECT_EQ(append_message(out, {MessageType::push, 0, "\xC3\x28", false, ""}, RouteDict{}),
            MessageError::route_not_utf8);
  EXPECT_EQ(out, "");
}

TEST(PomeloMessage, UnknownCompressedCodeRefused) {
  const RouteDict dict = chat_dict();
  Message m;
  EXPECT_EQ(decode_message(B({0x01, 0x01, 0x00, 0x06}), dict, m), MessageError::unknown_route_code);
  EXPECT_EQ(decode_message(B({0x01, 0x01, 0x00, 0x00}), dict, m), MessageError::unknown_route_code);
  EXPECT_EQ(decode_message(B({0x07, 0x01, 0x00}), dict, m), MessageError::unknown_route_code);
  EXPECT_EQ(decode_message(B({0x03, 0x00, 0x01}), RouteDict{}, m), MessageError::unknown_route_code);
}

TEST(PomeloMessage, FlagByte) {
  Message m;
  // Types 4..7.
  for (uint8_t flag : {0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F}) {
    EXPECT_EQ(decode_message(B({flag, 0x01, 0x01}) + "r", chat_dict(), m), MessageError::unknown_type)
        << int(flag);
  }
  // Bits 4-7 (Pinus' gzip 0x10 and error 0x20 among them), on every type.
  for (uint8_t high : {0x10, 0x20, 0x40, 0x80, 0xF0}) {
    for (uint8_t low = 0; low < 8; ++low) {
      EXPECT_EQ(decode_message(B({static_cast<uint8_t>(high | low), 0x01, 0x01}) + "r", chat_dict(), m),
                MessageError::reserved_flag_bits)
          << int(high | low);
    }
  }
  // The compressed bit on a response, which has no route.
  EXPECT_EQ(decode_message(B({0x05, 0x01}) + "{}", chat_dict(), m), MessageError::reserved_flag_bits);
}

TEST(PomeloMessage, Truncated) {
  const RouteDict dict = chat_dict();
  for (const std::string& body :
       {std::string(), B({0x00}), B({0x00, 0x80}), B({0x00, 0x01}), B({0x00, 0x01, 0x05}) + "ro",
        B({0x01, 0x01}), B({0x01, 0x01, 0x00}), B({0x02}), B({0x02, 0x01}), B({0x03, 0x00}), B({0x04}),
        B({0x04, 0xFF, 0xFF}), B({0x06}), B({0x06, 0x09}) + "onMessag", B({0x07})}) {
    Message m;
    m.route = "stale";
    EXPECT_EQ(decode_message(body, dict, m), MessageError::truncated) << testing::PrintToString(body);
    EXPECT_EQ(m.route, "");  // reset even on error
  }
}

TEST(PomeloMessage, BadId) {
  Message m;
  EXPECT_EQ(decode_message(B({0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01}) + "r", RouteDict{}, m),
            MessageError::bad_id);
  EXPECT_EQ(decode_message(B({0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0x10}), RouteDict{}, m), MessageError::bad_id);
  EXPECT_EQ(decode_message(B({0x04, 0x80, 0x80, 0x80, 0x80, 0x80}), RouteDict{}, m), MessageError::bad_id);
}

TEST(PomeloMessage, HeaderBytes) {
  const RouteDict dict = chat_dict();
  EXPECT_EQ(message_header_bytes({MessageType::request, 1, "room.join", false, "xx"}, RouteDict{}), 12u);
  EXPECT_EQ(message_header_bytes({MessageType::request, 1, "room.join", false, "xx"}, dict), 4u);
  EXPECT_EQ(message_header_bytes({MessageType::response, 300, "", false, "xx"}, dict), 3u);
  EXPECT_EQ(message_header_bytes({MessageType::push, 0, "onMessage", false, ""}, dict), 3u);
  const std::string r255(255, 'a');
  const Message biggest{MessageType::request, UINT32_MAX, r255, false, ""};
  EXPECT_EQ(message_header_bytes(biggest, RouteDict{}), kMessageHeaderBytesMax);
  uint8_t out[kMessageHeaderBytesMax];
  size_t bytes = 0;
  ASSERT_EQ(encode_message_header(biggest, RouteDict{}, out, bytes), MessageError::none);
  EXPECT_EQ(std::string(out, out + 8), B({0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0xFF, 'a'}));
}

TEST(PomeloMessage, DataPacket) {
  std::string out = "x";
  ASSERT_EQ(append_data_packet(out, {MessageType::push, 0, "onMessage", false, R"({"a":1})"}, RouteDict{}),
            MessageError::none);
  EXPECT_EQ(out, "x" + B({0x04, 0x00, 0x00, 0x12, 0x06, 0x09}) + "onMessage" + R"({"a":1})");
  out.clear();
  ASSERT_EQ(append_data_packet(out, {MessageType::response, 7, "", false, "{}"}, chat_dict()),
            MessageError::none);
  EXPECT_EQ(out, B({0x04, 0x00, 0x00, 0x04, 0x04, 0x07}) + "{}");
}

TEST(PomeloMessage, DataPacketAtTheWireLimit) {
  const RouteDict dict = chat_dict();
  // push, compressed: 3 header bytes, so the payload may be 2^24 - 1 - 3 bytes.
  std::string payload(kPacketBodyBytesLimit - 3, 'p');
  std::string out;
  ASSERT_EQ(append_data_packet(out, {MessageType::push, 0, "onMessage", false, payload}, dict),
            MessageError::none);
  EXPECT_EQ(out.substr(0, 7), B({0x04, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x05}));
  EXPECT_EQ(out.size(), 4 + kPacketBodyBytesLimit);
  payload.push_back('p');
  out = "keep";
  EXPECT_EQ(append_data_packet(out, {MessageType::push, 0, "onMessage", false, payload}, dict),
            MessageError::body_too_large);
  EXPECT_EQ(out, "keep");
}

TEST(PomeloMessage, RoundTrips) {
  const RouteDict dict = chat_dict();
  const RouteDict none;
  const std::string r255(255, 'z');
  const std::vector<Message> messages = {
      {MessageType::request, 0, "room.join", false, R"({"room":"a"})"},
      {MessageType::request, 127, "room.join", false, ""},
      {MessageType::request, 128, "other.route", false, "{}"},
      {MessageType::request, UINT32_MAX, r255, false, "{}"},
      {MessageType::notify, 0, "room.message", false, R"({"text":"\u00e9"})"},
      {MessageType::notify, 0, "", false, ""},
      {MessageType::response, 1, "", false, R"({"code":200})"},
      {MessageType::response, 16384, "", false, ""},
      {MessageType::push, 0, "onMembers", false, R"({"members":["a","b"]})"},
      {MessageType::push, 0, "onNewUser", false, R"({"content":"x"})"},
      {MessageType::push, 0, "\xE4\xBD\xA0\xE5\xA5\xBD", false, "\x01\x02"},
  };
  for (const RouteDict* d : {&none, &dict}) {
    for (const Message& in : messages) {
      std::string packet;
      ASSERT_EQ(append_data_packet(packet, in, *d), MessageError::none);
      Packet p;
      size_t bytes = 0;
      PacketError perr;
      ASSERT_EQ(decode_packet(packet, kPacketBodyBytesLimit, p, bytes, perr), DecodeStatus::ok);
      ASSERT_EQ(p.type, PacketType::data);
      EXPECT_EQ(p.body, encode(in, *d));
      Message out;
      ASSERT_EQ(decode_message(p.body, *d, out), MessageError::none) << in.route;
      EXPECT_EQ(out.type, in.type);
      EXPECT_EQ(out.id, in.id);
      EXPECT_EQ(out.route, in.route);
      EXPECT_EQ(out.route_compressed, d->code_of(in.route) != 0) << in.route;
      EXPECT_EQ(out.payload, in.payload);
      // And back: the same bytes again.
      EXPECT_EQ(encode(out, *d), p.body);
    }
  }
}

// ---- Handshake ----

struct ParsedHandshake {
  HandshakeError error;
  std::string type;
  std::string version;
  std::string user;
};

ParsedHandshake parse(simdjson::dom::parser& parser, std::string_view body) {
  Handshake h{"stale", "stale", "stale"};
  const HandshakeError error = parse_handshake(parser, body, h);
  return {error, std::string(h.sys_type), std::string(h.sys_version), std::string(h.user_json)};
}

TEST(PomeloHandshake, Good) {
  simdjson::dom::parser parser;
  const std::string body =
      R"({"sys":{"type":"js-websocket","version":"0.0.1","rsa":{}},"user":{"name":"ann","age":3}})";
  Handshake h;
  ASSERT_EQ(parse_handshake(parser, body, h), HandshakeError::none);
  EXPECT_EQ(h.sys_type, "js-websocket");
  EXPECT_EQ(h.sys_version, "0.0.1");
  EXPECT_EQ(h.user_json, R"({"name":"ann","age":3})");
  EXPECT_EQ(h.user_json.data(), body.data() + body.find("{\"name"));  // the text as sent, not a copy
}

TEST(PomeloHandshake, UserTextExactlyAsSent) {
  simdjson::dom::parser parser;
  const std::pair<std::string_view, std::string_view> cases[] = {
      {R"({ "user" : { "a": "}\"]" , "b":[1,{"c":2}] } , "sys":{}})", R"({ "a": "}\"]" , "b":[1,{"c":2}] })"},
      {R"({"sys":{},"user":42})", "42"},
      {R"({"sys":{},"user":-1.5e3 })", "-1.5e3"},
      {R"({"sys":{},"user":"x\\\"y"})", R"("x\\\"y")"},
      {R"({"sys":{},"user":null})", "null"},
      {"{\"sys\":{},\n\t\"user\"\r\n:\ttrue\n}\n", "true"},
      {R"({"sys":{},"user":[]})", "[]"},
      {R"({"sys":{},"us\u0065r":{"k":"v"}})", R"({"k":"v"})"},    // an escaped key is still "user"
      {R"({"sys":{},"user":1,"user":2})", "1"},                   // the first, as simdjson's lookup
      {R"({"\"user":0,"user\\":1,"sys":{},"user":[2]})", "[2]"},  // keys that only look like "user"
      {R"({"sys":{"type":"t"},"userx":1})", ""},
  };
  for (const auto& [body, user] : cases) {
    const ParsedHandshake p = parse(parser, body);
    EXPECT_EQ(p.error, HandshakeError::none) << body;
    EXPECT_EQ(p.user, user) << body;
  }
}

TEST(PomeloHandshake, OptionalFields) {
  simdjson::dom::parser parser;
  ParsedHandshake p = parse(parser, R"({"sys":{}})");
  EXPECT_EQ(p.error, HandshakeError::none);
  EXPECT_EQ(p.type, "");
  EXPECT_EQ(p.version, "");
  EXPECT_EQ(p.user, "");
  p = parse(parser, R"({"sys":{"version":"1.2"}})");
  EXPECT_EQ(p.error, HandshakeError::none);
  EXPECT_EQ(p.type, "");
  EXPECT_EQ(p.version, "1.2");
}

TEST(PomeloHandshake, Errors) {
  simdjson::dom::parser parser;
  const std::pair<std::string_view, HandshakeError> cases[] = {
      {"", HandshakeError::malformed_json},
      {"{", HandshakeError::malformed_json},
      {"sys", HandshakeError::malformed_json},
      {R"({"sys":{}}x)", HandshakeError::malformed_json},
      {R"({"sys":{},})", HandshakeError::malformed_json},
      {"[]", HandshakeError::not_an_object},
      {R"("sys")", HandshakeError::not_an_object},
      {"1", HandshakeError::not_an_object},
      {"null", HandshakeError::not_an_object},
      {"{}", HandshakeError::missing_sys},
      {R"({"user":{"sys":{}}})", HandshakeError::missing_sys},
      {R"({"sys":null})", HandshakeError::bad_sys},
      {R"({"sys":"js"})", HandshakeError::bad_sys},
      {R"({"sys":[]})", HandshakeError::bad_sys},
      {R"({"sys":{"type":5}})", HandshakeError::bad_sys},
      {R"({"sys":{"type":"t","version":null}})", HandshakeError::bad_sys},
      {R"({"sys":{"version":0.1}})", HandshakeError::bad_sys},
  };
  for (const auto& [body, expected] : cases) {
    const ParsedHandshake p = parse(parser, body);
    EXPECT_EQ(p.error, expected) << body;
    EXPECT_EQ(p.type, "") << body;  // out is reset
    EXPECT_EQ(p.user, "") << body;
  }
}

TEST(PomeloHandshake, ParserIsReused) {
  simdjson::dom::parser parser;
  for (int i = 0; i < 3; ++i) {
    const ParsedHandshake p = parse(parser, R"({"sys":{"type":"js-websocket"},"user":{}})");
    EXPECT_EQ(p.error, HandshakeError::none);
    EXPECT_EQ(p.type, "js-websocket");
    EXPECT_EQ(p.user, "{}");
    EXPECT_EQ(parse(parser, "nope").error, HandshakeError::malformed_json);
  }
}

TEST(PomeloHandshake, ResponseJsonExactly) {
  const std::vector<std::string_view> routes = {"room.join", "room.message"};
  RouteDict dict;
  ASSERT_EQ(RouteDict::build(routes, dict), RouteDictError::none);
  std::string out;
  append_handshake_response(out, 30, 1700000000, dict);
  EXPECT_EQ(
      out,
      R"({"code":200,"sys":{"heartbeat":30,"servertime":1700000000,"dict":{"room.join":1,"room.message":2}}})");
  out.clear();
  append_handshake_response(out, 0, 0, RouteDict{});
  EXPECT_EQ(out, R"({"code":200,"sys":{"heartbeat":0,"servertime":0,"dict":{}}})");
  // The packet that carries it.
  std::string packet;
  ASSERT_TRUE(append_packet(packet, PacketType::handshake, out));
  EXPECT_EQ(packet.substr(0, 4), B({0x01, 0x00, 0x00, static_cast<uint8_t>(out.size())}));
  // And it reads back as JSON with the dictionary in it.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  out.clear();
  append_handshake_response(out, 25, 1, dict);
  ASSERT_FALSE(parser.parse(out).get(doc));
  int64_t code = 0;
  ASSERT_FALSE(doc.at_pointer("/sys/dict/room.message").get_int64().get(code));
  EXPECT_EQ(code, 2);
  ASSERT_FALSE(doc.at_pointer("/code").get_int64().get(code));
  EXPECT_EQ(code, handshake_code::ok);
}

TEST(PomeloHandshake, ErrorJson) {
  std::string out;
  append_handshake_error(out, handshake_code::bad_handshake);
  EXPECT_EQ(out, R"({"code":500})");
  out.clear();
  append_handshake_error(out, handshake_code::unsupported_version);
  EXPECT_EQ(out, R"({"code":501})");
}

// ---- Text from web clients (CESU-8) ----

// Protocol.strencode of Pomelo's and Nano's JS clients, one UTF-16 code unit at a time (its three
// branches: <= 0x7F, <= 0x7FF, else three bytes): the bytes a web client sends for a JS string.
std::string strencode(std::u16string_view s) {
  std::string out;
  for (const char16_t unit : s) {
    const uint32_t u = unit;
    if (u <= 0x7F) {
      out += static_cast<char>(u);
    } else if (u <= 0x7FF) {
      out += static_cast<char>(0xC0 | u >> 6);
      out += static_cast<char>(0x80 | (u & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | u >> 12);
      out += static_cast<char>(0x80 | (u & 0xFC0) >> 6);
      out += static_cast<char>(0x80 | (u & 0x3F));
    }
  }
  return out;
}

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

TEST(PomeloClientText, StrencodeIsCesu8) {
  EXPECT_EQ(strencode(u"\U0001F600"), B({0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}));
  EXPECT_EQ(strencode(u"a\u00E9\u20AC"), "a\xC3\xA9\xE2\x82\xAC");  // below U+10000 it is UTF-8
}

TEST(PomeloClientText, EmojiInANotifyPayloadIsJoined) {
  // What Nano's chat client sends for room.message with content "hi 😀".
  const std::string payload = strencode(u"{\"name\":\"ann\",\"content\":\"hi \U0001F600\"}");
  const std::string body = B({0x02, 0x0c}) + "room.message" + payload;
  Message msg;
  ASSERT_EQ(decode_message(body, chat_dict(), msg), MessageError::none);
  ASSERT_EQ(msg.payload, payload);
  std::string scratch;
  EXPECT_EQ(repair_client_payload(msg, scratch), Utf8Repair::joined);
  EXPECT_EQ(msg.payload, "{\"name\":\"ann\",\"content\":\"hi \xF0\x9F\x98\x80\"}");
  EXPECT_EQ(msg.payload.data(), scratch.data());
  EXPECT_EQ(msg.route, "room.message");
  EXPECT_TRUE(inside(msg.route, body));  // the route is left where it was
  // Now it is JSON simdjson takes, and valid text for any WebSocket client a room forwards it to.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(msg.payload.data(), msg.payload.size()).get(doc));
  std::string_view content;
  ASSERT_FALSE(doc["content"].get_string().get(content));
  EXPECT_EQ(content, "hi \xF0\x9F\x98\x80");
}

TEST(PomeloClientText, ValidPayloadIsNotCopied) {
  const std::string body = B({0x01, 0x07, 0x00, 0x01}) + "{\"room\":\"\xD0\xBA\xF0\x9F\x98\x80\"}";
  Message msg;
  ASSERT_EQ(decode_message(body, chat_dict(), msg), MessageError::none);
  const std::string_view before = msg.payload;
  std::string scratch = "untouched";
  EXPECT_EQ(repair_client_payload(msg, scratch), Utf8Repair::none);
  EXPECT_EQ(msg.payload.data(), before.data());
  EXPECT_EQ(msg.payload.size(), before.size());
  EXPECT_EQ(scratch, "untouched");
}

TEST(PomeloClientText, LoneHalvesAndBadBytesBecomeReplacements) {
  // A lone high half (a JS string cut in the middle of a pair), a lone low half, and a byte that is
  // no UTF-8 at all; a pair next to them is still joined.
  const std::string payload = strencode(u"[\"\xD83D\",\"\xDE00\",\"\U0001F389\"]") + "\xFF";
  const std::string body = B({0x02, 0x01}) + "r" + payload;
  Message msg;
  ASSERT_EQ(decode_message(body, chat_dict(), msg), MessageError::none);
  std::string scratch;
  EXPECT_EQ(repair_client_payload(msg, scratch), Utf8Repair::replaced);
  EXPECT_EQ(msg.payload, "[\"\xEF\xBF\xBD\",\"\xEF\xBF\xBD\",\"\xF0\x9F\x8E\x89\"]\xEF\xBF\xBD");
}

TEST(PomeloClientText, RouteIsNotRepaired) {
  // A route is looked up, not shown: one that is not UTF-8 stays refused, CESU-8 included.
  const std::string body = B({0x02, 0x06}) + strencode(u"\U0001F600") + "{}";
  Message msg;
  EXPECT_EQ(decode_message(body, chat_dict(), msg), MessageError::route_not_utf8);
}

TEST(PomeloClientText, HandshakeBodyIsRepairedBeforeParsing) {
  const std::string body = strencode(
      u"{\"sys\":{\"type\":\"js-websocket\",\"version\":\"0.0.1\",\"rsa\":{}},\"user\":{\"name\":"
      u"\"ann\U0001F600\"}}");
  simdjson::dom::parser parser;
  EXPECT_EQ(parse(parser, body).error, HandshakeError::malformed_json);  // as sent: not UTF-8
  std::string scratch;
  const RepairedText repaired = repair_cesu8(body, scratch);
  ASSERT_EQ(repaired.repair, Utf8Repair::joined);
  const ParsedHandshake p = parse(parser, repaired.text);
  EXPECT_EQ(p.error, HandshakeError::none);
  EXPECT_EQ(p.type, "js-websocket");
  EXPECT_EQ(p.user, "{\"name\":\"ann\xF0\x9F\x98\x80\"}");
}

TEST(PomeloKick, BodyIsEscaped) {
  std::string out;
  append_kick_body(out, "bye");
  EXPECT_EQ(out, R"({"reason":"bye"})");
  out.clear();
  append_kick_body(out, "a\"b\\c\n\xFF");
  EXPECT_EQ(out, R"({"reason":"a\"b\\c\u000a\ufffd"})");
}

TEST(Pomelo, ErrorTextsAreDistinct) {
  std::set<std::string_view> seen;
  for (auto e : {PacketError::none, PacketError::unknown_type, PacketError::body_too_large}) {
    EXPECT_TRUE(seen.insert(packet_error_text(e)).second);
  }
  seen.clear();
  for (uint8_t e = 0; e <= static_cast<uint8_t>(MessageError::body_too_large); ++e) {
    EXPECT_TRUE(seen.insert(message_error_text(static_cast<MessageError>(e))).second) << int(e);
  }
  seen.clear();
  for (uint8_t e = 0; e <= static_cast<uint8_t>(RouteDictError::too_many_routes); ++e) {
    EXPECT_TRUE(seen.insert(route_dict_error_text(static_cast<RouteDictError>(e))).second) << int(e);
  }
  seen.clear();
  for (uint8_t e = 0; e <= static_cast<uint8_t>(HandshakeError::bad_sys); ++e) {
    EXPECT_TRUE(seen.insert(handshake_error_text(static_cast<HandshakeError>(e))).second) << int(e);
  }
}

}  // namespace
}  // namespace ringcast::pomelo
