// Percent-decoding (see form.h): one byte decoder under both the form-field lookup and the path
// segment, which differ only in what '+' means.
#include "engine/codec/form.h"

#include <cstdint>

namespace ringcast::form {
namespace {

enum class Plus : bool { literal, space };

// Decodes the byte at in[i] and moves i past it (past all three bytes of a %XX); -1 when the
// %-escape there is malformed (not two hex digits, or cut short by the end of `in`).
int next_byte(std::string_view in, size_t& i, Plus plus) {
  const char c = in[i++];
  if (c == '+' && plus == Plus::space) return ' ';
  if (c != '%') return static_cast<uint8_t>(c);
  if (i + 1 >= in.size()) return -1;
  const int hi = hex_digit_value(in[i]);
  const int lo = hex_digit_value(in[i + 1]);
  if (hi < 0 || lo < 0) return -1;
  i += 2;
  return hi << 4 | lo;
}

bool decode(std::string_view in, std::string& out, Plus plus) {
  out.clear();
  for (size_t i = 0; i < in.size();) {
    const int c = next_byte(in, i, plus);
    if (c < 0) {
      out.clear();
      return false;
    }
    out.push_back(static_cast<char>(c));
  }
  return true;
}

}  // namespace

bool field(std::string_view encoded, std::string_view key, std::string& out, bool& malformed) {
  malformed = false;
  while (!encoded.empty()) {
    const size_t amp = encoded.find('&');
    const std::string_view pair = encoded.substr(0, amp);
    encoded = amp == std::string_view::npos ? std::string_view{} : encoded.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);

    size_t k = 0;
    bool match = true;
    for (size_t i = 0; i < name.size();) {
      const int c = next_byte(name, i, Plus::space);
      if (c < 0) {
        malformed = true;
        return false;
      }
      if (match && (k == key.size() || static_cast<uint8_t>(key[k]) != c)) match = false;
      ++k;
    }
    if (!match || k != key.size()) continue;
    if (!decode(value, out, Plus::space)) {
      malformed = true;
      return false;
    }
    return true;
  }
  return false;
}

bool percent_decode(std::string_view in, std::string& out) {
  return decode(in, out, Plus::literal);
}

}  // namespace ringcast::form
