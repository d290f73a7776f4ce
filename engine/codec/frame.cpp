// RFC 6455 framing, the parts that are not templates: unmasking, the frame encoders, the close-code
// table and the spill buffer the parser assembles split messages in. See engine/codec/frame_inl.h for the
// parser itself.
#include "engine/codec/frame.h"

#include <algorithm>
#include <cstdlib>

namespace ringcast::ws {

namespace {

// A spill starts this big (or at the frame's size if smaller), so a message split into many small
// pieces does not reallocate for each one.
constexpr size_t kSpillMinBytes = 256;

void store_be(uint8_t* out, uint64_t value, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(value >> (8 * (n - 1 - i)));
}

// Writes the header of a frame with the mask bit as given and returns its size (without the key).
size_t encode_header(uint8_t* out, Opcode op, uint64_t payload_len, bool fin, bool masked) {
  out[0] = static_cast<uint8_t>((fin ? 0x80 : 0x00) | static_cast<uint8_t>(op));
  const uint8_t mask_bit = masked ? 0x80 : 0x00;
  if (payload_len < 126) {
    out[1] = static_cast<uint8_t>(mask_bit | payload_len);
    return 2;
  }
  if (payload_len <= 0xFFFF) {
    out[1] = mask_bit | 126;
    store_be(out + 2, payload_len, 2);
    return 4;
  }
  out[1] = mask_bit | 127;
  store_be(out + 2, payload_len, 8);
  return 10;
}

}  // namespace

bool close_code_valid_on_wire(uint16_t code) {
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

size_t encode_server_header(uint8_t* out, Opcode op, uint64_t payload_len, bool fin) {
  RC_ASSERT((payload_len >> 63) == 0);
  RC_ASSERT(fin || (static_cast<uint8_t>(op) & 0x08) == 0);  // control frames cannot be fragmented
  return encode_header(out, op, payload_len, fin, /*masked=*/false);
}

FrameBuffer alloc_server_frame(Opcode op, size_t payload_len) {
  const size_t header = server_header_bytes(payload_len);
  RC_ASSERT(header + payload_len <= UINT32_MAX);
  FrameBuffer f;
  // (One byte more than needed, so that an empty frame's buffer is never a zero-byte malloc.)
  f.bytes = static_cast<uint8_t*>(std::malloc(header + payload_len + 1));
  RC_ASSERT(f.bytes != nullptr);
  encode_server_header(f.bytes, op, payload_len);
  f.payload = f.bytes + header;
  f.len = static_cast<uint32_t>(header + payload_len);
  return f;
}

FrameBuffer copy_server_frame(Opcode op, std::string_view payload) {
  FrameBuffer f = alloc_server_frame(op, payload.size());
  if (!payload.empty()) std::memcpy(f.payload, payload.data(), payload.size());
  return f;
}

void append_server_header(std::string& out, Opcode op, uint64_t payload_len) {
  const size_t at = out.size();
  out.resize(at + server_header_bytes(payload_len));
  encode_server_header(reinterpret_cast<uint8_t*>(out.data()) + at, op, payload_len);
}

void append_server_frame(std::string& out, Opcode op, std::string_view payload) {
  append_server_header(out, op, payload.size());
  out += payload;
}

size_t encode_client_frame(uint8_t* out, Opcode op, std::span<const uint8_t> payload, uint32_t mask_key,
                           bool fin) {
  size_t n = encode_header(out, op, payload.size(), fin, /*masked=*/true);
  uint8_t* key = out + n;
  store_be(key, mask_key, 4);
  n += 4;
  if (!payload.empty()) std::memcpy(out + n, payload.data(), payload.size());
  unmask(out + n, payload.size(), key, 0);  // masking and unmasking are the same XOR
  return n + payload.size();
}

void unmask(uint8_t* data, size_t len, const uint8_t key[4], size_t key_offset) {
  RC_ASSERT(key_offset < 4);
  size_t i = 0;
  // Bytes up to an 8-byte boundary one at a time, so the word loop below stores aligned.
  const size_t head = std::min(len, (8 - (reinterpret_cast<uintptr_t>(data) & 7)) & 7);
  for (; i < head; ++i) data[i] ^= key[(key_offset + i) & 3];
  // The key as a word, rotated to the phase of the first aligned byte. A word is a multiple of the
  // key length, so the phase stays put from word to word.
  uint8_t rotated[8];
  for (size_t k = 0; k < 8; ++k) rotated[k] = key[(key_offset + i + k) & 3];
  uint64_t word_key;
  std::memcpy(&word_key, rotated, 8);
  // Four independent words per iteration; the compiler turns the memcpys into plain (vector) loads
  // and stores.
  for (; i + 32 <= len; i += 32) {
    uint64_t w[4];
    std::memcpy(w, data + i, 32);
    w[0] ^= word_key;
    w[1] ^= word_key;
    w[2] ^= word_key;
    w[3] ^= word_key;
    std::memcpy(data + i, w, 32);
  }
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    w ^= word_key;
    std::memcpy(data + i, &w, 8);
  }
  for (; i < len; ++i) data[i] ^= key[(key_offset + i) & 3];
}

bool FrameParser::append(Spill*& spill, const uint8_t* bytes, size_t n, size_t capacity_limit) {
  if (n == 0) return true;  // an empty piece must not allocate: an idle parser holds nothing
  const size_t size = spill_size(spill);
  const size_t needed = size + n;
  if (spill == nullptr || needed > spill->capacity) {
    // Grow at least twice over what is needed now (amortized O(1) per byte), but never past what
    // the frame can still bring: memory follows the bytes that actually arrived.
    const size_t capacity = std::max(needed, std::min(std::max(2 * needed, kSpillMinBytes), capacity_limit));
    auto* grown = static_cast<Spill*>(std::realloc(spill, sizeof(Spill) + capacity));
    if (grown == nullptr) return false;  // the old buffer stays owned by the parser; release frees it
    grown->size = size;
    grown->capacity = capacity;
    spill = grown;
  }
  std::memcpy(spill->data + size, bytes, n);
  spill->size = needed;
  return true;
}

void FrameParser::release() {
  std::free(message_);
  std::free(control_);
  message_ = nullptr;
  control_ = nullptr;
}

size_t FrameParser::buffered_bytes() const {
  size_t bytes = 0;
  if (message_ != nullptr) bytes += sizeof(Spill) + message_->capacity;
  if (control_ != nullptr) bytes += sizeof(Spill) + control_->capacity;
  return bytes;
}

}  // namespace ringcast::ws
