// The PUSH frame's envelope and the room-name rule (see push.h).
#include "engine/codec/push.h"

#include <cstdio>

#include "engine/codec/json_writer.h"
#include "engine/codec/utf8.h"

namespace ringcast {

bool parse_room_charset(std::string_view text, RoomCharset& out) {
  if (text == "utf8") {
    out = RoomCharset::utf8;
    return true;
  }
  if (text == "ascii") {
    out = RoomCharset::ascii;
    return true;
  }
  return false;
}

bool room_name_valid(std::string_view room, size_t max_bytes, RoomCharset charset) {
  if (room.empty() || room.size() > max_bytes) return false;
  if (charset == RoomCharset::ascii) {
    for (unsigned char c : room)
      if (c <= 0x20 || c >= 0x7f) return false;
    return true;
  }
  for (size_t i = 0; i < room.size(); ++i) {
    const auto c = static_cast<unsigned char>(room[i]);
    if (c < 0x20 || c == 0x7f) return false;
    // C1 controls (U+0080..U+009F) are 0xC2 0x80..0x9F in UTF-8: terminal escapes like C0's.
    if (c == 0xc2 && i + 1 < room.size() && static_cast<unsigned char>(room[i + 1]) < 0xa0) return false;
  }
  return utf8_valid(reinterpret_cast<const uint8_t*>(room.data()), room.size());
}

std::string_view room_name_rule_text(RoomCharset charset) {
  return charset == RoomCharset::ascii
             ? "room must be 1..room_name_bytes_max bytes of printable ASCII without spaces (room_name_charset ascii)"
             : "room must be 1..room_name_bytes_max bytes of UTF-8 without control characters";
}

void append_push_suffix_head(std::string& out, Target target, std::string_view room) {
  if (target == Target::room) {
    out += R"(],"room":)";
    append_json_string(out, room);
    out += R"(,"seq":)";
  } else {
    out += R"(],"seq":)";
  }
}

void append_push_suffix_tail(std::string& out, uint64_t seq) {
  char digits[24];
  const int n = std::snprintf(digits, sizeof(digits), "%llu", static_cast<unsigned long long>(seq));
  out.append(digits, static_cast<size_t>(n));
  out += "}}";
}

void append_push_suffix(std::string& out, Target target, std::string_view room, uint64_t seq) {
  append_push_suffix_head(out, target, room);
  append_push_suffix_tail(out, seq);
}

}  // namespace ringcast
