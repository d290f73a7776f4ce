// JSON text out: the one writer that every JSON document the server and its tools produce is built
// with (/stats, presence answers, go-push command frames, HTTP error bodies, the Pomelo handshake,
// ringcast-load's summary), and the string escaping beneath it. Appends to the caller's std::string,
// so a document can follow a frame header or an HTTP head already in that buffer. Pure.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace ringcast {

// Appends `text` JSON-escaped, without the quotes: '"' and '\' get a backslash, control characters
// become \u00XX, well-formed UTF-8 passes through, and each byte that is not part of well-formed
// UTF-8 becomes \ufffd (JSON text must be UTF-8, and an echoed room name or request byte may not be).
void append_json_escaped(std::string& out, std::string_view text);
// Appends "text" (escaped).
void append_json_string(std::string& out, std::string_view text);
// Appends "text" (escaped), or null when it is empty (an unbound user id).
void append_json_string_or_null(std::string& out, std::string_view text);

// Writes JSON values into `out` and places the commas: a value, key or container that follows
// another in the same container is preceded by one. One flag is all the state, so nesting costs
// nothing; the writer does not check the nesting (a key outside an object, an unclosed container)
// because its callers write fixed shapes, which their tests pin byte for byte.
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }

  // An object member's name (escaped); the next value written is its value.
  JsonWriter& key(std::string_view name);

  JsonWriter& string(std::string_view value);
  JsonWriter& string_or_null(std::string_view value);
  // Integers in decimal, as std::to_string writes them. (A template so that every integer type
  // picks the signed or unsigned form without an ambiguous overload; bool is boolean().)
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  JsonWriter& number(T value) {
    if constexpr (std::is_signed_v<T>) {
      return signed_number(static_cast<int64_t>(value));
    } else {
      return unsigned_number(static_cast<uint64_t>(value));
    }
  }
  // printf's "%.6g": six significant digits ("0.5", "1234.57", "1e+07"), what ringcast-load reports.
  JsonWriter& number(double value);
  JsonWriter& boolean(bool value);
  JsonWriter& null();
  // A value that is JSON text already (a prebuilt fragment such as the Pomelo route dictionary);
  // written as it is, not checked.
  JsonWriter& raw(std::string_view json);

 private:
  void before_value() {
    if (comma_) out_.push_back(',');
    comma_ = true;
  }
  JsonWriter& open(char bracket) {
    before_value();
    out_.push_back(bracket);
    comma_ = false;
    return *this;
  }
  JsonWriter& close(char bracket) {
    out_.push_back(bracket);
    comma_ = true;
    return *this;
  }
  JsonWriter& signed_number(int64_t value);
  JsonWriter& unsigned_number(uint64_t value);

  std::string& out_;
  bool comma_ = false;  // the next value, key or container needs a comma first
};

}  // namespace ringcast
