// The go-push PUSH frame's text and the addressing of a push, pure: who a push goes to (Target), the
// envelope around its items ({"type":"PUSH","data":{"items":[...],"room":"r","seq":N}}, split so that
// ring entries can be spliced into one coalesced frame), and the rule for room names. The publisher
// writes these into the ring; the fan-out, recovery and the Pomelo encoding read them back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast {

// skip: an entry whose producer died between claiming and committing it (a worker process crashed);
// the supervisor commits it as a hole that consumers step over. user: the room is a user's internal
// room ("\x01" + uid, see users.h); conn: the room is one connection's id (decimal text), node-local.
// With JetStream (docs/cluster.md), two control entries between a shard and the node's NATS bridge:
// replay_request (a JOIN with `since` asks for the room's items after it) and replay (the answer:
// items for one connection, then a last entry with the position the fan-out takes over from).
enum class Target : uint8_t {
  all = 0,
  room = 1,
  skip = 2,
  user = 3,
  conn = 4,
  replay_request = 5,
  replay = 6
};

// The characters a room name may hold (room_name_charset). utf8: any UTF-8 but control characters
// (C0, DEL and C1), go-push's rooms included; ascii: printable ASCII without space (0x21..0x7E), for
// deployments that want names safe to print, log and put in URLs as they are. Either way a name is
// one NATS subject token in cluster mode (cluster::room_subject encodes it), so '.', '*' and '>' are
// allowed.
enum class RoomCharset : uint8_t { utf8, ascii };

// Parses "utf8" or "ascii". False otherwise.
bool parse_room_charset(std::string_view text, RoomCharset& out);

// Room names: 1..max_bytes bytes of the charset. The same rule for JOIN, the push API and the demo.
bool room_name_valid(std::string_view room, size_t max_bytes, RoomCharset charset = RoomCharset::utf8);

// The rule as a constant sentence, for ERROR frames and 400 answers.
std::string_view room_name_rule_text(RoomCharset charset);

// {"type":"PUSH","data":{"items":[ ... ],"room":"r","seq":N}} is split around the items so entries can
// be spliced. The suffix carries the sequence number of the frame's last item (what a client resumes
// from, see JOIN's `since`) and, for a room push, the room (a client in several rooms tracks one
// position per room). The room is JSON-escaped; push/all has no room.
constexpr std::string_view kPushPrefix = R"({"type":"PUSH","data":{"items":[)";
// Appends the suffix to `out`: `],"room":"<room>","seq":N}}` for a room push, else `],"seq":N}}`. The
// head (up to `"seq":`) and the tail (the number and `}}`) apart, for the publisher, which sizes the
// entry before its seq is known.
void append_push_suffix(std::string& out, Target target, std::string_view room, uint64_t seq);
void append_push_suffix_head(std::string& out, Target target, std::string_view room);
void append_push_suffix_tail(std::string& out, uint64_t seq);

}  // namespace ringcast
