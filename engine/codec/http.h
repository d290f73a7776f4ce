// HTTP/1.1 for the push API port: an incremental request parser (Content-Length and chunked bodies,
// keep-alive, pipelining, Expect: 100-continue) and the response writer. Form bodies and query
// strings are decoded by engine/codec/form.h.
// Pure (no I/O): the API connection accumulates bytes and calls parse_request() on them; requests are
// parsed from the front of the buffer one at a time, so pipelined requests are answered in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/codec/json_writer.h"

namespace ringcast::http {

struct Limits {
  size_t head_bytes_max = 8192;     // request line + headers
  size_t body_bytes_max = 1 << 20;  // decoded body
};

enum class Method : uint8_t { get, head, post, put, delete_, options, patch, other };

constexpr size_t kMaxHeaders = 64;

struct Header {
  std::string_view name;
  std::string_view value;  // trimmed
};

// A parsed request. Views point into the caller's buffer, except `body` for a chunked request,
// which points into the scratch string passed to parse_request().
struct Request {
  Method method = Method::other;
  std::string_view method_text;
  std::string_view target;  // as received
  std::string_view path;    // target up to '?', not decoded
  std::string_view query;   // after '?', not decoded
  int version_minor = 1;
  Header headers[kMaxHeaders];
  size_t header_count = 0;
  std::string_view content_type;  // media type only, lower-case compare left to the caller
  std::string_view body;
  bool keep_alive = true;        // HTTP/1.1 default; "Connection: close" or HTTP/1.0 without
                                 // "Connection: keep-alive" clears it
  bool expect_continue = false;  // "Expect: 100-continue"

  std::string_view header(std::string_view name) const;  // case-insensitive, empty when absent
};

enum class ParseStatus : uint8_t {
  incomplete,  // need more bytes (see ParseResult::head_complete for 100-continue)
  complete,    // one whole request; ParseResult::consumed bytes belong to it
  error,       // answer ParseResult::http_status and close the connection
};

struct ParseResult {
  ParseStatus status = ParseStatus::incomplete;
  size_t consumed = 0;         // for complete: bytes of this request (head + body framing)
  bool head_complete = false;  // the head is parsed and valid (for incomplete: the body is still
                               // coming, and the caller answers "100 Continue" once if expected)
  int http_status = 0;         // for error: 400, 411 (body without length on POST is fine as 0 —
                               // see below), 413 (body too large), 431 (head too large),
                               // 501 (unsupported Transfer-Encoding), 505 (not HTTP/1.x)
  std::string_view reason;     // constant text for the JSON error body
};

// Parses one request from the front of `buf`. Rules:
// - CRLF line ends; request line "METHOD SP target SP HTTP/1.x"; header names are tokens; no
//   obsolete line folding; at most kMaxHeaders headers and head_bytes_max bytes of head (431).
// - Body framing: Transfer-Encoding: chunked (decoded into `scratch`; chunk extensions ignored,
//   trailers skipped) takes precedence over Content-Length; any other transfer-coding is 501; both
//   Content-Length values must agree if repeated; a non-numeric Content-Length is 400; no framing
//   means an empty body.
// - A body (declared or decoded) larger than body_bytes_max is 413, reported as soon as the length
//   is known (so a client with Expect: 100-continue is refused before it sends the body).
// - The framing of a chunked body (size lines, extensions, trailers) may take at most head_bytes_max
//   bytes (413 beyond), so a complete request never spans more than
//   request_bytes_max(limits) bytes: the caller can size its receive buffer from that.
ParseResult parse_request(std::string_view buf, const Limits& limits, Request& req, std::string& scratch);

constexpr size_t request_bytes_max(const Limits& limits) {
  return 2 * limits.head_bytes_max + limits.body_bytes_max;
}

// Appends a whole response to `out`: status line, Content-Type (when body non-empty or content_type
// given), Content-Length, "Connection: close" when !keep_alive, extra_headers verbatim (each ending in
// CRLF), blank line, body.
void append_response(std::string& out, int status, std::string_view content_type, std::string_view body,
                     bool keep_alive, std::string_view extra_headers = {});

// Appends {"error":"<reason>"} as a response with that status (Content-Type: application/json): how
// the push API, the demo and a refused upgrade all answer an error.
void append_error(std::string& out, int status, std::string_view reason, bool keep_alive,
                  std::string_view extra_headers = {});

// 405 {"error":"method not allowed"} with "Allow: <allow>" (RFC 9110 15.5.6 requires the header),
// e.g. allow "GET, HEAD".
void append_method_not_allowed(std::string& out, std::string_view allow, bool keep_alive);

// The challenge a 401 carries (RFC 6750 section 3), for a missing api_token or connect token.
constexpr std::string_view kBearerChallenge = "WWW-Authenticate: Bearer realm=\"ringcast\"\r\n";

// The interim answer to "Expect: 100-continue", sent once when ParseResult::head_complete is first seen.
constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

// ASCII case-insensitive equality (header names, tokens).
bool ascii_iequals(std::string_view a, std::string_view b);

// True when some `name` header (all of them are looked at) holds `token` as an element of its
// comma-separated list, compared case-insensitively: Connection, Upgrade, Transfer-Encoding.
bool header_has_token(const Request& req, std::string_view name, std::string_view token);

std::string_view status_text(int status);

}  // namespace ringcast::http
