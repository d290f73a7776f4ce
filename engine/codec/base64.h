// Base64 (RFC 4648): the standard alphabet with padding for the handshake key and accept value
// (section 4), and base64url without padding (section 5) for connect tokens (JWT) and the cluster's
// room subjects. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringcast {

std::string base64_encode(std::span<const uint8_t> bytes);

// Decodes canonical padded base64 into out; false on any invalid character, bad padding or length.
bool base64_decode(std::string_view text, std::string& out);

// The same into a caller's buffer (no allocation); false also when `out` is too small.
// On success `decoded_bytes` is the number of bytes written.
bool base64_decode(std::string_view text, std::span<uint8_t> out, size_t& decoded_bytes);

// Bytes that decoding `text_bytes` characters of padded base64 can yield at most.
constexpr size_t base64_decoded_bytes_max(size_t text_bytes) {
  return text_bytes / 4 * 3;
}

// base64url without padding, appended to `out` (no allocation beyond growing it).
void base64url_append(std::string& out, std::string_view bytes);
std::string base64url_encode(std::string_view bytes);

// Decodes unpadded base64url into `out`; false on any character outside the alphabet (padding
// included), an impossible length, or non-zero bits after the last byte (not canonical).
bool base64url_decode(std::string_view text, std::string& out);

}  // namespace ringcast
