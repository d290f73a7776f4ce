// libFuzzer target: the client port's request head — http::parse_request with the handshake's limits,
// then the RFC 6455 upgrade check and the answers built from what was parsed. Invariants: the parser
// never reads past the input, a complete head ends inside it, and every answer is well-formed HTTP.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/check.h"
#include "engine/handshake.h"
#include "engine/http.h"

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
