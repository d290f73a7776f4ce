// UTF-8 for text messages, close reasons and what clients put in JSON: validation of whole texts
// (simdjson's SIMD validator), incremental validation of texts that arrive in pieces (fragments, recv
// buffers) with one byte of state between them, and the repair of CESU-8 from Pomelo web clients.
// Pure: bytes in, verdict or repaired text out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast {

// True when [data, data+len) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool utf8_valid(const uint8_t* data, size_t len);

// Bytes of the well-formed UTF-8 character that starts at text[at] (1..4), or 0 when the bytes there
// are not one (a stray continuation byte, an overlong form, a surrogate, a code point above U+10FFFF,
// a character cut by the end of the text). Scalar: for walking text that may be invalid.
size_t utf8_char_bytes(std::string_view text, size_t at);

// Validation of a text that arrives in pieces, in order. Between pieces it keeps only what the
// character cut by the end of the last piece still needs (one byte), so a parser can carry it in a
// per-connection record. feed() fails with the piece holding the first byte after which no
// continuation could make the text valid, so a WebSocket server can fail the connection (RFC 6455
// section 8.1) there and then, as Autobahn's "fail fast" cases (6.4) expect, instead of buffering the
// rest of the message first. The text as a whole is valid when every feed() succeeded and complete()
// holds at its end.
class Utf8Stream {
 public:
  // Checks the next piece. Whole characters are checked by the SIMD validator; only the at most
  // three bytes of a character cut by a piece boundary go through the byte-wise check. False from the
  // first invalid piece on: a failed stream stays failed until reset().
  bool feed(const uint8_t* data, size_t len);
  // True when the text so far ends between characters (and has not failed).
  bool complete() const { return state_ == kBoundary; }
  // True when a feed() failed.
  bool failed() const { return state_ == kFailed; }
  // Back to the start of a new text.
  void reset() { state_ = kBoundary; }

 private:
  // state_ is kBoundary, kFailed, or (continuation bytes still needed, 1..3) | (the range the next
  // byte must fall in, an index into the table in utf8.cpp) << 2.
  static constexpr uint8_t kBoundary = 0;
  static constexpr uint8_t kFailed = 0xFF;
  bool step(uint8_t byte);

  uint8_t state_ = kBoundary;
};

static_assert(sizeof(Utf8Stream) == 1, "Utf8Stream lives in every connection's frame parser");

// What repair_cesu8 did to its input.
enum class Utf8Repair : uint8_t {
  none,      // the input was valid UTF-8: the result is the input itself and the scratch is untouched
  joined,    // only CESU-8 surrogate pairs were joined into 4-byte characters: nothing was lost
  replaced,  // some bytes became U+FFFD (lone surrogate halves, other invalid bytes); pairs were joined too
};

struct RepairedText {
  std::string_view text;  // valid UTF-8: the input, or a view of the scratch string
  Utf8Repair repair = Utf8Repair::none;
};

// Turns text from clients that encode strings one UTF-16 code unit at a time (CESU-8: Pomelo's and
// lonng/nano's JS clients, Protocol.strencode) into valid UTF-8:
//   - a high surrogate half (ED A0..AF xx) followed by a low one (ED B0..BF xx) becomes the 4-byte
//     character they encode: ED A0 BD ED B8 80 -> F0 9F 98 80 (U+1F600);
//   - a surrogate half that is not part of such a pair becomes one U+FFFD (EF BF BD), as a lone
//     surrogate in a JS string does when it is encoded correctly (TextEncoder);
//   - every other byte that does not start a well-formed character becomes one U+FFFD, as Go's
//     encoding/json does (utf8.DecodeRune reports such a byte as RuneError of width 1), so a cut
//     3-byte character gives two U+FFFD and a 5-byte form five;
//   - well-formed UTF-8 is kept as it is.
// Valid input (the common case) is checked with the SIMD validator and returned as it is, without a
// copy; otherwise `scratch` is overwritten with the repaired text and the result views it (valid
// until scratch changes).
RepairedText repair_cesu8(std::string_view in, std::string& scratch);

}  // namespace ringcast
