// The WebSocket upgrade (RFC 6455 section 4.2): the client connection parses the request head with
// http::parse_request, asks check_upgrade() whether it is a valid opening handshake, and sends either
// build_switching_protocols() and switches to frames, or build_error_response() and closes.
#include "engine/codec/handshake.h"

#include <array>

#include "engine/codec/base64.h"
#include "engine/codec/sha1.h"

namespace ringcast::handshake {

namespace {

constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr size_t kKeyBytes = 16;  // RFC 6455 4.1: a random 16-byte nonce

UpgradeCheck refuse(int status, std::string_view reason) {
  UpgradeCheck c;
  c.http_status = status;
  c.reason = reason;
  return c;
}

// How many header lines carry `name`: RFC 6455 11.3 allows the key and version headers only once.
size_t count_headers(const http::Request& req, std::string_view name) {
  size_t n = 0;
  for (size_t i = 0; i < req.header_count; ++i) n += http::ascii_iequals(req.headers[i].name, name) ? 1 : 0;
  return n;
}

}  // namespace

UpgradeCheck check_upgrade(const http::Request& req) {
  if (req.method != http::Method::get) return refuse(405, "WebSocket upgrade requires GET");
  if (req.version_minor < 1) return refuse(400, "WebSocket upgrade requires HTTP/1.1");
  if (req.header("host").empty()) return refuse(400, "missing Host");
  if (!http::header_has_token(req, "upgrade", "websocket")) return refuse(426, "missing Upgrade: websocket");
  if (!http::header_has_token(req, "connection", "upgrade"))
    return refuse(400, "missing Connection: Upgrade");

  // An empty header counts as missing, as for Host.
  const std::string_view key = req.header("sec-websocket-key");
  if (key.empty()) return refuse(400, "missing Sec-WebSocket-Key");
  if (count_headers(req, "sec-websocket-key") > 1) return refuse(400, "repeated Sec-WebSocket-Key");
  std::array<uint8_t, base64_decoded_bytes_max(24)> nonce;
  size_t nonce_bytes = 0;
  if (!base64_decode(key, nonce, nonce_bytes) || nonce_bytes != kKeyBytes) {
    return refuse(400, "invalid Sec-WebSocket-Key");
  }

  // Only version 13 exists; anything else (or a repeated header) gets 426 and the version we speak.
  if (count_headers(req, "sec-websocket-version") != 1 || req.header("sec-websocket-version") != "13") {
    return refuse(426, "unsupported Sec-WebSocket-Version");
  }

  UpgradeCheck c;
  c.ok = true;
  c.key = key;
  return c;
}

std::string accept_key(std::string_view key) {
  Sha1 h;
  h.update(key);
  h.update(kAcceptGuid);
  const std::array<uint8_t, 20> digest = h.finish();
  return base64_encode(digest);
}

std::string build_switching_protocols(std::string_view key, std::string_view extra_headers) {
  constexpr std::string_view kHead =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  std::string out;
  out.reserve(kHead.size() + 28 + 4 + extra_headers.size());
  out.append(kHead);
  out.append(accept_key(key));
  out.append("\r\n");
  out.append(extra_headers);
  out.append("\r\n");
  return out;
}

std::string build_error_response(int http_status, std::string_view reason) {
  std::string_view extra;
  if (http_status == 426) extra = "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n";
  if (http_status == 405) extra = "Allow: GET\r\n";
  if (http_status == 401) extra = http::kBearerChallenge;
  std::string out;
  http::append_error(out, http_status, reason, /*keep_alive=*/false, extra);
  return out;
}

}  // namespace ringcast::handshake
