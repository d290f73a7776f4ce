// The receive-side parsing of ringcast-load, kept pure (bytes in, results out) so it is unit-tested
// apart from the event loop: server frame headers, the tiny scanner that finds the load items
// `[room_index,seq,t_ns,"pad"]` in a PUSH frame without a JSON library, the recovery fields (a PUSH's
// room and seq, the JOINED marker), and the HTTP/1.1 response framing the publisher needs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace ringcast::load {

// ---- WebSocket frames from the server (RFC 6455: unmasked) ----

// The RSV bits of a frame's first byte; RSV1 marks a compressed message (RFC 7692 §6).
constexpr uint8_t kRsv1 = 0x40;
constexpr uint8_t kRsv2 = 0x20;
constexpr uint8_t kRsv3 = 0x10;

struct FrameHead {
  uint8_t opcode = 0;
  uint8_t rsv = 0;  // kRsv1 | kRsv2 | kRsv3 as set in the frame
  bool fin = false;
  bool masked = false;  // a server must not mask: the caller treats it as a protocol error
  uint32_t header_bytes = 0;
  uint64_t payload_bytes = 0;
  uint64_t total_bytes() const { return header_bytes + payload_bytes; }
};

constexpr size_t kFrameHeaderBytesMax = 14;

// Decodes the header at the front of `data`. False when fewer bytes than the header are available.
bool parse_frame_head(const uint8_t* data, size_t len, FrameHead& head);

// Bytes of one frame (or of the 101 head) that arrived split across reads: the only receive memory
// a connection owns, and only until the rest arrives.
struct Spill {
  uint32_t len;
  uint32_t need;  // the whole frame's size once its header is known; 0 before
  uint32_t cap;
  uint8_t data[];  // flexible array member (GNU extension, fine with g++)
};

void free_spill(Spill*& spill);

enum class FeedStatus : uint8_t {
  ok,         // every byte consumed (complete frames delivered, a trailing partial one spilled)
  stopped,    // the sink asked to stop (the connection ended)
  too_large,  // a frame announced more than frame_bytes_max
};

// Splits the bytes a read delivered into frames: completes a spilled frame first, calls
// on_frame(const FrameHead&, uint8_t* payload) -> bool (false: stop) for every whole frame, read in
// place where possible, and spills a trailing incomplete one.
template <class Sink>
FeedStatus feed_frames(Spill*& spill, uint8_t* data, size_t len, uint64_t frame_bytes_max, Sink&& on_frame);

// ---- load items ----

// One item as the publisher writes it: [room_index, seq, t_ns, "padding"].
struct Item {
  uint64_t room_index = 0;
  uint64_t seq = 0;
  uint64_t t_ns = 0;
};

struct ScanCounts {
  uint64_t items = 0;    // well-formed load items handed to the sink
  uint64_t foreign = 0;  // array elements that are not load items (someone else's data)
  bool malformed = false;
  const char* after = nullptr;  // just after the items array's ']' (null when malformed or absent)
};

// Skips one JSON value starting at p (strings with escapes, nested arrays/objects, scalars).
// Returns the position after it, or nullptr when the text ends first or is not JSON.
const char* skip_json_value(const char* p, const char* end);

// Parses a load item at p. On success returns the position after it and fills `item`; returns
// nullptr when p does not start a load item (the caller then skips the value as foreign).
const char* parse_item(const char* p, const char* end, Item& item);

// Calls on_item(const Item&) for every element of the JSON array starting at p ('[').
template <class Sink>
ScanCounts scan_item_array(const char* p, const char* end, Sink&& on_item);

// A go-push server message: calls on_item for every load item in data.items of a PUSH message.
// Returns counts (all zero for a message without an "items" array, e.g. a PONG).
template <class Sink>
ScanCounts scan_push_message(std::string_view message, Sink&& on_item);

// True when the message is a go-push command of this type, e.g. {"type":"PONG","data":{}}.
bool message_type_is(std::string_view message, std::string_view type);

// ---- recovery (ringcast's PUSH seq and JOINED marker, docs/protocol.md) ----

// What follows "items" in a ringcast PUSH: {"items":[...],"room":"r","seq":N}. A push to everyone
// has no room; a go-push server sends neither.
struct PushTail {
  std::string_view room;
  uint64_t seq = 0;
  bool has_room = false;
  bool has_seq = false;
};

// Reads the members of data that follow the items array; `after_items` is ScanCounts::after. False
// when the rest is not a well-formed run of members (the fields found up to there are kept).
bool parse_push_tail(const char* after_items, const char* end, PushTail& tail);

// {"type":"JOINED","data":{"room":"r","seq":S,"epoch":"E","recovered":true|false}}.
struct Joined {
  std::string_view room;
  std::string_view epoch;
  uint64_t seq = 0;
  bool recovered = false;
};

// True for a JOINED message with room, seq and recovered (epoch may be absent).
bool parse_joined(std::string_view message, Joined& joined);

// ---- HTTP/1.1 responses (the publisher's side of the push API) ----

enum class HttpParse : uint8_t { incomplete, complete, error };

struct HttpResponse {
  int status = 0;
  size_t consumed = 0;    // bytes of the whole response (head + body framing)
  std::string_view body;  // for Content-Length bodies (chunked bodies are skipped, body empty)
  bool close = false;     // "Connection: close"
};

// Parses one response from the front of buf: status line, headers, then a Content-Length or chunked
// body (no framing means no body: ringcast and the usual push endpoints always frame their answers).
HttpParse parse_http_response(std::string_view buf, HttpResponse& response);

// ---- the 101 answer to the upgrade ----

// Position just after "\r\n\r\n" in buf, or 0 when the head is not complete yet.
size_t http_head_end(std::string_view buf);

// True for "HTTP/1.1 101 ..." carrying the expected Sec-WebSocket-Accept value.
bool upgrade_accepted(std::string_view head, std::string_view accept_value);

// ---- ringcast's Server-Sent Events stream (--protocol sse): a chunked body, one event per chunk ----

// True for "HTTP/1.1 200 ..." with a text/event-stream body; `chunked` says whether it comes in chunks
// (ringcast: one event per chunk) or as a plain stream until the connection closes (nchan).
bool sse_accepted(std::string_view head, bool& chunked);

// Splits an event stream into events (each ends with a blank line): calls on_event(std::string_view
// body) -> bool (false: stop) for each whole one, read in place when `partial` is empty; a trailing
// incomplete event waits in `partial` for the next bytes. Returns false when the sink stopped.
template <class Sink>
bool split_sse_events(std::string_view bytes, std::string& partial, Sink&& on_event) {
  std::string_view rest = bytes;
  if (!partial.empty()) {
    partial.append(bytes);
    rest = partial;
  }
  size_t used = 0;
  while (true) {
    const size_t end = rest.find("\n\n", used);
    if (end == std::string_view::npos) break;
    const std::string_view event = rest.substr(used, end + 2 - used);
    used = end + 2;
    if (!on_event(event)) return false;
  }
  if (partial.empty()) {
    partial.assign(rest.substr(used));
  } else {
    partial.erase(0, used);
  }
  return true;
}

// Splits the bytes a read delivered into the chunks of a chunked body: completes a spilled chunk
// first, calls on_chunk(std::string_view body) -> bool (false: stop) for every whole chunk (the last,
// empty chunk included, as an empty body), read in place where possible, and spills the rest.
template <class Sink>
FeedStatus feed_chunks(Spill*& spill, uint8_t* data, size_t len, uint64_t chunk_bytes_max, Sink&& on_chunk);

// One SSE event (WHATWG HTML 9.2.6) as ringcast writes them: `id`, `event` and one `data` line each
// at most; comments and `retry` are skipped. False when the body holds no event (a heartbeat).
struct SseEvent {
  std::string_view id;
  std::string_view event;  // "message" when absent
  std::string_view data;
};
bool parse_sse_event(std::string_view body, SseEvent& event);

// ---- templates ----

namespace detail {

inline const char* skip_ws(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
  return p;
}

// The head of a chunk ("<hex size>[;ext]\r\n"): 1 with its bytes and the size, 0 when incomplete,
// -1 when malformed.
int parse_chunk_head(const uint8_t* data, size_t len, size_t& head_bytes, uint64_t& size);
// Processes whole chunks at the front of data; returns the bytes used (the rest is incomplete), or
// sets `status` to stopped/too_large.
template <class Sink>
size_t take_chunks(const uint8_t* data, size_t len, uint64_t chunk_bytes_max, FeedStatus& status,
                   Sink& on_chunk) {
  size_t used = 0;
  status = FeedStatus::ok;
  while (used < len) {
    size_t head_bytes = 0;
    uint64_t size = 0;
    const int head = parse_chunk_head(data + used, len - used, head_bytes, size);
    if (head < 0 || size > chunk_bytes_max) {
      status = FeedStatus::too_large;
      return used;
    }
    if (head == 0 || head_bytes + size + 2 > len - used) return used;
    const char* body = reinterpret_cast<const char*>(data + used + head_bytes);
    if (body[size] != '\r' || body[size + 1] != '\n') {
      status = FeedStatus::too_large;
      return used;
    }
    used += head_bytes + size + 2;
    if (!on_chunk(std::string_view(body, size))) {
      status = FeedStatus::stopped;
      return used;
    }
  }
  return used;
}
// Keeps `len` bytes in the spill (replacing what it held), growing it as needed.
void keep_in_spill(Spill*& spill, const uint8_t* data, size_t len);

// Copies an incomplete frame aside (the spill is empty).
FeedStatus spill_frame(Spill*& spill, const uint8_t* data, size_t len, uint64_t frame_bytes_max);
// Adds the bytes a spilled frame still needs; returns how many it took. `complete` says the frame is
// whole.
size_t top_up_spill(Spill*& spill, const uint8_t* data, size_t len, uint64_t frame_bytes_max, bool& complete,
                    bool& too_large);

}  // namespace detail

template <class Sink>
FeedStatus feed_frames(Spill*& spill, uint8_t* data, size_t len, uint64_t frame_bytes_max, Sink&& on_frame) {
  if (spill != nullptr && len > 0) {
    bool complete = false, too_large = false;
    const size_t used = detail::top_up_spill(spill, data, len, frame_bytes_max, complete, too_large);
    if (too_large) return FeedStatus::too_large;
    data += used;
    len -= used;
    if (complete) {
      Spill* whole = spill;
      spill = nullptr;
      FrameHead head;
      parse_frame_head(whole->data, whole->len, head);
      const bool go_on = on_frame(head, whole->data + head.header_bytes);
      free_spill(whole);
      if (!go_on) return FeedStatus::stopped;
    }
  }
  while (len > 0) {
    FrameHead head;
    if (!parse_frame_head(data, len, head) || head.total_bytes() > len)
      return detail::spill_frame(spill, data, len, frame_bytes_max);
    if (!on_frame(head, data + head.header_bytes)) return FeedStatus::stopped;
    data += head.total_bytes();
    len -= static_cast<size_t>(head.total_bytes());
  }
  return FeedStatus::ok;
}

template <class Sink>
FeedStatus feed_chunks(Spill*& spill, uint8_t* data, size_t len, uint64_t chunk_bytes_max, Sink&& on_chunk) {
  FeedStatus status = FeedStatus::ok;
  if (spill != nullptr) {
    // A chunk split across reads: joined in the spill, which then holds only what is still partial.
    if (spill->len + len > chunk_bytes_max + 64) return FeedStatus::too_large;
    if (spill->len + len > spill->cap) {
      const uint32_t cap = static_cast<uint32_t>(std::max<size_t>(spill->len + len, 2 * size_t{spill->cap}));
      auto* grown = static_cast<Spill*>(std::realloc(spill, sizeof(Spill) + cap));
      if (grown == nullptr) std::abort();
      grown->cap = cap;
      spill = grown;
    }
    std::memcpy(spill->data + spill->len, data, len);
    spill->len += static_cast<uint32_t>(len);
    // Detached while the sink runs: a sink that ends the connection frees the connection's spill.
    Spill* held = spill;
    spill = nullptr;
    const size_t used = detail::take_chunks(held->data, held->len, chunk_bytes_max, status, on_chunk);
    if (status != FeedStatus::ok || used == held->len) {
      free_spill(held);
      return status;
    }
    if (used > 0) {
      std::memmove(held->data, held->data + used, held->len - used);
      held->len -= static_cast<uint32_t>(used);
    }
    spill = held;
    return status;
  }
  const size_t used = detail::take_chunks(data, len, chunk_bytes_max, status, on_chunk);
  if (status == FeedStatus::ok && used < len) detail::keep_in_spill(spill, data + used, len - used);
  return status;
}

template <class Sink>
ScanCounts scan_item_array(const char* p, const char* end, Sink&& on_item) {
  ScanCounts counts;
  if (p >= end || *p != '[') {
    counts.malformed = true;
    return counts;
  }
  p = detail::skip_ws(p + 1, end);
  if (p < end && *p == ']') {
    counts.after = p + 1;
    return counts;
  }
  while (p < end) {
    Item item;
    if (const char* after = parse_item(p, end, item)) {
      on_item(item);
      ++counts.items;
      p = after;
    } else {
      const char* after_value = skip_json_value(p, end);
      if (after_value == nullptr) break;
      ++counts.foreign;
      p = after_value;
    }
    p = detail::skip_ws(p, end);
    if (p < end && *p == ',') {
      p = detail::skip_ws(p + 1, end);
      continue;
    }
    if (p < end && *p == ']') {
      counts.after = p + 1;
      return counts;
    }
    break;
  }
  counts.malformed = true;
  return counts;
}

template <class Sink>
ScanCounts scan_push_message(std::string_view message, Sink&& on_item) {
  // ringcast writes "items" once per PUSH; the key is looked for as a quoted string and must be
  // followed by ':' so that an item containing the word cannot be mistaken for it.
  const char* p = message.data();
  const char* end = p + message.size();
  constexpr std::string_view key = "\"items\"";
  while (p < end) {
    const void* hit = memmem(p, static_cast<size_t>(end - p), key.data(), key.size());
    if (hit == nullptr) return {};
    p = static_cast<const char*>(hit) + key.size();
    const char* q = detail::skip_ws(p, end);
    if (q < end && *q == ':') return scan_item_array(detail::skip_ws(q + 1, end), end, on_item);
  }
  return {};
}

}  // namespace ringcast::load
