// Per-user push and connection ids, the pure part: a connection bound to a user id is a member of an
// internal room "\x01<uid>" in its shard's room index (client room names never hold control
// characters, so no client can JOIN it), and a user push is a ring entry aimed at that room. A
// connection id names one live connection on the node: shard, shard start, slot generation and slot,
// packed into a decimal number.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast {

constexpr char kUserRoomMark = '\x01';

// "\x01" + uid.
inline std::string user_room_name(std::string_view uid) {
  std::string name(1, kUserRoomMark);
  name.append(uid);
  return name;
}
inline bool is_user_room(std::string_view room) { return !room.empty() && room.front() == kUserRoomMark; }
// The uid of an internal user room.
inline std::string_view user_of_room(std::string_view room) { return room.substr(1); }

// The parts of a connection id. Bits, high to low: shard 8, incarnation 8 (how many times the shard
// started, mod 256: a restarted worker's connections get new ids), generation 22 (the slot's reuse
// count), slot 26.
struct ConnId {
  uint32_t shard = 0;
  uint32_t incarnation = 0;
  uint32_t generation = 0;
  uint32_t slot = 0;
};

constexpr uint32_t kConnIdSlotBits = 26;
constexpr uint32_t kConnIdGenerationBits = 22;

uint64_t pack_conn_id(const ConnId& id);
ConnId unpack_conn_id(uint64_t packed);
// Decimal text of the packed id.
std::string format_conn_id(const ConnId& id);
// Parses the decimal text: 1..20 digits, no sign, no leading zero, fits 64 bits. False otherwise.
bool parse_conn_id(std::string_view text, ConnId& out);

}  // namespace ringcast
