// The HTTP streaming transports' wire format (see stream.h).
#include "engine/codec/stream.h"

#include <cstdio>

#include "engine/codec/form.h"
#include "engine/codec/json_writer.h"

namespace ringcast::stream {
namespace {

constexpr std::string_view kPushHead = R"({"type":"PUSH","data":)";

// A query component, %-decoded as a form value ('+' is a space). False on a broken escape.
bool decode_component(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    const char ch = in[i];
    if (ch == '+') {
      out += ' ';
    } else if (ch == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = form::hex_digit_value(in[i + 1]);
      const int lo = form::hex_digit_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += ch;
    }
  }
  return true;
}

bool parse_seq(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(ch - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  out = v;
  return true;
}

bool is_epoch(std::string_view text) {
  if (text.size() != 16) return false;
  for (char ch : text)
    if (form::hex_digit_value(ch) < 0) return false;
  return true;
}

// SSE data may not hold a line break (it would end the field). JSON from the ring is minified, so
// this never changes anything; if a break is there anyway it can only be whitespace between tokens
// (JSON strings cannot hold a raw one), which a space replaces without changing the value.
void append_data_line(std::string& out, std::string_view data) {
  const size_t at = out.size();
  out += data;
  for (size_t i = at; i < out.size(); ++i)
    if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';
}

size_t decimal_digits(uint64_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

void append_chunk_size(std::string& out, size_t size) {
  char hex[24];
  const int n = std::snprintf(hex, sizeof hex, "%zx\r\n", size);
  out.append(hex, static_cast<size_t>(n));
}

}  // namespace

std::string_view parse_query(std::string_view query, std::string_view last_event_id, uint32_t rooms_max,
                             Query& out) {
  out = Query{};
  std::string name, value;
  std::string_view since_text, last_id_param;
  bool since_given = false, last_id_given = false;
  std::string since_storage, last_id_storage;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    if (!decode_component(part.substr(0, eq), name) ||
        !decode_component(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), value))
      return "malformed %-escape in the query string";
    if (name == "room") {
      bool seen = false;
      for (const std::string& r : out.rooms) seen = seen || r == value;
      if (seen) continue;
      if (out.rooms.size() >= rooms_max) return "too many rooms (rooms_per_conn_max, go-push maxJoinRoom)";
      out.rooms.push_back(value);
    } else if (name == "since") {
      since_storage = value;
      since_given = true;
    } else if (name == "lastEventId") {
      last_id_storage = value;
      last_id_given = true;
    } else if (name == "epoch") {
      if (!is_epoch(value)) return "epoch must be 16 hex digits, as the joined event gives it";
      out.epoch = value;
    }
  }
  since_text = since_storage;
  last_id_param = last_id_storage;
  // The header is what a browser's EventSource sends back when it reconnects, with the URL it was
  // opened with: it is the newer position, so it wins over the URL's since.
  if (!last_event_id.empty() || last_id_given) {
    const std::string_view id = !last_event_id.empty() ? last_event_id : last_id_param;
    if (!parse_seq(id, out.since)) return "Last-Event-ID must be a seq (a non-negative integer)";
    out.has_since = true;
  } else if (since_given) {
    if (!parse_seq(since_text, out.since)) return "since must be a non-negative integer";
    out.has_since = true;
  }
  return {};
}

std::string response_head(Kind kind, std::string_view allow_origin) {
  std::string out = "HTTP/1.1 200 OK\r\nContent-Type: ";
  out += kind == Kind::sse ? "text/event-stream; charset=utf-8" : "application/x-ndjson";
  out +=
      "\r\nCache-Control: no-cache, no-store\r\nTransfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\n"
      "Connection: keep-alive\r\n";
  if (!allow_origin.empty()) {
    out += "Access-Control-Allow-Origin: ";
    out += allow_origin;
    out += "\r\nVary: Origin\r\n";
  }
  out += "\r\n";
  return out;
}

std::string preflight_response(std::string_view allow_origin) {
  std::string out = "HTTP/1.1 204 No Content\r\n";
  if (!allow_origin.empty()) {
    out += "Access-Control-Allow-Origin: ";
    out += allow_origin;
    out += "\r\nVary: Origin\r\n";
  }
  out +=
      "Access-Control-Allow-Methods: GET\r\nAccess-Control-Allow-Headers: Authorization, Last-Event-ID\r\n"
      "Access-Control-Max-Age: 600\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  return out;
}

void append_chunk(std::string& out, std::string_view body) {
  if (body.empty()) return;
  append_chunk_size(out, body.size());
  out += body;
  out += "\r\n";
}

std::string first_chunk(Kind kind, uint32_t retry_ms) {
  std::string body;
  if (kind == Kind::sse) {
    body = "retry: " + std::to_string(retry_ms) + "\n\n";
  } else {
    return {};
  }
  std::string out;
  append_chunk(out, body);
  return out;
}

std::string heartbeat_chunk(Kind kind) {
  std::string out;
  append_chunk(out, kind == Kind::sse ? std::string_view(":\n\n")
                                      : R"({"type":"HEARTBEAT","data":{}})"
                                        "\n");
  return out;
}

bool push_position(std::string_view d, uint64_t& seq, bool& room) {
  // ...],"room":"r","seq":N}  or  ...],"seq":N}
  if (d.size() < 10 || d.back() != '}') return false;
  size_t end = d.size() - 1;
  size_t start = end;
  while (start > 0 && d[start - 1] >= '0' && d[start - 1] <= '9') --start;
  if (start == end) return false;
  constexpr std::string_view kSeqKey = R"(,"seq":)";
  if (start < kSeqKey.size() + 1 || d.substr(start - kSeqKey.size(), kSeqKey.size()) != kSeqKey) return false;
  if (!parse_seq(d.substr(start, end - start), seq)) return false;
  const char before = d[start - kSeqKey.size() - 1];
  if (before != ']' && before != '"') return false;
  room = before == '"';
  return true;
}

bool append_push_chunk(std::string& out, Kind kind, std::string_view message) {
  if (message.size() <= kPushHead.size() + 1 || message.substr(0, kPushHead.size()) != kPushHead ||
      message.back() != '}')
    return false;
  const std::string_view data = message.substr(kPushHead.size(), message.size() - kPushHead.size() - 1);
  uint64_t seq = 0;
  bool room = false;
  if (!push_position(data, seq, room)) return false;
  if (kind == Kind::ndjson) {
    append_chunk_size(out, message.size() + 1);
    append_data_line(out, message);
    out += "\n\r\n";
    return true;
  }
  // id: only for room pushes, which are what a resume replays; a push to everyone, a user or a
  // connection leaves the browser's last event id where the room pushes put it.
  constexpr std::string_view kIdField = "id: ";
  constexpr std::string_view kEventField = "event: push\ndata: ";
  const size_t body =
      (room ? kIdField.size() + decimal_digits(seq) + 1 : 0) + kEventField.size() + data.size() + 2;
  append_chunk_size(out, body);
  if (room) {
    out += kIdField;
    out += std::to_string(seq);
    out += '\n';
  }
  out += kEventField;
  append_data_line(out, data);
  out += "\n\n\r\n";
  return true;
}

void append_message_chunk(std::string& out, Kind kind, std::string_view event, std::string_view type,
                          std::string_view data_json, uint64_t id) {
  std::string message;
  JsonWriter json(message);
  json.begin_object().key("type").string(type).key("data");
  message += data_json;
  message += '}';
  std::string body;
  if (kind == Kind::ndjson) {
    append_data_line(body, message);
    body += '\n';
  } else {
    if (id != kNoId) body += "id: " + std::to_string(id) + "\n";
    body += "event: ";
    body += event;
    body += "\ndata: ";
    append_data_line(body, event == "message" ? std::string_view(message) : data_json);
    body += "\n\n";
  }
  append_chunk(out, body);
}

}  // namespace ringcast::stream
