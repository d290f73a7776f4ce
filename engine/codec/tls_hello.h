// What the first bytes on a TLS listener are, before OpenSSL sees them: a TLS handshake record (the
// ClientHello's), a plain HTTP request sent to the TLS port (answered with a clear 400 in plain HTTP,
// since such a client cannot read anything else), or neither (left to OpenSSL, which refuses it).
// Pure: bytes in, a verdict out; unit-tested and fuzzed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast::tls {

enum class FirstBytes : uint8_t {
  need_more,       // fewer bytes than a verdict needs
  handshake,       // a TLS handshake record header (content type 22, version 3.x, a sane length)
  plaintext_http,  // an HTTP method and a space: a client speaking http:// or ws:// to the TLS port
  other,           // anything else: OpenSSL decides (and refuses)
};

// The largest TLS record body (RFC 8446 5.1: 2^14 bytes of plaintext; a ClientHello is never
// encrypted, so no expansion).
constexpr size_t kRecordBodyMax = 16384;

FirstBytes classify_first_bytes(const uint8_t* data, size_t len);

// The answer to plain HTTP on a TLS port (nginx answers 400 too): the client learns what to change.
const char* plaintext_http_answer();

}  // namespace ringcast::tls
