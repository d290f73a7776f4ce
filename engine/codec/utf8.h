// UTF-8 validation for text messages and close reasons, backed by simdjson's SIMD validator.
// Pure: bytes in, verdict out.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast {

// True when [data, data+len) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool utf8_valid(const uint8_t* data, size_t len);

}  // namespace ringcast
