// SHA-1 (RFC 3174) for the WebSocket accept key: a plain, portable implementation. It runs once per
// handshake on ~60 bytes, so clarity wins over SIMD or SHA-NI.
#include "engine/codec/sha1.h"

#include <cstring>

#include "engine/base/check.h"

namespace ringcast {

namespace {

constexpr uint32_t rotl(uint32_t x, int n) {
  return (x << n) | (x >> (32 - n));
}

}  // namespace

void Sha1::compress(const uint8_t block[64]) {
  uint32_t w[80];
  for (int t = 0; t < 16; ++t) {
    w[t] = uint32_t{block[4 * t]} << 24 | uint32_t{block[4 * t + 1]} << 16 | uint32_t{block[4 * t + 2]} << 8 |
           uint32_t{block[4 * t + 3]};
  }
  for (int t = 16; t < 80; ++t) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

  uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3], e = state_[4];
  // Four loops of 20 rounds rather than one loop choosing f and k per round: no branch in the rounds.
  auto round = [&](uint32_t f, uint32_t k, uint32_t w_t) {
    const uint32_t temp = rotl(a, 5) + f + e + w_t + k;
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = temp;
  };
  for (int t = 0; t < 20; ++t) round((b & c) | (~b & d), 0x5A827999u, w[t]);
  for (int t = 20; t < 40; ++t) round(b ^ c ^ d, 0x6ED9EBA1u, w[t]);
  for (int t = 40; t < 60; ++t) round((b & c) | (b & d) | (c & d), 0x8F1BBCDCu, w[t]);
  for (int t = 60; t < 80; ++t) round(b ^ c ^ d, 0xCA62C1D6u, w[t]);
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
  state_[4] += e;
}

void Sha1::update(std::string_view data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  total_bytes_ += n;
  if (block_len_ > 0) {
    const size_t take = n < 64 - block_len_ ? n : 64 - block_len_;
    std::memcpy(block_ + block_len_, p, take);
    block_len_ += take;
    p += take;
    n -= take;
    if (block_len_ < 64) return;
    compress(block_);
    block_len_ = 0;
  }
  for (; n >= 64; p += 64, n -= 64) compress(p);
  if (n > 0) std::memcpy(block_, p, n);
  block_len_ = n;
}

std::array<uint8_t, 20> Sha1::finish() {
  RC_ASSERT(block_len_ < 64);
  const uint64_t total_bits = total_bytes_ * 8;
  block_[block_len_++] = 0x80;
  // The 64-bit length must fit after the padding; if it does not, pad out this block and use another.
  if (block_len_ > 56) {
    std::memset(block_ + block_len_, 0, 64 - block_len_);
    compress(block_);
    block_len_ = 0;
  }
  std::memset(block_ + block_len_, 0, 56 - block_len_);
  for (int i = 0; i < 8; ++i) block_[56 + i] = static_cast<uint8_t>(total_bits >> (56 - 8 * i));
  compress(block_);
  block_len_ = 0;

  std::array<uint8_t, 20> digest;
  for (int i = 0; i < 5; ++i) {
    digest[4 * i] = static_cast<uint8_t>(state_[i] >> 24);
    digest[4 * i + 1] = static_cast<uint8_t>(state_[i] >> 16);
    digest[4 * i + 2] = static_cast<uint8_t>(state_[i] >> 8);
    digest[4 * i + 3] = static_cast<uint8_t>(state_[i]);
  }
  return digest;
}

std::array<uint8_t, 20> sha1(std::string_view data) {
  Sha1 h;
  h.update(data);
  return h.finish();
}

}  // namespace ringcast
