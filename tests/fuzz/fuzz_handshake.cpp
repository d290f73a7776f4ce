// libFuzzer target: the client port's request head — http::parse_request with the handshake's limits,
// then the RFC 6455 upgrade check, the access checks (connect token from the query or the
// Authorization header, verified; the Origin allowlist) and the answers built from what was parsed.
// Invariants: the parser never reads past the input, a complete head ends inside it, every answer is
// well-formed HTTP, and no token made up by the input verifies.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/conn/access.h"
#include "engine/base/check.h"
#include "engine/codec/handshake.h"
#include "engine/codec/http.h"
#include "engine/codec/token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ringcast::http::Request req;
  ringcast::http::Limits limits;
  limits.head_bytes_max = 8192;
  limits.body_bytes_max = 0;
  std::string scratch;
  const auto res = ringcast::http::parse_request(input, limits, req, scratch);
  if (res.status == ringcast::http::ParseStatus::error) {
    RC_ASSERT(res.http_status >= 400 && res.http_status < 600);
    const std::string answer = ringcast::handshake::build_error_response(res.http_status, res.reason);
    RC_ASSERT(answer.rfind("HTTP/1.1 ", 0) == 0 && answer.find("\r\n\r\n") != std::string::npos);
    return 0;
  }
  if (res.status != ringcast::http::ParseStatus::complete) return 0;
  RC_ASSERT(res.consumed <= size);
  std::string storage;
  bool malformed = false;
  const std::string_view token = ringcast::connect_token(req, storage, malformed);
  if (!token.empty()) {
    ringcast::TokenGrant grant;
    const auto e = ringcast::verify_token(token, "fuzz-secret-0123456789abcdef0123456789", 1700000000, grant);
    RC_ASSERT(e != ringcast::TokenError::none);  // nobody can sign without the secret
  }
  static const std::vector<std::string> allowed = {"https://example.com", "https://*.example.org:8443", "null"};
  (void)ringcast::origin_allowed(req.header("origin"), allowed);
  (void)ringcast::bearer_credentials(req.header("authorization"));
  const auto check = ringcast::handshake::check_upgrade(req);
  if (check.ok) {
    RC_ASSERT(check.key.size() == 24);
    const std::string answer = ringcast::handshake::build_switching_protocols(check.key);
    RC_ASSERT(answer.find("Sec-WebSocket-Accept: ") != std::string::npos);
  } else {
    const std::string answer = ringcast::handshake::build_error_response(check.http_status, check.reason);
    RC_ASSERT(answer.rfind("HTTP/1.1 ", 0) == 0);
  }
  return 0;
}
