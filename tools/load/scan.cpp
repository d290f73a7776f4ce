// Pure parsing for ringcast-load's receive path and publisher (see scan.h). The item scanner is the
// per-message cost of the tool, so it walks the bytes once and never builds a JSON tree.
#include "tools/load/scan.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace ringcast::load {
namespace {

using detail::skip_ws;

constexpr size_t kJsonDepthMax = 64;  // deeper values are treated as malformed

// p at the opening quote; returns the position after the closing quote.
const char* skip_string(const char* p, const char* end) {
  ++p;
  while (p < end) {
    const void* quote = std::memchr(p, '"', static_cast<size_t>(end - p));
    if (quote == nullptr) return nullptr;
    const char* q = static_cast<const char*>(quote);
    // The quote is escaped when an odd number of backslashes precede it.
    size_t backslashes = 0;
    for (const char* b = q; b > p && b[-1] == '\\'; --b) ++backslashes;
    if (backslashes % 2 == 0) return q + 1;
    p = q + 1;
  }
  return nullptr;
}

const char* parse_uint(const char* p, const char* end, uint64_t& value) {
  if (p >= end || *p < '0' || *p > '9') return nullptr;
  auto [ptr, ec] = std::from_chars(p, end, value);
  if (ec != std::errc()) return nullptr;
  return ptr;
}

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (ieq(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool parse_frame_head(const uint8_t* data, size_t len, FrameHead& head) {
  if (len < 2) return false;
  const uint8_t len7 = data[1] & 0x7F;
  const bool masked = (data[1] & 0x80) != 0;
  const uint32_t length_bytes = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  const uint32_t header_bytes = 2 + length_bytes + (masked ? 4 : 0);
  if (len < header_bytes) return false;
  uint64_t payload = len7;
  if (length_bytes != 0) {
    payload = 0;
    for (uint32_t i = 0; i < length_bytes; ++i) payload = (payload << 8) | data[2 + i];
  }
  head.opcode = data[0] & 0x0F;
  head.rsv = data[0] & (kRsv1 | kRsv2 | kRsv3);
  head.fin = (data[0] & 0x80) != 0;
  head.masked = masked;
  head.header_bytes = header_bytes;
  head.payload_bytes = payload;
  return true;
}

void free_spill(Spill*& spill) {
  std::free(spill);
  spill = nullptr;
}

namespace detail {

FeedStatus spill_frame(Spill*& spill, const uint8_t* data, size_t len, uint64_t frame_bytes_max) {
  FrameHead head;
  uint32_t need = 0;
  size_t cap = kFrameHeaderBytesMax;
  if (parse_frame_head(data, len, head)) {
    if (head.total_bytes() > frame_bytes_max) return FeedStatus::too_large;
    need = static_cast<uint32_t>(head.total_bytes());
    cap = need;  // the whole frame at once: no growth while the rest arrives
  }
  auto* s = static_cast<Spill*>(std::malloc(sizeof(Spill) + cap));
  if (s == nullptr) std::abort();  // out of memory: nothing sensible left to measure
  s->len = static_cast<uint32_t>(len);
  s->need = need;
  s->cap = static_cast<uint32_t>(cap);
  std::memcpy(s->data, data, len);
  spill = s;
  return FeedStatus::ok;
}

size_t top_up_spill(Spill*& spill, const uint8_t* data, size_t len, uint64_t frame_bytes_max, bool& complete,
                    bool& too_large) {
  Spill* s = spill;
  size_t used = 0;
  complete = too_large = false;
  if (s->need == 0) {
    // The header itself was split: take at most what the longest header needs, then size the spill.
    const size_t take = std::min(len, kFrameHeaderBytesMax - s->len);
    std::memcpy(s->data + s->len, data, take);
    s->len += static_cast<uint32_t>(take);
    used = take;
    FrameHead head;
    if (!parse_frame_head(s->data, s->len, head)) return used;
    if (head.total_bytes() > frame_bytes_max) {
      too_large = true;
      return used;
    }
    const uint32_t need = static_cast<uint32_t>(head.total_bytes());
    if (s->len > need) {  // a frame shorter than the bytes taken: give back the next frame's start
      used -= s->len - need;
      s->len = need;
    }
    if (need > s->cap) {
      s = static_cast<Spill*>(std::realloc(s, sizeof(Spill) + need));
      if (s == nullptr) std::abort();
      s->cap = need;
      spill = s;
    }
    s->need = need;
  }
  const size_t take = std::min(len - used, static_cast<size_t>(s->need - s->len));
  std::memcpy(s->data + s->len, data + used, take);
  s->len += static_cast<uint32_t>(take);
  complete = s->len == s->need;
  return used + take;
}

}  // namespace detail

const char* skip_json_value(const char* p, const char* end) {
  p = skip_ws(p, end);
  if (p >= end) return nullptr;
  if (*p == '"') return skip_string(p, end);
  if (*p != '[' && *p != '{') {
    // A scalar: number, true, false, null. It ends at a delimiter.
    const char* start = p;
    while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\t' && *p != '\n' &&
           *p != '\r' && *p != ':')
      ++p;
    return p == start ? nullptr : p;
  }
  size_t depth = 0;
  while (p < end) {
    const char c = *p;
    if (c == '"') {
      p = skip_string(p, end);
      if (p == nullptr) return nullptr;
      continue;
    }
    if (c == '[' || c == '{') {
      if (++depth > kJsonDepthMax) return nullptr;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return p + 1;
    }
    ++p;
  }
  return nullptr;
}

const char* parse_item(const char* p, const char* end, Item& item) {
  if (p >= end || *p != '[') return nullptr;
  uint64_t fields[3];
  p = skip_ws(p + 1, end);
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      if (p >= end || *p != ',') return nullptr;
      p = skip_ws(p + 1, end);
    }
    p = parse_uint(p, end, fields[i]);
    if (p == nullptr) return nullptr;
    p = skip_ws(p, end);
  }
  // The padding (and anything a later version appends) is skipped without looking inside.
  while (p < end && *p == ',') {
    p = skip_json_value(p + 1, end);
    if (p == nullptr) return nullptr;
    p = skip_ws(p, end);
  }
  if (p >= end || *p != ']') return nullptr;
  item.room_index = fields[0];
  item.seq = fields[1];
  item.t_ns = fields[2];
  return p + 1;
}

bool message_type_is(std::string_view message, std::string_view type) {
  const char* p = message.data();
  const char* end = p + message.size();
  p = skip_ws(p, end);
  if (p >= end || *p != '{') return false;
  p = skip_ws(p + 1, end);
  constexpr std::string_view key = "\"type\"";
  if (static_cast<size_t>(end - p) < key.size() || std::string_view(p, key.size()) != key) return false;
  p = skip_ws(p + key.size(), end);
  if (p >= end || *p != ':') return false;
  p = skip_ws(p + 1, end);
  if (p >= end || *p != '"') return false;
  ++p;
  return static_cast<size_t>(end - p) > type.size() && std::string_view(p, type.size()) == type &&
         p[type.size()] == '"';
}

namespace {

// A string value without escapes (room names and epochs never need one); p at the opening quote.
const char* plain_string(const char* p, const char* end, std::string_view& out) {
  const char* q = p + 1;
  while (q < end && *q != '"' && *q != '\\') ++q;
  if (q >= end || *q != '"') return nullptr;
  out = {p + 1, static_cast<size_t>(q - p - 1)};
  return q + 1;
}

// Walks object members from p, which is just after '{' (first = true) or after a member (at ',' or
// '}'): calls on_member(key, value_begin) -> position after the value (nullptr: malformed) for each.
// Returns true when the object's closing '}' is reached.
template <class F>
bool walk_members(const char* p, const char* end, bool first, F&& on_member) {
  while (true) {
    p = skip_ws(p, end);
    if (p >= end) return false;
    if (*p == '}') return true;
    if (!first) {
      if (*p != ',') return false;
      p = skip_ws(p + 1, end);
    }
    first = false;
    if (p >= end || *p != '"') return false;
    std::string_view key;
    p = plain_string(p, end, key);
    if (p == nullptr) return false;
    p = skip_ws(p, end);
    if (p >= end || *p != ':') return false;
    p = on_member(key, skip_ws(p + 1, end));
    if (p == nullptr) return false;
  }
}

}  // namespace

bool parse_push_tail(const char* after_items, const char* end, PushTail& tail) {
  if (after_items == nullptr) return false;
  return walk_members(after_items, end, false, [&](std::string_view key, const char* v) -> const char* {
    if (key == "room" && v < end && *v == '"') {
      const char* after = plain_string(v, end, tail.room);
      tail.has_room = after != nullptr;
      return after;
    }
    if (key == "seq") {
      const char* after = parse_uint(v, end, tail.seq);
      tail.has_seq = after != nullptr;
      return after;
    }
    return skip_json_value(v, end);
  });
}

bool parse_joined(std::string_view message, Joined& joined) {
  if (!message_type_is(message, "JOINED")) return false;
  const char* p = message.data();
  const char* end = p + message.size();
  bool has_room = false, has_seq = false, has_recovered = false;
  auto on_data = [&](std::string_view key, const char* v) -> const char* {
    if (key == "room" && v < end && *v == '"') {
      const char* after = plain_string(v, end, joined.room);
      has_room = after != nullptr;
      return after;
    }
    if (key == "epoch" && v < end && *v == '"') return plain_string(v, end, joined.epoch);
    if (key == "seq") {
      const char* after = parse_uint(v, end, joined.seq);
      has_seq = after != nullptr;
      return after;
    }
    if (key == "recovered") {
      constexpr std::string_view yes = "true", no = "false";
      const std::string_view rest(v, static_cast<size_t>(end - v));
      if (rest.substr(0, yes.size()) == yes) {
        joined.recovered = has_recovered = true;
        return v + yes.size();
      }
      if (rest.substr(0, no.size()) == no) {
        joined.recovered = false;
        has_recovered = true;
        return v + no.size();
      }
      return nullptr;
    }
    return skip_json_value(v, end);
  };
  p = skip_ws(p, end);
  if (p >= end || *p != '{') return false;
  const bool whole = walk_members(p + 1, end, true, [&](std::string_view key, const char* v) -> const char* {
    if (key != "data") return skip_json_value(v, end);
    if (v >= end || *v != '{') return nullptr;
    // The data object is walked here; its end is found again by skipping it as a value.
    if (!walk_members(v + 1, end, true, on_data)) return nullptr;
    return skip_json_value(v, end);
  });
  return whole && has_room && has_seq && has_recovered;
}

size_t http_head_end(std::string_view buf) {
  const size_t at = buf.find("\r\n\r\n");
  return at == std::string_view::npos ? 0 : at + 4;
}

bool upgrade_accepted(std::string_view head, std::string_view accept_value) {
  if (head.substr(0, 13) != "HTTP/1.1 101 " && head.substr(0, 12) != "HTTP/1.1 101") return false;
  size_t line_start = head.find("\r\n");
  while (line_start != std::string_view::npos && line_start + 2 < head.size()) {
    line_start += 2;
    const size_t line_end = head.find("\r\n", line_start);
    const std::string_view line = head.substr(line_start, line_end - line_start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && ieq(trim(line.substr(0, colon)), "sec-websocket-accept"))
      return trim(line.substr(colon + 1)) == accept_value;
    line_start = line_end;
  }
  return false;
}

HttpParse parse_http_response(std::string_view buf, HttpResponse& response) {
  const size_t head_end = http_head_end(buf);
  if (head_end == 0) return HttpParse::incomplete;
  const std::string_view head = buf.substr(0, head_end - 4);
  if (head.size() < 12 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ') return HttpParse::error;
  int status = 0;
  auto [ptr, ec] = std::from_chars(head.data() + 9, head.data() + 12, status);
  if (ec != std::errc() || ptr != head.data() + 12) return HttpParse::error;
  response = HttpResponse{};
  response.status = status;

  uint64_t content_length = 0;
  bool chunked = false;
  size_t line_start = head.find("\r\n");
  while (line_start != std::string_view::npos) {
    line_start += 2;
    const size_t line_end = head.find("\r\n", line_start);
    const std::string_view line = head.substr(line_start, line_end - line_start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = trim(line.substr(0, colon));
      const std::string_view value = trim(line.substr(colon + 1));
      if (ieq(name, "content-length")) {
        auto [p, e] = std::from_chars(value.data(), value.data() + value.size(), content_length);
        if (e != std::errc() || p != value.data() + value.size()) return HttpParse::error;
      } else if (ieq(name, "transfer-encoding")) {
        chunked = has_token(value, "chunked");
      } else if (ieq(name, "connection")) {
        response.close = has_token(value, "close");
      }
    }
    line_start = line_end;
  }

  // 1xx, 204 and 304 have no body whatever the headers say.
  if ((status >= 100 && status < 200) || status == 204 || status == 304) {
    response.consumed = head_end;
    return HttpParse::complete;
  }
  if (!chunked) {
    if (buf.size() - head_end < content_length) return HttpParse::incomplete;
    response.body = buf.substr(head_end, content_length);
    response.consumed = head_end + content_length;
    return HttpParse::complete;
  }
  // Chunked: walk the size lines; the body itself is not kept (only the status matters here).
  size_t at = head_end;
  while (true) {
    const size_t line_end = buf.find("\r\n", at);
    if (line_end == std::string_view::npos) return HttpParse::incomplete;
    uint64_t chunk = 0;
    auto [p, e] = std::from_chars(buf.data() + at, buf.data() + line_end, chunk, 16);
    if (e != std::errc()) return HttpParse::error;
    (void)p;  // chunk extensions after the size are ignored
    at = line_end + 2;
    if (chunk == 0) {
      // Trailers, then an empty line.
      while (true) {
        const size_t trailer_end = buf.find("\r\n", at);
        if (trailer_end == std::string_view::npos) return HttpParse::incomplete;
        const bool empty = trailer_end == at;
        at = trailer_end + 2;
        if (empty) break;
      }
      response.consumed = at;
      return HttpParse::complete;
    }
    if (buf.size() - at < chunk + 2) return HttpParse::incomplete;
    at += chunk + 2;
  }
}

bool sse_accepted(std::string_view head, bool& chunked) {
  if (head.substr(0, 13) != "HTTP/1.1 200 ") return false;
  chunked = head.find("chunked") != std::string_view::npos;
  return head.find("text/event-stream") != std::string_view::npos;
}

bool parse_sse_event(std::string_view body, SseEvent& event) {
  event = SseEvent{};
  event.event = "message";
  bool any = false;
  while (!body.empty()) {
    const size_t eol = body.find('\n');
    const std::string_view line = body.substr(0, eol);
    body.remove_prefix(eol == std::string_view::npos ? body.size() : eol + 1);
    if (line.empty() || line[0] == ':') continue;
    const size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (field == "id") {
      event.id = value;
    } else if (field == "event") {
      event.event = value;
    } else if (field == "data") {
      event.data = value;
      any = true;
    }
  }
  return any;
}

namespace detail {

int parse_chunk_head(const uint8_t* data, size_t len, size_t& head_bytes, uint64_t& size) {
  size = 0;
  size_t i = 0;
  for (; i < len; ++i) {
    const char ch = static_cast<char>(data[i]);
    int v = -1;
    if (ch >= '0' && ch <= '9')
      v = ch - '0';
    else if (ch >= 'a' && ch <= 'f')
      v = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F')
      v = ch - 'A' + 10;
    if (v < 0) break;
    if (i >= 15) return -1;
    size = size * 16 + static_cast<uint64_t>(v);
  }
  if (i == len) return i > 16 ? -1 : 0;
  if (i == 0) return -1;
  // Chunk extensions (";name=value") are skipped up to the line's end.
  for (; i < len && data[i] != '\n'; ++i)
    if (i > 256) return -1;
  if (i == len) return 0;
  if (data[i - 1] != '\r') return -1;
  head_bytes = i + 1;
  return 1;
}

void keep_in_spill(Spill*& spill, const uint8_t* data, size_t len) {
  const size_t cap = std::max<size_t>(len, 256);
  auto* s = static_cast<Spill*>(std::malloc(sizeof(Spill) + cap));
  if (s == nullptr) std::abort();
  s->len = static_cast<uint32_t>(len);
  s->need = 0;
  s->cap = static_cast<uint32_t>(cap);
  std::memcpy(s->data, data, len);
  spill = s;
}

}  // namespace detail

}  // namespace ringcast::load
