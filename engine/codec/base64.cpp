// Base64 (RFC 4648 section 4) for the WebSocket handshake: encoding the accept value and checking that
// a client's key is 16 bytes. Decoding is strict (canonical form only) because a key that is not
// canonical base64 is a broken client, not something to be lenient about.
#include "engine/codec/base64.h"

#include <array>

namespace ringcast {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xFF;

constexpr std::array<uint8_t, 256> make_decode_table(const char (&alphabet)[65]) {
  std::array<uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) table[static_cast<uint8_t>(alphabet[i])] = i;
  return table;
}

constexpr std::array<uint8_t, 256> kDecode = make_decode_table(kAlphabet);
constexpr std::array<uint8_t, 256> kUrlDecode = make_decode_table(kUrlAlphabet);

// Encodes `bytes` at `o`, which has room for encoded_bytes(bytes.size(), pad); returns the end.
// Both alphabets share this one loop: they differ only in the last two characters and padding.
char* encode(const uint8_t* bytes, size_t size, const char (&alphabet)[65], bool pad, char* o) {
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const uint32_t v = uint32_t{bytes[i]} << 16 | uint32_t{bytes[i + 1]} << 8 | bytes[i + 2];
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = alphabet[(v >> 6) & 63];
    *o++ = alphabet[v & 63];
  }
  const size_t rest = size - i;
  if (rest > 0) {
    const uint32_t v = uint32_t{bytes[i]} << 16 | (rest == 2 ? uint32_t{bytes[i + 1]} << 8 : 0);
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    if (rest == 2) {
      *o++ = alphabet[(v >> 6) & 63];
    } else if (pad) {
      *o++ = '=';
    }
    if (pad) *o++ = '=';
  }
  return o;
}

constexpr size_t encoded_bytes(size_t size, bool pad) {
  return pad ? (size + 2) / 3 * 4 : size / 3 * 4 + (size % 3 == 0 ? 0 : size % 3 + 1);
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> bytes) {
  std::string out;
  out.resize(encoded_bytes(bytes.size(), true));
  encode(bytes.data(), bytes.size(), kAlphabet, true, out.data());
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

void base64url_append(std::string& out, std::string_view bytes) {
  const size_t at = out.size();
  out.resize(at + encoded_bytes(bytes.size(), false));
  encode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), kUrlAlphabet, false, out.data() + at);
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  base64url_append(out, bytes);
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 == 1) return false;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const uint8_t v = kUrlDecode[static_cast<uint8_t>(c)];
    if (v == kInvalid) return false;
    acc = acc << 6 | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  // Leftover bits must be zero in a canonical encoding.
  return (acc & ((1u << bits) - 1)) == 0;
}

}  // namespace ringcast
