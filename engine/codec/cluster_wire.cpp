// The cluster's wire format and subjects (see cluster_wire.h).
#include "engine/codec/cluster_wire.h"

#include "engine/codec/base64.h"

namespace ringcast {
namespace cluster {
namespace {

bool token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

}  // namespace

void encode(std::string& out, Target target, std::string_view room, uint64_t seq, std::string_view items,
            uint32_t origin) {
  out += static_cast<char>(kWireVersion);
  out += static_cast<char>(target == Target::room ? 1 : target == Target::user ? 2 : 0);
  put_le(out, room.size(), 2);
  put_le(out, origin, 4);
  put_le(out, seq, 8);
  out += room;
  out += '[';
  out += items;
  out += ']';
}

DecodeError decode(std::string_view bytes, Message& out) {
  if (bytes.size() < kHeaderBytes) return DecodeError::too_short;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (p[0] != kWireVersion) return DecodeError::bad_version;
  if (p[1] > 2) return DecodeError::bad_target;
  out.target = p[1] == 1 ? Target::room : p[1] == 2 ? Target::user : Target::all;
  const size_t room_len = get_le(p + 2, 2);
  out.origin = static_cast<uint32_t>(get_le(p + 4, 4));
  out.origin_seq = get_le(p + 8, 8);
  if (kHeaderBytes + room_len > bytes.size()) return DecodeError::bad_length;
  if ((out.target != Target::all) != (room_len > 0)) return DecodeError::bad_length;
  out.room = bytes.substr(kHeaderBytes, room_len);
  out.items = bytes.substr(kHeaderBytes + room_len);
  if (out.items.size() < 2) return DecodeError::no_items;
  return DecodeError::none;
}

std::string_view decode_error_text(DecodeError error) {
  switch (error) {
    case DecodeError::none:
      return "ok";
    case DecodeError::too_short:
      return "shorter than the header";
    case DecodeError::bad_version:
      return "unknown version";
    case DecodeError::bad_target:
      return "unknown target";
    case DecodeError::bad_length:
      return "room length does not fit the message or the target";
    case DecodeError::no_items:
      return "no items";
  }
  return "error";
}

void room_subject(std::string& out, std::string_view prefix, std::string_view room) {
  out.assign(prefix);
  out += ".r.";
  base64url_append(out, room);
}

std::string user_subject(std::string_view prefix) { return std::string(prefix) + ".u"; }

std::string all_subject(std::string_view prefix) { return std::string(prefix) + ".all"; }

bool subject_prefix_valid(std::string_view prefix) {
  if (prefix.empty() || prefix.front() == '.' || prefix.back() == '.') return false;
  char previous = '.';
  for (char c : prefix) {
    if (c == '.' && previous == '.') return false;
    if (c != '.' && !token_char(c)) return false;
    previous = c;
  }
  return true;
}

}  // namespace cluster
}  // namespace ringcast
