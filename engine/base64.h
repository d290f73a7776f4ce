// Base64 (RFC 4648, standard alphabet with padding): the handshake key and accept value. Pure.
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

}  // namespace ringcast
