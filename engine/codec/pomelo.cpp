// Nano/Pomelo codec: packet headers, varint ids, routes and their dictionary, the handshake JSON.
// Decoding is strict where Nano is loose (over-long varints, unknown flag bits, truncated routes are
// errors, never guesses), and encoding refuses what it cannot say rather than truncating it.
#include "engine/codec/pomelo.h"

#include <algorithm>
#include <limits>

#include "engine/base/check.h"
#include "engine/codec/json_writer.h"
#include "engine/codec/utf8.h"

namespace ringcast::pomelo {

namespace {

constexpr uint8_t kFlagRouteCompressed = 0x01;
constexpr uint8_t kFlagTypeShift = 1;
constexpr uint8_t kFlagTypeMask = 0x07;  // three bits for the type, of which 0..3 are defined
constexpr uint8_t kFlagReserved = 0xF0;  // Pinus puts gzip (0x10) and error (0x20) here; we speak neither

bool packet_type_valid(uint8_t type) {
  return type >= 1 && type <= 5;
}

bool utf8(std::string_view text) {
  return utf8_valid(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace

// ---- Packet layer ----

DecodeStatus decode_packet(std::string_view in, size_t body_bytes_max, Packet& out, size_t& bytes,
                           PacketError& error) {
  error = PacketError::none;
  bytes = 0;
  if (in.empty()) return DecodeStatus::incomplete;
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  if (!packet_type_valid(p[0])) {
    error = PacketError::unknown_type;
    return DecodeStatus::error;
  }
  if (in.size() < kPacketHeaderBytes) return DecodeStatus::incomplete;
  const size_t body_bytes = (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
  if (body_bytes > body_bytes_max) {
    error = PacketError::body_too_large;
    return DecodeStatus::error;
  }
  if (in.size() - kPacketHeaderBytes < body_bytes) return DecodeStatus::incomplete;
  out.type = static_cast<PacketType>(p[0]);
  out.body = in.substr(kPacketHeaderBytes, body_bytes);
  bytes = kPacketHeaderBytes + body_bytes;
  return DecodeStatus::ok;
}

bool write_packet_header(uint8_t* out, PacketType type, size_t body_bytes) {
  RC_ASSERT(packet_type_valid(static_cast<uint8_t>(type)));
  if (body_bytes > kPacketBodyBytesLimit) return false;
  out[0] = static_cast<uint8_t>(type);
  out[1] = static_cast<uint8_t>(body_bytes >> 16);
  out[2] = static_cast<uint8_t>(body_bytes >> 8);
  out[3] = static_cast<uint8_t>(body_bytes);
  return true;
}

bool append_packet(std::string& out, PacketType type, std::string_view body) {
  uint8_t header[kPacketHeaderBytes];
  if (!write_packet_header(header, type, body.size())) return false;
  out.append(reinterpret_cast<const char*>(header), sizeof(header));
  out.append(body);
  return true;
}

std::string_view packet_error_text(PacketError error) {
  switch (error) {
    case PacketError::none:
      return "ok";
    case PacketError::unknown_type:
      return "unknown packet type";
    case PacketError::body_too_large:
      return "packet body too large";
  }
  return "bad packet";
}

// ---- Route dictionary ----

RouteDictError RouteDict::build(std::span<const std::string_view> routes, RouteDict& out) {
  if (routes.size() > kRouteDictRoutesMax) return RouteDictError::too_many_routes;
  std::vector<std::pair<std::string_view, uint16_t>> pairs;
  pairs.reserve(routes.size());
  for (size_t i = 0; i < routes.size(); ++i) pairs.emplace_back(routes[i], static_cast<uint16_t>(i + 1));
  return build(std::span<const std::pair<std::string_view, uint16_t>>(pairs), out);
}

RouteDictError RouteDict::build(std::span<const std::pair<std::string_view, uint16_t>> routes,
                                RouteDict& out) {
  // Built aside and moved in only when valid, so a refused dictionary leaves `out` as it was.
  if (routes.size() > kRouteDictRoutesMax) return RouteDictError::too_many_routes;
  RouteDict dict;
  for (const auto& [route, code] : routes) {
    if (code == 0) return RouteDictError::bad_code;
    if (route.empty() || route.size() > kRouteBytesMax || !utf8(route)) return RouteDictError::bad_route;
    dict.entries_.push_back(
        Entry{static_cast<uint32_t>(dict.text_.size()), code, static_cast<uint8_t>(route.size())});
    dict.text_.insert(dict.text_.end(), route.begin(), route.end());
  }
  const RouteDictError error = finish(dict);
  if (error == RouteDictError::none) out = std::move(dict);
  return error;
}

RouteDictError RouteDict::finish(RouteDict& dict) {
  std::sort(dict.entries_.begin(), dict.entries_.end(),
            [](const Entry& a, const Entry& b) { return a.code < b.code; });
  for (size_t i = 1; i < dict.entries_.size(); ++i) {
    if (dict.entries_[i].code == dict.entries_[i - 1].code) return RouteDictError::duplicate_code;
  }
  dict.by_route_.resize(dict.entries_.size());
  for (size_t i = 0; i < dict.by_route_.size(); ++i) dict.by_route_[i] = static_cast<uint32_t>(i);
  const auto route_less = [&dict](uint32_t a, uint32_t b) {
    return dict.text_of(dict.entries_[a]) < dict.text_of(dict.entries_[b]);
  };
  std::sort(dict.by_route_.begin(), dict.by_route_.end(), route_less);
  for (size_t i = 1; i < dict.by_route_.size(); ++i) {
    if (!route_less(dict.by_route_[i - 1], dict.by_route_[i])) return RouteDictError::duplicate_route;
  }
  dict.json_.clear();
  JsonWriter writer(dict.json_);
  writer.begin_object();
  for (const Entry& e : dict.entries_) writer.key(dict.text_of(e)).number(e.code);
  writer.end_object();
  return RouteDictError::none;
}

uint16_t RouteDict::code_of(std::string_view route) const {
  const auto it =
      std::lower_bound(by_route_.begin(), by_route_.end(), route,
                       [this](uint32_t i, std::string_view r) { return text_of(entries_[i]) < r; });
  if (it == by_route_.end() || text_of(entries_[*it]) != route) return 0;
  return entries_[*it].code;
}

std::string_view RouteDict::route_of(uint16_t code) const {
  // Codes 1..N given in order (the usual dictionary) sit at index code - 1; anything else is searched.
  if (code >= 1 && code <= entries_.size() && entries_[code - 1].code == code) {
    return text_of(entries_[code - 1]);
  }
  const auto it = std::lower_bound(entries_.begin(), entries_.end(), code,
                                   [](const Entry& e, uint16_t c) { return e.code < c; });
  if (it == entries_.end() || it->code != code) return {};
  return text_of(*it);
}

std::string_view route_dict_error_text(RouteDictError error) {
  switch (error) {
    case RouteDictError::none:
      return "ok";
    case RouteDictError::duplicate_route:
      return "route listed twice";
    case RouteDictError::duplicate_code:
      return "route code listed twice";
    case RouteDictError::bad_code:
      return "route code must be 1..65535";
    case RouteDictError::bad_route:
      return "route must be 1..255 bytes of UTF-8";
    case RouteDictError::too_many_routes:
      return "more than 65535 routes";
  }
  return "bad route dictionary";
}

// ---- Varint ----

size_t write_varint(uint8_t* out, uint32_t value) {
  size_t n = 0;
  while (value >= 0x80) {
    out[n++] = static_cast<uint8_t>(value | 0x80);
    value >>= 7;
  }
  out[n++] = static_cast<uint8_t>(value);
  return n;
}

VarintStatus read_varint(std::string_view in, uint32_t& value, size_t& bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < kVarintBytesMax; ++i) {
    if (i == in.size()) return VarintStatus::incomplete;
    const auto b = static_cast<uint8_t>(in[i]);
    v |= uint64_t{b & 0x7Fu} << (7 * i);
    if ((b & 0x80) == 0) {
      // The fifth group holds bits 28..34; anything above bit 31 does not fit a uint32.
      if (v > std::numeric_limits<uint32_t>::max()) return VarintStatus::too_long;
      value = static_cast<uint32_t>(v);
      bytes = i + 1;
      return VarintStatus::ok;
    }
  }
  return VarintStatus::too_long;
}

// ---- Message layer ----

MessageError decode_message(std::string_view body, const RouteDict& dict, Message& out) {
  out = Message{};
  if (body.empty()) return MessageError::truncated;
  const auto flag = static_cast<uint8_t>(body[0]);
  if ((flag & kFlagReserved) != 0) return MessageError::reserved_flag_bits;
  const uint8_t type = (flag >> kFlagTypeShift) & kFlagTypeMask;
  if (type > static_cast<uint8_t>(MessageType::push)) return MessageError::unknown_type;
  const bool compressed = (flag & kFlagRouteCompressed) != 0;
  const auto message_type = static_cast<MessageType>(type);
  // A response has no route, so the compressed bit can mean nothing there: refused like other reserved bits.
  if (compressed && !message_has_route(message_type)) return MessageError::reserved_flag_bits;
  size_t pos = 1;

  uint32_t id = 0;
  if (message_has_id(message_type)) {
    size_t bytes = 0;
    switch (read_varint(body.substr(pos), id, bytes)) {
      case VarintStatus::ok:
        break;
      case VarintStatus::incomplete:
        return MessageError::truncated;
      case VarintStatus::too_long:
        return MessageError::bad_id;
    }
    pos += bytes;
  }

  std::string_view route;
  if (message_has_route(message_type)) {
    if (compressed) {
      if (body.size() - pos < 2) return MessageError::truncated;
      const auto code =
          static_cast<uint16_t>((static_cast<uint8_t>(body[pos]) << 8) | static_cast<uint8_t>(body[pos + 1]));
      pos += 2;
      route = dict.route_of(code);
      if (route.empty()) return MessageError::unknown_route_code;
    } else {
      if (body.size() - pos < 1) return MessageError::truncated;
      const size_t length = static_cast<uint8_t>(body[pos]);
      pos += 1;
      if (body.size() - pos < length) return MessageError::truncated;
      route = body.substr(pos, length);
      pos += length;
      if (route.empty() && message_type == MessageType::request) return MessageError::empty_route;
      if (!utf8(route)) return MessageError::route_not_utf8;
    }
  }

  out.type = message_type;
  out.id = id;
  out.route = route;
  out.route_compressed = compressed;
  out.payload = body.substr(pos);
  return MessageError::none;
}

MessageError encode_message_header(const Message& msg, const RouteDict& dict, uint8_t* out, size_t& bytes) {
  bytes = 0;
  const auto type = static_cast<uint8_t>(msg.type);
  RC_ASSERT(type <= static_cast<uint8_t>(MessageType::push));
  uint16_t code = 0;
  if (message_has_route(msg.type)) {
    if (!msg.route.empty()) code = dict.code_of(msg.route);
    // A route the dictionary has was checked when the dictionary was built.
    if (code == 0) {
      if (msg.route.size() > kRouteBytesMax) return MessageError::route_too_long;
      if (msg.route.empty() && msg.type == MessageType::request) return MessageError::empty_route;
      if (!utf8(msg.route)) return MessageError::route_not_utf8;
    }
  }
  size_t n = 0;
  out[n++] = static_cast<uint8_t>((type << kFlagTypeShift) | (code != 0 ? kFlagRouteCompressed : 0));
  if (message_has_id(msg.type)) n += write_varint(out + n, msg.id);
  if (message_has_route(msg.type)) {
    if (code != 0) {
      out[n++] = static_cast<uint8_t>(code >> 8);
      out[n++] = static_cast<uint8_t>(code);
    } else {
      out[n++] = static_cast<uint8_t>(msg.route.size());
      std::copy(msg.route.begin(), msg.route.end(), reinterpret_cast<char*>(out + n));
      n += msg.route.size();
    }
  }
  RC_ASSERT(n <= kMessageHeaderBytesMax);
  bytes = n;
  return MessageError::none;
}

size_t message_header_bytes(const Message& msg, const RouteDict& dict) {
  uint8_t header[kMessageHeaderBytesMax];
  size_t bytes = 0;
  return encode_message_header(msg, dict, header, bytes) == MessageError::none ? bytes : 0;
}

MessageError append_message(std::string& out, const Message& msg, const RouteDict& dict) {
  uint8_t header[kMessageHeaderBytesMax];
  size_t bytes = 0;
  if (const MessageError error = encode_message_header(msg, dict, header, bytes);
      error != MessageError::none) {
    return error;
  }
  out.append(reinterpret_cast<const char*>(header), bytes);
  out.append(msg.payload);
  return MessageError::none;
}

MessageError append_data_packet(std::string& out, const Message& msg, const RouteDict& dict) {
  uint8_t header[kPacketHeaderBytes + kMessageHeaderBytesMax];
  size_t bytes = 0;
  if (const MessageError error = encode_message_header(msg, dict, header + kPacketHeaderBytes, bytes);
      error != MessageError::none) {
    return error;
  }
  if (msg.payload.size() > kPacketBodyBytesLimit - bytes) return MessageError::body_too_large;
  RC_ASSERT(write_packet_header(header, PacketType::data, bytes + msg.payload.size()));
  out.reserve(out.size() + kPacketHeaderBytes + bytes + msg.payload.size());
  out.append(reinterpret_cast<const char*>(header), kPacketHeaderBytes + bytes);
  out.append(msg.payload);
  return MessageError::none;
}

std::string_view message_error_text(MessageError error) {
  switch (error) {
    case MessageError::none:
      return "ok";
    case MessageError::truncated:
      return "message truncated";
    case MessageError::reserved_flag_bits:
      return "message flag has reserved bits set";
    case MessageError::unknown_type:
      return "unknown message type";
    case MessageError::bad_id:
      return "message id varint too long";
    case MessageError::unknown_route_code:
      return "unknown route code";
    case MessageError::empty_route:
      return "request without a route";
    case MessageError::route_not_utf8:
      return "route is not UTF-8";
    case MessageError::route_too_long:
      return "route longer than 255 bytes";
    case MessageError::body_too_large:
      return "message too large for a packet";
  }
  return "bad message";
}

// ---- Text from web clients ----

Utf8Repair repair_client_payload(Message& msg, std::string& scratch) {
  const RepairedText repaired = repair_cesu8(msg.payload, scratch);
  msg.payload = repaired.text;
  return repaired.repair;
}

// ---- Handshake ----

namespace {

// A small scanner over a document simdjson has already validated, used only to find where a value's
// text lies: the DOM keeps values, not their source positions. Strings are skipped escape by escape,
// containers by depth; false means the text is not what validation promised (never expected).
bool skip_whitespace(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i < s.size();
}

bool skip_string(std::string_view s, size_t& i) {
  if (i >= s.size() || s[i] != '"') return false;
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      ++i;
      return true;
    }
  }
  return false;
}

bool skip_value(std::string_view s, size_t& i) {
  if (i >= s.size()) return false;
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    size_t depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        if (!skip_string(s, i)) return false;
        continue;
      }
      ++i;
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return true;
      }
    }
    return false;
  }
  const size_t start = i;
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
         s[i] != '\n' && s[i] != '\r') {
    ++i;
  }
  return i > start;
}

// The text of the value of the index-th member of the top-level object in `json`.
bool member_value_text(std::string_view json, size_t index, std::string_view& out) {
  size_t i = 0;
  if (json.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // a byte order mark, which simdjson skips
  if (!skip_whitespace(json, i) || json[i] != '{') return false;
  ++i;
  for (size_t member = 0;; ++member) {
    if (!skip_whitespace(json, i) || !skip_string(json, i)) return false;
    if (!skip_whitespace(json, i) || json[i] != ':') return false;
    ++i;
    if (!skip_whitespace(json, i)) return false;
    const size_t start = i;
    if (!skip_value(json, i)) return false;
    if (member == index) {
      out = json.substr(start, i - start);
      return true;
    }
    if (!skip_whitespace(json, i) || json[i] != ',') return false;
    ++i;
  }
}

HandshakeError optional_string(simdjson::dom::object sys, std::string_view key, std::string_view& out) {
  simdjson::dom::element value;
  const auto error = sys[key].get(value);
  if (error == simdjson::NO_SUCH_FIELD) return HandshakeError::none;
  if (error || value.get_string().get(out)) return HandshakeError::bad_sys;
  return HandshakeError::none;
}

}  // namespace

HandshakeError parse_handshake(simdjson::dom::parser& parser, std::string_view body, Handshake& out) {
  out = Handshake{};
  simdjson::dom::element doc;
  // parse() copies into the parser's padded buffer, so the body needs no padding of its own.
  if (parser.parse(body.data(), body.size(), true).get(doc)) return HandshakeError::malformed_json;
  simdjson::dom::object object;
  if (doc.get_object().get(object)) return HandshakeError::not_an_object;
  simdjson::dom::element sys_value;
  if (object["sys"].get(sys_value)) return HandshakeError::missing_sys;
  simdjson::dom::object sys;
  if (sys_value.get_object().get(sys)) return HandshakeError::bad_sys;
  Handshake result;
  if (const HandshakeError e = optional_string(sys, "type", result.sys_type); e != HandshakeError::none)
    return e;
  if (const HandshakeError e = optional_string(sys, "version", result.sys_version);
      e != HandshakeError::none) {
    return e;
  }
  // simdjson answers object["user"] with the first member of that name; find the same one in the text.
  size_t index = 0;
  for (const auto member : object) {
    if (member.key == "user") {
      if (!member_value_text(body, index, result.user_json)) return HandshakeError::malformed_json;
      break;
    }
    ++index;
  }
  out = result;
  return HandshakeError::none;
}

std::string_view handshake_error_text(HandshakeError error) {
  switch (error) {
    case HandshakeError::none:
      return "ok";
    case HandshakeError::malformed_json:
      return "handshake is not JSON";
    case HandshakeError::not_an_object:
      return "handshake must be a JSON object";
    case HandshakeError::missing_sys:
      return "handshake has no sys object";
    case HandshakeError::bad_sys:
      return "handshake sys.type and sys.version must be strings";
  }
  return "bad handshake";
}

void append_handshake_response(std::string& out, uint32_t heartbeat_s, int64_t servertime_s,
                               const RouteDict& dict) {
  JsonWriter json(out);
  json.begin_object().key("code").number(200).key("sys").begin_object();
  json.key("heartbeat").number(heartbeat_s).key("servertime").number(servertime_s);
  json.key("dict").raw(dict.json());
  json.end_object().end_object();
}

void append_handshake_error(std::string& out, int code) {
  JsonWriter(out).begin_object().key("code").number(code).end_object();
}

void append_kick_body(std::string& out, std::string_view reason) {
  JsonWriter(out).begin_object().key("reason").string(reason).end_object();
}

}  // namespace ringcast::pomelo
