// The HTTP/1.1 side of the client port: checks the RFC 6455 upgrade on a request head parsed by
// http::parse_request (the same parser as the API port) and builds the 101 answer or a JSON error.
// Pure (no I/O).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/codec/http.h"

namespace ringcast::handshake {

struct UpgradeCheck {
  bool ok = false;
  int http_status = 0;      // 405 (method), 426 (no upgrade / wrong version), 400 (bad key, no Host,
                            // HTTP/1.0)
  std::string_view reason;  // constant text for the JSON error body
  std::string_view key;     // Sec-WebSocket-Key, when ok
};

// Checks the RFC 6455 section 4.2.1 rules on a parsed request (the path is the caller's business):
// GET; HTTP/1.1 or later; Host present; Upgrade contains the token "websocket" (case-insensitive,
// comma list); Connection contains the token "upgrade" (case-insensitive, comma list);
// Sec-WebSocket-Key is base64 of exactly 16 bytes; Sec-WebSocket-Version is 13 (otherwise 426, and
// the answer must carry "Sec-WebSocket-Version: 13").
UpgradeCheck check_upgrade(const http::Request& req);

// Sec-WebSocket-Accept for a key: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string accept_key(std::string_view key);

// "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection and Sec-WebSocket-Accept, and
// `extra_headers` verbatim (each line ending in CRLF: the agreed Sec-WebSocket-Extensions).
std::string build_switching_protocols(std::string_view key, std::string_view extra_headers = {});

// An error answer that closes the connection: http::append_error plus "Sec-WebSocket-Version: 13"
// and "Upgrade: websocket" for 426, "Allow: GET" for 405, "WWW-Authenticate: Bearer" for 401.
std::string build_error_response(int http_status, std::string_view reason);

}  // namespace ringcast::handshake
