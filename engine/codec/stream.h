// The HTTP streaming transports' wire format, pure: Server-Sent Events (text/event-stream) and NDJSON
// (one JSON object per line), each sent as HTTP/1.1 chunks, one chunk per event, so that the bytes of
// one event can be shared by every member of the transport (the Encodings build them once per frame).
// Also the subscription request's query (rooms, since, epoch, Last-Event-ID). docs/protocol.md has the
// events; conn/stream.* sends them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::stream {

enum class Kind : uint8_t { sse, ndjson };

// What a subscription asks for, from its query string and Last-Event-ID header.
struct Query {
  std::vector<std::string> rooms;  // decoded, in the order given, without repeats
  bool has_since = false;          // ?since=N or Last-Event-ID: N (the header wins: a browser's resume)
  uint64_t since = 0;
  std::string epoch;  // ?epoch=E (16 hex digits, as JOINED says it); empty: not said
};

// Parses `query` (the request target after '?', %-escaped) and the Last-Event-ID header (empty when
// absent). Parameters other than room, since, epoch and lastEventId (token, or a cache buster) are
// left alone. Returns an empty view when the query is usable, else a constant reason for the 400:
// a broken %-escape, more than `rooms_max` rooms, a since that is not a non-negative integer, an epoch
// that is not 16 hex digits. Room names are checked by the caller (the room-name rule is a setting).
std::string_view parse_query(std::string_view query, std::string_view last_event_id, uint32_t rooms_max,
                             Query& out);

// The response head of an accepted subscription: 200, the content type of `kind`, chunked, no caching
// and no proxy buffering; `allow_origin` (not empty) is echoed in Access-Control-Allow-Origin (CORS:
// EventSource from another origin). The first chunk follows (first_chunk()).
std::string response_head(Kind kind, std::string_view allow_origin);
// The answer to a CORS preflight (OPTIONS) on a stream path: 204 with the allowed method and headers.
std::string preflight_response(std::string_view allow_origin);

// Appends one HTTP/1.1 chunk holding `body` (hex size, CRLF, body, CRLF). An empty body is not a chunk
// (it would end the stream): nothing is appended.
void append_chunk(std::string& out, std::string_view body);
// The chunk that ends the stream.
constexpr std::string_view kLastChunk = "0\r\n\r\n";

// The first chunk of an SSE stream: the reconnection delay the browser waits after a drop.
std::string first_chunk(Kind kind, uint32_t retry_ms);
// A heartbeat chunk: an SSE comment, or an NDJSON {"type":"HEARTBEAT","data":{}} line.
std::string heartbeat_chunk(Kind kind);

// The chunk that carries a go-push PUSH message (`{"type":"PUSH","data":D}`, the payload of the ring's
// frame) on `kind`: SSE `event: push` with `data: D` and, for a room push (D has a "room"), `id: <seq>`
// (the position a browser resumes from); NDJSON the message itself as a line. False when `message` is
// not a PUSH message (nothing appended).
bool append_push_chunk(std::string& out, Kind kind, std::string_view message);

// No `id:` field (append_message_chunk).
constexpr uint64_t kNoId = UINT64_MAX;

// The chunk of any other go-push message {"type":type,"data":data_json} on `kind`: SSE `event: <event>`
// (and `id: <id>` unless kNoId: 0 is a position too, "before the first item") with data_json as its
// data, or the whole message for event "message"; NDJSON the message as a line.
void append_message_chunk(std::string& out, Kind kind, std::string_view event, std::string_view type,
                          std::string_view data_json, uint64_t id = kNoId);

// The seq a PUSH message's data object ends with (`"seq":N}`), and whether it names a room; false when
// the object does not end that way.
bool push_position(std::string_view data_object, uint64_t& seq, bool& room);

}  // namespace ringcast::stream
