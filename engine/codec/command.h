// The go-push client protocol: the JSON commands a client sends in text frames ({"type":"PING"},
// {"type":"JOIN","data":{"room":"r"}}, {"type":"LEAVE",...}) and the constant frames we answer with.
// Pure: bytes in, a Command out; the connection acts on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/base/json.h"

namespace ringcast {

enum class CommandType : uint8_t { ping, join, leave, unknown, bind, hello };

enum class CommandError : uint8_t {
  none,
  malformed_json,   // not JSON at all: the connection is closed (1007)
  not_an_object,    // JSON, but not {"type":...}: closed (1007)
  bad_room,         // JOIN/LEAVE without a string data.room, or an empty one: an ERROR frame answers
  bad_since,        // JOIN with a data.since that is not a non-negative integer, or a non-string epoch
  bad_uid,          // BIND without a string data.uid, or an empty one: an ERROR frame answers
};

struct Command {
  CommandType type = CommandType::unknown;
  std::string_view room;  // JOIN/LEAVE; points into the parser's document, valid until its next parse
  // JOIN with recovery: replay the room's items after sequence number `since` (the `seq` of the last
  // PUSH the client got), answered by a JOINED marker. `epoch` (optional) names the ring `since` is from.
  bool has_since = false;
  uint64_t since = 0;
  // `"since":null`: the client has nothing of the room yet; the JOINED marker only tells it where the
  // room stands (seq and epoch) so that it can resume from there later. Nothing is replayed.
  bool since_now = false;
  std::string_view epoch;
  // Any other type (CommandType::unknown): its name and "data", for the application's handlers
  // (Engine hooks). Valid until the parser's next parse.
  std::string_view type_name;
  bool has_data = false;
  simdjson::dom::element data;
  std::string_view uid;   // BIND ({"type":"BIND","data":{"uid":"u"}}), likewise
};

// Parses one client text message. `parser` is reused across calls (one per shard) so parsing does
// not allocate in the steady state. Unknown types are CommandType::unknown (go-push ignores them).
CommandError parse_command(simdjson::dom::parser& parser, const uint8_t* data, size_t len, Command& out);

// Human-readable constant text for a CommandError (close reasons and ERROR frames).
std::string_view command_error_text(CommandError error);

// {"type":"JOINED","data":{"room":"r","seq":S,"epoch":"E","recovered":true}}: the answer to a JOIN with
// `since`. recovered: every item of the room after `since` up to S was replayed (before this marker);
// false: some are no longer held, nothing was replayed and the client should refetch. Either way the
// client gets every item after S from here on.
std::string joined_command_json(std::string_view room, uint64_t seq, std::string_view epoch, bool recovered);
// {"type":"BOUND","data":{"uid":"<uid>","conn":"<conn>"}}: a BIND succeeded.
std::string bound_command_json(std::string_view uid, std::string_view conn);
// {"type":"HELLO","data":{"conn":"<conn>","uid":"<uid>"|null}}: the answer to {"type":"HELLO"}.
std::string hello_command_json(std::string_view conn, std::string_view uid);

// {"type":"<type>","data":<data_json>} (data_json is JSON text; empty means null): a message of the
// application's own type (Session::send).
std::string message_command_json(std::string_view type, std::string_view data_json);

// {"type":"PONG","data":{}} — the answer to a go-push PING.
std::string_view pong_command_json();

// {"type":"ERROR","data":{"code":"<code>","message":"<message>","room":"<room>"}} with JSON escaping:
// our answer to a command we refuse without closing (a JOIN over the room limit, a bad room name).
std::string error_command_json(std::string_view code, std::string_view message, std::string_view room);

}  // namespace ringcast
