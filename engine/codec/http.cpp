// HTTP/1.1 request parsing and response writing for both ports: the API connection and the WebSocket
// upgrade feed it the bytes received so far and get one request (views into those bytes) or a status.
// Pure and stateless: an incomplete request is parsed again from the start when more bytes arrive,
// which costs little because heads are small and a chunked body is only copied once it is complete.
#include "engine/codec/http.h"

#include <array>
#include <charconv>
#include <cstring>

#include "engine/base/check.h"
#include "engine/codec/form.h"

namespace ringcast::http {

namespace {

// Character classes of RFC 9110 section 5.6.2 (tchar) and 5.5 (field-vchar, obs-text).
constexpr std::array<bool, 256> make_token_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<uint8_t>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTokenChar = make_token_table();

// A field value may hold visible ASCII, SP, HTAB and obs-text; every other control (NUL, a bare CR or
// LF, DEL) is a smuggling or injection vector and rejects the request.
constexpr std::array<bool, 256> make_value_table() {
  std::array<bool, 256> t{};
  t['\t'] = true;
  for (int c = 0x20; c < 0x7F; ++c) t[c] = true;
  for (int c = 0x80; c < 0x100; ++c) t[c] = true;
  return t;
}
constexpr std::array<bool, 256> kValueChar = make_value_table();

constexpr bool is_target_char(uint8_t c) {
  return c > 0x20 && c < 0x7F;
}
constexpr bool is_ows(char c) {
  return c == ' ' || c == '\t';
}
constexpr char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTokenChar[static_cast<uint8_t>(c)]) return false;
  }
  return true;
}

// Calls fn(element) for each non-empty, trimmed element of a comma-separated list (RFC 9110 5.6.1
// allows empty elements, which are skipped). Stops early when fn returns true; returns that.
template <class Fn>
bool for_each_element(std::string_view list, Fn&& fn) {
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && fn(element)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

// An error result: the head's ParseResult, or (below) a chunked body's ChunkedScan.
template <class Result = ParseResult>
Result fail(int status, std::string_view reason) {
  Result r;
  r.status = ParseStatus::error;
  r.http_status = status;
  r.reason = reason;
  return r;
}

Method method_from(std::string_view m) {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::get;
      if (m == "PUT") return Method::put;
      break;
    case 4:
      if (m == "HEAD") return Method::head;
      if (m == "POST") return Method::post;
      break;
    case 5:
      if (m == "PATCH") return Method::patch;
      break;
    case 6:
      if (m == "DELETE") return Method::delete_;
      break;
    case 7:
      if (m == "OPTIONS") return Method::options;
      break;
  }
  return Method::other;
}

// "METHOD SP target SP HTTP/1.x" (the line without its CRLF). Returns 0 or an error status.
int parse_request_line(std::string_view line, Request& req, std::string_view& reason) {
  reason = "malformed request line";
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return 400;
  const std::string_view method = line.substr(0, sp1);
  if (!is_token(method)) return 400;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return 400;
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (target.empty()) return 400;
  for (char c : target) {
    if (!is_target_char(static_cast<uint8_t>(c))) return 400;
  }
  const std::string_view version = line.substr(sp2 + 1);
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (version.size() < 6 || version.substr(0, 5) != "HTTP/" || !digit(version[5])) {
    reason = "malformed HTTP version";
    return 400;
  }
  const bool dotted = version.size() == 8 && version[6] == '.' && digit(version[7]);
  // "HTTP/2" and "HTTP/3" are how later versions name themselves; answer them "not supported"
  // rather than "malformed".
  const bool bare_major = version.size() == 6;
  if (!dotted && !bare_major) {
    reason = "malformed HTTP version";
    return 400;
  }
  if (bare_major && version[5] == '1') {
    reason = "malformed HTTP version";
    return 400;
  }
  if (version[5] != '1') {
    reason = "HTTP version not supported";
    return 505;
  }
  req.method_text = method;
  req.method = method_from(method);
  req.target = target;
  const size_t q = target.find('?');
  req.path = target.substr(0, q);
  req.query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  req.version_minor = version[7] - '0';
  return 0;
}

// "name: value" (the line without its CRLF), as in headers and chunked trailers. Returns 0 or 400.
int parse_field_line(std::string_view line, Header& out, std::string_view& reason) {
  if (is_ows(line.front())) {
    // Obsolete line folding (RFC 9112 5.2) is rejected: the folded value would be read differently
    // by a proxy in front of us.
    reason = "obsolete header line folding";
    return 400;
  }
  size_t colon = 0;
  while (colon < line.size() && kTokenChar[static_cast<uint8_t>(line[colon])]) ++colon;
  // No whitespace between name and colon (RFC 9112 5.1): it is another smuggling vector.
  if (colon == 0 || colon == line.size() || line[colon] != ':') {
    reason = "malformed header line";
    return 400;
  }
  const std::string_view value = line.substr(colon + 1);
  for (char c : value) {
    if (!kValueChar[static_cast<uint8_t>(c)]) {
      reason = "invalid character in header value";
      return 400;
    }
  }
  out.name = line.substr(0, colon);
  out.value = trim_ows(value);
  return 0;
}

// Finds the next line in buf[pos, end): sets `line` (without CRLF) and `next` (after the LF).
// Returns 1 for a line, 0 when no LF has arrived yet, -1 for an LF without its CR.
int next_line(std::string_view buf, size_t pos, size_t end, std::string_view& line, size_t& next) {
  if (pos >= end) return 0;  // also keeps a null data() of an empty buffer away from memchr
  const void* lf = std::memchr(buf.data() + pos, '\n', end - pos);
  if (lf == nullptr) return 0;
  const size_t lf_pos = static_cast<size_t>(static_cast<const char*>(lf) - buf.data());
  if (lf_pos == pos || buf[lf_pos - 1] != '\r') return -1;
  line = buf.substr(pos, lf_pos - 1 - pos);
  next = lf_pos + 1;
  return 1;
}

// Strict 1*DIGIT into a uint64_t; false on anything else or on overflow.
bool parse_decimal(std::string_view s, uint64_t& value) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc() && end == s.data() + s.size();
}

struct ChunkedScan {
  ParseStatus status = ParseStatus::incomplete;
  size_t wire_bytes = 0;  // for complete: bytes of the chunked body including trailers
  size_t data_bytes = 0;  // decoded bytes seen so far
  int http_status = 0;
  std::string_view reason;
};

ChunkedScan chunked_fail(int status, std::string_view reason) {
  return fail<ChunkedScan>(status, reason);
}

// Walks a chunked body (RFC 9112 section 7.1) in `body`, validating as far as the bytes go. With
// `out` it also appends the chunk data; the caller does that only once the body is known complete,
// so a body that trickles in is scanned repeatedly but copied once.
ChunkedScan scan_chunked(std::string_view body, const Limits& limits, std::string* out) {
  constexpr std::string_view kFramingTooLarge = "chunked framing too large";
  constexpr std::string_view kBodyTooLarge = "body too large";
  constexpr std::string_view kBadChunk = "malformed chunked body";
  ChunkedScan scan;
  size_t pos = 0;
  size_t framing_bytes = 0;  // everything but chunk data: bounded by head_bytes_max

  while (true) {
    // chunk-size [chunk-ext] CRLF. An unterminated line is still checked as far as it goes so a
    // garbage body fails now rather than when the buffer fills.
    const void* lf = pos < body.size() ? std::memchr(body.data() + pos, '\n', body.size() - pos) : nullptr;
    const size_t line_end =
        lf == nullptr ? body.size() : static_cast<size_t>(static_cast<const char*>(lf) - body.data());
    std::string_view line = body.substr(pos, line_end - pos);
    if (framing_bytes + line.size() > limits.head_bytes_max) return chunked_fail(413, kFramingTooLarge);
    if (lf != nullptr) {
      if (line.empty() || line.back() != '\r') return chunked_fail(400, kBadChunk);
      line.remove_suffix(1);
    } else if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);  // the LF is still on its way
    }
    uint64_t size = 0;
    size_t i = 0;
    for (; i < line.size(); ++i) {
      const int h = form::hex_digit_value(line[i]);
      if (h < 0) break;
      if (size > (UINT64_MAX >> 4)) return chunked_fail(400, kBadChunk);
      size = size << 4 | static_cast<uint64_t>(h);
      if (size > limits.body_bytes_max - scan.data_bytes) return chunked_fail(413, kBodyTooLarge);
    }
    if (i == 0 && (lf != nullptr || !line.empty())) return chunked_fail(400, kBadChunk);
    // Extensions are ignored, but what follows the size must look like one: BWS ";" ...
    size_t j = i;
    while (j < line.size() && is_ows(line[j])) ++j;
    if (j < line.size() && line[j] != ';') return chunked_fail(400, kBadChunk);
    if (j == line.size() && j > i && lf != nullptr)
      return chunked_fail(400, kBadChunk);  // BWS only before ';'
    for (; j < line.size(); ++j) {
      if (!kValueChar[static_cast<uint8_t>(line[j])]) return chunked_fail(400, kBadChunk);
    }
    if (lf == nullptr) return scan;
    framing_bytes += line_end + 1 - pos;
    pos = line_end + 1;

    if (size == 0) break;

    // chunk-data CRLF
    const size_t available = body.size() - pos;
    if (available < size + 2) {
      if (available > size && body[pos + size] != '\r') return chunked_fail(400, kBadChunk);
      scan.data_bytes += available < size ? available : size;
      return scan;
    }
    if (body[pos + size] != '\r' || body[pos + size + 1] != '\n') return chunked_fail(400, kBadChunk);
    if (out != nullptr) out->append(body.substr(pos, size));
    scan.data_bytes += size;
    pos += size + 2;
    framing_bytes += 2;
    if (framing_bytes > limits.head_bytes_max) return chunked_fail(413, kFramingTooLarge);
  }

  // trailer-section CRLF: trailer fields are validated like headers, then dropped.
  while (true) {
    std::string_view line;
    size_t next = 0;
    const int got = next_line(body, pos, body.size(), line, next);
    if (got < 0) return chunked_fail(400, kBadChunk);
    if (framing_bytes + (got == 0 ? body.size() : next) - pos > limits.head_bytes_max) {
      return chunked_fail(413, kFramingTooLarge);
    }
    if (got == 0) return scan;
    framing_bytes += next - pos;
    pos = next;
    if (line.empty()) break;
    Header ignored;
    std::string_view reason;
    if (parse_field_line(line, ignored, reason) != 0) return chunked_fail(400, "malformed trailer");
  }
  scan.status = ParseStatus::complete;
  scan.wire_bytes = pos;
  return scan;
}

void reset(Request& req) {
  req.method = Method::other;
  req.method_text = {};
  req.target = {};
  req.path = {};
  req.query = {};
  req.version_minor = 1;
  req.header_count = 0;
  req.content_type = {};
  req.body = {};
  req.keep_alive = true;
  req.expect_continue = false;
}

void append_number(std::string& out, uint64_t n) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  RC_ASSERT(ec == std::errc());
  out.append(digits, static_cast<size_t>(end - digits));
}

// Status line and headers of a response whose body has body_bytes bytes, up to the blank line.
void append_head(std::string& out, int status, std::string_view content_type, size_t body_bytes,
                 bool keep_alive, std::string_view extra_headers) {
  RC_ASSERT(status >= 100 && status <= 999);
  // RFC 9110 8.6: no Content-Length on 1xx and 204, which never have a body; every other answer
  // carries one so the client can tell where it ends on a kept-alive connection.
  const bool bodiless = status < 200 || status == 204;
  RC_ASSERT(!bodiless || body_bytes == 0);
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<uint64_t>(status));
  out.push_back(' ');
  out.append(status_text(status));
  out.append("\r\n");
  if (!content_type.empty() || body_bytes > 0) {
    out.append("Content-Type: ");
    out.append(content_type.empty() ? std::string_view("application/octet-stream") : content_type);
    out.append("\r\n");
  }
  if (!bodiless) {
    out.append("Content-Length: ");
    append_number(out, body_bytes);
    out.append("\r\n");
  }
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append(extra_headers);
  out.append("\r\n");
}

}  // namespace

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view Request::header(std::string_view name) const {
  for (size_t i = 0; i < header_count; ++i) {
    if (ascii_iequals(headers[i].name, name)) return headers[i].value;
  }
  return {};
}

bool header_has_token(const Request& req, std::string_view name, std::string_view token) {
  for (size_t i = 0; i < req.header_count; ++i) {
    if (!ascii_iequals(req.headers[i].name, name)) continue;
    if (for_each_element(req.headers[i].value, [&](std::string_view e) { return ascii_iequals(e, token); })) {
      return true;
    }
  }
  return false;
}

ParseResult parse_request(std::string_view buf, const Limits& limits, Request& req, std::string& scratch) {
  RC_ASSERT(limits.head_bytes_max > 0);
  reset(req);

  // The head: only its first head_bytes_max bytes are ever looked at, so a client that never sends
  // the blank line costs a bounded amount of scanning.
  const size_t head_end_max = buf.size() < limits.head_bytes_max ? buf.size() : limits.head_bytes_max;
  size_t pos = 0;
  bool have_request_line = false;
  size_t head_bytes = 0;
  while (head_bytes == 0) {
    std::string_view line;
    size_t next = 0;
    const int got = next_line(buf, pos, head_end_max, line, next);
    if (got < 0) return fail(400, "line not ending in CRLF");
    if (got == 0) {
      if (buf.size() >= limits.head_bytes_max) return fail(431, "request head too large");
      return ParseResult{};
    }
    pos = next;
    std::string_view reason;
    if (!have_request_line) {
      // RFC 9112 2.2: empty lines before the request line are ignored (some clients send a CRLF
      // after a POST body).
      if (line.empty()) continue;
      if (const int status = parse_request_line(line, req, reason); status != 0) return fail(status, reason);
      have_request_line = true;
    } else if (line.empty()) {
      head_bytes = pos;
    } else {
      if (req.header_count == kMaxHeaders) return fail(431, "too many headers");
      if (parse_field_line(line, req.headers[req.header_count], reason) != 0) return fail(400, reason);
      ++req.header_count;
    }
  }

  // Framing and connection semantics, from all header lines (repeated headers are combined).
  bool transfer_encoding = false;
  bool chunked = false;
  bool content_length_seen = false;
  uint64_t content_length = 0;
  bool connection_close = false;
  bool connection_keep_alive = false;
  for (size_t i = 0; i < req.header_count; ++i) {
    const Header& h = req.headers[i];
    if (ascii_iequals(h.name, "transfer-encoding")) {
      transfer_encoding = true;
      bool unsupported = false;
      bool repeated_chunked = false;
      for_each_element(h.value, [&](std::string_view coding) {
        if (!ascii_iequals(coding, "chunked")) {
          unsupported = true;
        } else if (chunked) {
          repeated_chunked = true;
        }
        chunked = true;
        return false;
      });
      if (unsupported) return fail(501, "unsupported transfer-encoding");
      if (repeated_chunked) return fail(400, "chunked applied twice");
    } else if (ascii_iequals(h.name, "content-length")) {
      uint64_t n = 0;
      if (!parse_decimal(h.value, n)) return fail(400, "invalid content-length");
      if (content_length_seen && n != content_length) return fail(400, "conflicting content-length");
      content_length_seen = true;
      content_length = n;
    } else if (ascii_iequals(h.name, "connection")) {
      for_each_element(h.value, [&](std::string_view option) {
        if (ascii_iequals(option, "close")) connection_close = true;
        if (ascii_iequals(option, "keep-alive")) connection_keep_alive = true;
        return false;
      });
    } else if (ascii_iequals(h.name, "expect")) {
      // RFC 9110 10.1.1: a server ignores 100-continue from an HTTP/1.0 client.
      if (ascii_iequals(h.value, "100-continue") && req.version_minor >= 1) req.expect_continue = true;
    } else if (ascii_iequals(h.name, "content-type") && req.content_type.empty()) {
      req.content_type = trim_ows(h.value.substr(0, h.value.find(';')));
    }
  }
  if (transfer_encoding && !chunked) return fail(400, "empty transfer-encoding");
  // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request means the framing cannot be trusted.
  if (transfer_encoding && req.version_minor == 0) return fail(400, "transfer-encoding in HTTP/1.0");
  req.keep_alive = req.version_minor >= 1 ? !connection_close : connection_keep_alive && !connection_close;
  // RFC 9112 6.1: with both framings a proxy on the way may have read a different body; answer this
  // request but do not trust the connection for another.
  if (chunked && content_length_seen) req.keep_alive = false;

  ParseResult result;
  result.head_complete = true;
  const std::string_view body = buf.substr(head_bytes);
  if (chunked) {
    const ChunkedScan scan = scan_chunked(body, limits, nullptr);
    if (scan.status == ParseStatus::error) return fail(scan.http_status, scan.reason);
    if (scan.status == ParseStatus::incomplete) return result;
    scratch.clear();
    scratch.reserve(scan.data_bytes);
    const ChunkedScan copied = scan_chunked(body, limits, &scratch);
    RC_ASSERT(copied.status == ParseStatus::complete && scratch.size() == scan.data_bytes);
    req.body = scratch;
    result.status = ParseStatus::complete;
    result.consumed = head_bytes + scan.wire_bytes;
    return result;
  }
  if (content_length > limits.body_bytes_max) return fail(413, "body too large");
  if (body.size() < content_length) return result;
  req.body = body.substr(0, content_length);
  result.status = ParseStatus::complete;
  result.consumed = head_bytes + content_length;
  return result;
}

std::string_view status_text(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";  // the reason phrase is optional (RFC 9112 4)
  }
}

void append_response(std::string& out, int status, std::string_view content_type, std::string_view body,
                     bool keep_alive, std::string_view extra_headers) {
  append_head(out, status, content_type, body.size(), keep_alive, extra_headers);
  out.append(body);
}

void append_error(std::string& out, int status, std::string_view reason, bool keep_alive,
                  std::string_view extra_headers) {
  std::string body;
  JsonWriter(body).begin_object().key("error").string(reason).end_object();
  append_response(out, status, "application/json", body, keep_alive, extra_headers);
}

void append_method_not_allowed(std::string& out, std::string_view allow, bool keep_alive) {
  std::string header = "Allow: ";
  header.append(allow);
  header.append("\r\n");
  append_error(out, 405, "method not allowed", keep_alive, header);
}

}  // namespace ringcast::http
