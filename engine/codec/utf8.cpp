// UTF-8: whole texts go to simdjson's validator (only this file includes it for that); the byte-wise
// checks are RFC 3629's table of well-formed sequences, used only where a character is cut by a piece
// boundary or where invalid text is being repaired.
#include "engine/codec/utf8.h"

#include "engine/base/json.h"

namespace ringcast {

namespace {

// The range a continuation byte must fall in. Only the byte after the lead is ever narrower than
// 80..BF: RFC 3629 narrows it to rule out overlongs (after E0, F0), surrogates (after ED) and code
// points above U+10FFFF (after F4).
enum Range : uint8_t { any, after_e0, after_ed, after_f0, after_f4 };
constexpr uint8_t kRangeLow[] = {0x80, 0xA0, 0x80, 0x90, 0x80};
constexpr uint8_t kRangeHigh[] = {0xBF, 0xBF, 0x9F, 0xBF, 0x8F};

bool is_continuation(uint8_t byte) {
  return (byte & 0xC0) == 0x80;
}

// ED A0..BF 80..BF: a UTF-16 surrogate half written as if it were a character (CESU-8).
bool surrogate_half_at(std::string_view text, size_t at) {
  return text.size() - at >= 3 && static_cast<uint8_t>(text[at]) == 0xED &&
         static_cast<uint8_t>(text[at + 1]) >= 0xA0 && is_continuation(static_cast<uint8_t>(text[at + 2]));
}

// The ten bits a surrogate half carries (its value minus D800 or DC00).
uint32_t surrogate_bits(std::string_view text, size_t at) {
  return (uint32_t{static_cast<uint8_t>(text[at + 1])} & 0x0F) << 6 |
         (static_cast<uint8_t>(text[at + 2]) & 0x3F);
}

bool high_surrogate_at(std::string_view text, size_t at) {
  return static_cast<uint8_t>(text[at + 1]) <= 0xAF;
}

void append_replacement(std::string& out) {
  out.append("\xEF\xBF\xBD", 3);  // U+FFFD
}

}  // namespace

bool utf8_valid(const uint8_t* data, size_t len) {
  return simdjson::validate_utf8(reinterpret_cast<const char*>(data), len);
}

size_t utf8_char_bytes(std::string_view text, size_t at) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(text[at + k]); };
  const uint8_t lead = b(0);
  const size_t left = text.size() - at;
  // Byte k (1..3) is a continuation byte within [low, high].
  const auto cont = [&](size_t k, uint8_t low = 0x80, uint8_t high = 0xBF) {
    return k < left && b(k) >= low && b(k) <= high;
  };
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return cont(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    const uint8_t low = lead == 0xE0 ? 0xA0 : 0x80;   // overlong
    const uint8_t high = lead == 0xED ? 0x9F : 0xBF;  // surrogate
    return cont(1, low, high) && cont(2) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    const uint8_t low = lead == 0xF0 ? 0x90 : 0x80;   // overlong
    const uint8_t high = lead == 0xF4 ? 0x8F : 0xBF;  // above U+10FFFF
    return cont(1, low, high) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;  // a continuation byte, C0 and C1 (overlong), F5..FF (never in UTF-8)
}

// ---- Utf8Stream ----

bool Utf8Stream::step(uint8_t byte) {
  if (state_ == kBoundary) {
    if (byte < 0x80) return true;
    if (byte >= 0xC2 && byte <= 0xDF) {
      state_ = 1;
    } else if (byte >= 0xE0 && byte <= 0xEF) {
      state_ = 2 | (byte == 0xE0 ? after_e0 : byte == 0xED ? after_ed : any) << 2;
    } else if (byte >= 0xF0 && byte <= 0xF4) {
      state_ = 3 | (byte == 0xF0 ? after_f0 : byte == 0xF4 ? after_f4 : any) << 2;
    } else {
      state_ = kFailed;
      return false;
    }
    return true;
  }
  const uint8_t range = state_ >> 2;
  if (byte < kRangeLow[range] || byte > kRangeHigh[range]) {
    state_ = kFailed;
    return false;
  }
  state_ = (state_ & 3) - 1;  // the bytes after the second take any continuation: range `any` is 0
  return true;
}

bool Utf8Stream::feed(const uint8_t* data, size_t len) {
  if (state_ == kFailed) return false;
  const uint8_t* p = data;
  const uint8_t* const end = data + len;
  // First the rest of the character the previous piece cut.
  while (state_ != kBoundary && p < end) {
    if (!step(*p++)) return false;
  }
  if (p == end) return true;
  // From a character boundary on, the text is whole characters except perhaps the last one, cut by
  // the end of this piece. Its lead byte is one of the last three (a cut character has at most three
  // of its bytes here): that tail goes byte-wise, all before it to the SIMD validator. In valid text a
  // byte that is not a continuation always starts a character, so cutting there changes no verdict;
  // and when none of the last three starts one, the text ends with a whole 4-byte character or is
  // invalid whatever follows, so the validator's verdict on all of it is the right one.
  const uint8_t* tail = end;
  for (const uint8_t* q = end; q > p && end - q < 3;) {
    if (!is_continuation(*--q)) {
      tail = q;
      break;
    }
  }
  if (tail > p && !utf8_valid(p, static_cast<size_t>(tail - p))) {
    state_ = kFailed;
    return false;
  }
  while (tail < end) {
    if (!step(*tail++)) return false;
  }
  return true;
}

// ---- CESU-8 repair ----

RepairedText repair_cesu8(std::string_view in, std::string& scratch) {
  if (utf8_valid(reinterpret_cast<const uint8_t*>(in.data()), in.size())) return {in, Utf8Repair::none};
  scratch.clear();
  scratch.reserve(in.size() + 16);
  bool replaced = false;
  size_t kept = 0;  // in[kept, at) are well-formed characters not yet copied
  size_t at = 0;
  while (at < in.size()) {
    if (const size_t n = utf8_char_bytes(in, at)) {
      at += n;
      continue;
    }
    scratch.append(in, kept, at - kept);
    if (surrogate_half_at(in, at) && high_surrogate_at(in, at) && surrogate_half_at(in, at + 3) &&
        !high_surrogate_at(in, at + 3)) {
      const uint32_t code_point = 0x10000 + (surrogate_bits(in, at) << 10 | surrogate_bits(in, at + 3));
      const char bytes[4] = {
          static_cast<char>(0xF0 | code_point >> 18),
          static_cast<char>(0x80 | (code_point >> 12 & 0x3F)),
          static_cast<char>(0x80 | (code_point >> 6 & 0x3F)),
          static_cast<char>(0x80 | (code_point & 0x3F)),
      };
      scratch.append(bytes, 4);
      at += 6;
    } else if (surrogate_half_at(in, at)) {
      append_replacement(scratch);  // one UTF-16 unit, one replacement
      replaced = true;
      at += 3;
    } else {
      append_replacement(scratch);  // Go's utf8.DecodeRune: (RuneError, 1)
      replaced = true;
      at += 1;
    }
    kept = at;
  }
  scratch.append(in, kept, in.size() - kept);
  return {scratch, replaced ? Utf8Repair::replaced : Utf8Repair::joined};
}

}  // namespace ringcast
