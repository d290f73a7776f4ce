// The cluster's wire format, pure: the NATS subject of a room, of push/all and of user pushes, and one
// versioned message per forwarded ring entry (bytes in, bytes out), so it is unit-tested and fuzzed
// without NATS. The bridge (engine/node/bridge.h) does the I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/codec/push.h"

namespace ringcast {

namespace cluster {

// Message layout, version 1 (integers little-endian):
//   [0] version = 1   [1] target (0 all, 1 room, 2 user: the "room" is the uid)   [2..3] room length
//   [4..7] origin node id
//   [8..15] origin ring sequence   then the room name, then the items: a minified JSON array.
// The origin sequence is not used for delivery yet; it is what a node will ask an origin for to close
// the gap an outage left (see docs/cluster.md).
constexpr uint8_t kWireVersion = 1;
constexpr size_t kHeaderBytes = 16;

struct Message {
  Target target = Target::all;
  uint32_t origin = 0;
  uint64_t origin_seq = 0;
  std::string_view room;
  std::string_view items;  // the JSON array text, brackets included
};

enum class DecodeError : uint8_t { none, too_short, bad_version, bad_target, bad_length, no_items };

// Appends the encoding of a ring entry (target, room, items) to `out`.
// `room` is the room (Target::room) or the uid (Target::user: the uid, never the node-local internal
// room name); `items` is the text between the items array's brackets, as a ring entry holds it.
void encode(std::string& out, Target target, std::string_view room, uint64_t seq, std::string_view items,
            uint32_t origin);
// Parses a message; the views point into `bytes`.
DecodeError decode(std::string_view bytes, Message& out);
std::string_view decode_error_text(DecodeError error);

// Little-endian integers of `bytes` bytes, as every cluster message writes them.
inline void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
inline uint64_t get_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// Subjects: <prefix>.all for push/all, <prefix>.r.<token> for a room, where the token is the room
// name in unpadded base64url, so any room name (UTF-8, dots, spaces, '*', '>') is one valid token.
void room_subject(std::string& out, std::string_view prefix, std::string_view room);
std::string all_subject(std::string_view prefix);
// <prefix>.u: every user push. Every node with clients subscribes to it (like <prefix>.all): a node
// does not know which users other nodes hold, and per-user subjects would cost a subscription per
// bound user.
std::string user_subject(std::string_view prefix);
// A prefix is one or more tokens of [A-Za-z0-9_-] separated by single dots.
bool subject_prefix_valid(std::string_view prefix);

}  // namespace cluster
}  // namespace ringcast
