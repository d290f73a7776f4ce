// Base64 (RFC 4648 section 4) for the WebSocket handshake: encoding the accept value and checking that
// a client's key is 16 bytes. Decoding is strict (canonical form only) because a key that is not
// canonical base64 is a broken client, not something to be lenient about.
#include "engine/codec/base64.h"

#include <array>

namespace ringcast {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint8_t kInvalid = 0xFF;

constexpr std::array<uint8_t, 256> make_decode_table() {
  std::array<uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) table[static_cast<uint8_t>(kAlphabet[i])] = i;
  return table;
}

constexpr std::array<uint8_t, 256> kDecode = make_decode_table();

}  // namespace

std::string base64_encode(std::span<const uint8_t> bytes) {
  std::string out;
  out.resize((bytes.size() + 2) / 3 * 4);
  char* o = out.data();
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = uint32_t{bytes[i]} << 16 | uint32_t{bytes[i + 1]} << 8 | bytes[i + 2];
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
    *o++ = kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    const uint32_t v = uint32_t{bytes[i]} << 16 | (rest == 2 ? uint32_t{bytes[i + 1]} << 8 : 0);
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  return out;
}

bool base64_decode(std::string_view text, std::span<uint8_t> out, size_t& decoded_bytes) {
  decoded_bytes = 0;
  if (text.size() % 4 != 0) return false;
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  const size_t total = text.size() / 4 * 3 - padding;
  if (total > out.size()) return false;

  size_t o = 0;
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const size_t pad_here = last ? padding : 0;
    uint32_t v = 0;
    for (size_t j = 0; j < 4; ++j) {
      if (j >= 4 - pad_here) {
        v <<= 6;
        continue;
      }
      // '=' anywhere but the padding positions lands here and is rejected by the table.
      const uint8_t d = kDecode[static_cast<uint8_t>(text[i + j])];
      if (d == kInvalid) return false;
      v = v << 6 | d;
    }
    // Canonical form: the bits below the last encoded byte must be zero, so every byte string has
    // exactly one accepted encoding.
    if (pad_here == 1 && (v & 0xFF) != 0) return false;
    if (pad_here == 2 && (v & 0xFFFF) != 0) return false;
    out[o++] = static_cast<uint8_t>(v >> 16);
    if (pad_here < 2) out[o++] = static_cast<uint8_t>(v >> 8);
    if (pad_here < 1) out[o++] = static_cast<uint8_t>(v);
  }
  decoded_bytes = o;
  return true;
}

bool base64_decode(std::string_view text, std::string& out) {
  out.resize(base64_decoded_bytes_max(text.size()));
  size_t n = 0;
  const bool ok =
      base64_decode(text, std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size()), n);
  out.resize(n);
  return ok;
}

}  // namespace ringcast
