// SHA-1 (RFC 3174), needed only for Sec-WebSocket-Accept in the upgrade handshake. Pure.
// The incremental form lets the handshake hash "key + GUID" without building the concatenation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringcast {

std::array<uint8_t, 20> sha1(std::string_view data);

class Sha1 {
 public:
  void update(std::string_view data);
  std::array<uint8_t, 20> finish();  // the object is spent afterwards

 private:
  void compress(const uint8_t block[64]);

  uint32_t state_[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  uint64_t total_bytes_ = 0;
  uint8_t block_[64];
  size_t block_len_ = 0;
};

}  // namespace ringcast
