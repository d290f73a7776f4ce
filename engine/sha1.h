// SHA-1 (RFC 3174), needed only for Sec-WebSocket-Accept in the upgrade handshake. Pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringcast {

std::array<uint8_t, 20> sha1(std::string_view data);

}  // namespace ringcast
