// Percent-decoding, the one decoder for what arrives %-escaped: application/x-www-form-urlencoded
// bodies and query strings (the push API's fields, the upgrade's ?token=, presence's ?limit=,
// ?cursor=, ?users=) and presence's /rooms/{room} path segment. Strict: a '%' that is not followed by
// two hex digits is malformed and reported, never passed through. Pure.
#pragma once

#include <string>
#include <string_view>

namespace ringcast::form {

// The value of a hex digit (either case), or -1.
constexpr int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Finds the first field of `encoded` ("k=v&k2=v2", fields without '=' have an empty value) whose
// decoded name is `key`, and decodes its value ('+' is a space, %XX a byte) into `out`. False when
// no field matches; a malformed %-escape in a name looked at before the match, or in the matching
// value, sets `malformed` (and returns false, `out` cleared for a bad value). Names are compared as
// they are decoded, so fields that do not match are not copied.
bool field(std::string_view encoded, std::string_view key, std::string& out, bool& malformed);

// Decodes a path segment into `out`: %XX is a byte, '+' stays a plus (RFC 3986; only forms mean a
// space by it). False, with `out` cleared, when an escape is malformed.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace ringcast::form
