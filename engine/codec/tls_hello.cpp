// The first bytes on a TLS listener (see tls_hello.h).
#include "engine/codec/tls_hello.h"

#include <string>

#include "engine/codec/http.h"

namespace ringcast::tls {
namespace {

constexpr uint8_t kHandshakeRecord = 22;

bool is_token_char(uint8_t ch) {
  return ch >= 'A' && ch <= 'Z';
}

}  // namespace

FirstBytes classify_first_bytes(const uint8_t* data, size_t len) {
  if (len == 0) return FirstBytes::need_more;
  if (data[0] == kHandshakeRecord) {
    // type(1) version(2) length(2). Clients put 3.1 (or 3.0 for the oldest) in the record layer of
    // their first hello whatever they negotiate later.
    if (len < 5) {
      if (len >= 2 && data[1] != 3) return FirstBytes::other;
      return FirstBytes::need_more;
    }
    const size_t body = (static_cast<size_t>(data[3]) << 8) | data[4];
    if (data[1] != 3 || data[2] > 4 || body == 0 || body > kRecordBodyMax) return FirstBytes::other;
    return FirstBytes::handshake;
  }
  // GET, POST, HEAD, OPTIONS, PUT, DELETE, PATCH, CONNECT...: capital letters, then a space.
  size_t i = 0;
  while (i < len && i < 16 && is_token_char(data[i])) ++i;
  if (i == len) return i < 16 ? FirstBytes::need_more : FirstBytes::other;
  return i >= 3 && data[i] == ' ' ? FirstBytes::plaintext_http : FirstBytes::other;
}

const char* plaintext_http_answer() {
  static const std::string answer = [] {
    std::string r;
    http::append_error(r, 400, "plain HTTP sent to a TLS port: use https:// or wss://", false);
    return r;
  }();
  return answer.c_str();
}

}  // namespace ringcast::tls
