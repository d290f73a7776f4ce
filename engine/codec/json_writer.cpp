// JSON string escaping and number formatting for JsonWriter (see json_writer.h). The escaper runs on
// every echoed room name and error reason, so it copies runs of plain bytes whole.
#include "engine/codec/json_writer.h"

#include <charconv>
#include <cstdio>

#include "engine/base/check.h"
#include "engine/codec/utf8.h"

namespace ringcast {
namespace {

template <class T>
void append_decimal(std::string& out, T value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  RC_ASSERT(ec == std::errc());
  out.append(digits, static_cast<size_t>(end - digits));
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
  constexpr char kHex[] = "0123456789abcdef";
  size_t plain = 0;  // start of the run of bytes that need no escaping
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    const auto u = static_cast<uint8_t>(c);
    if (u >= 0x20 && u < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (u >= 0x80) {
      if (const size_t n = utf8_char_bytes(text, i)) {
        i += n;
        continue;
      }
    }
    out.append(text.substr(plain, i - plain));
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.append("\\ufffd");
    }
    plain = ++i;
  }
  out.append(text.substr(plain));
}

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  append_json_escaped(out, text);
  out.push_back('"');
}

void append_json_string_or_null(std::string& out, std::string_view text) {
  if (text.empty()) {
    out.append("null");
    return;
  }
  append_json_string(out, text);
}

JsonWriter& JsonWriter::key(std::string_view name) {
  before_value();
  append_json_string(out_, name);
  out_.push_back(':');
  comma_ = false;  // the member's value follows the colon
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view value) {
  before_value();
  append_json_string(out_, value);
  return *this;
}

JsonWriter& JsonWriter::string_or_null(std::string_view value) {
  before_value();
  append_json_string_or_null(out_, value);
  return *this;
}

JsonWriter& JsonWriter::signed_number(int64_t value) {
  before_value();
  append_decimal(out_, value);
  return *this;
}

JsonWriter& JsonWriter::unsigned_number(uint64_t value) {
  before_value();
  append_decimal(out_, value);
  return *this;
}

JsonWriter& JsonWriter::number(double value) {
  before_value();
  char text[32];
  const int n = std::snprintf(text, sizeof text, "%.6g", value);
  RC_ASSERT(n > 0 && static_cast<size_t>(n) < sizeof text);
  out_.append(text, static_cast<size_t>(n));
  return *this;
}

JsonWriter& JsonWriter::boolean(bool value) {
  before_value();
  out_.append(value ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_.append("null");
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  before_value();
  out_.append(json);
  return *this;
}

}  // namespace ringcast
