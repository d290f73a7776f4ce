// Signed connect tokens: an HS256 JWT a client presents when it connects (the `token` query
// parameter of the upgrade request, or an `Authorization: Bearer` header), carrying a user id, an
// expiry and the rooms the holder may join. Verified once per connection; the shard keeps only the
// few bytes of what the token allows. Pure (no I/O); the HMAC is OpenSSL's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast {

enum class TokenError : uint8_t {
  none,
  malformed,      // not three base64url parts, or the header/claims are not JSON objects
  bad_algorithm,  // "alg" is not HS256 (in particular "none" is refused)
  bad_signature,
  expired,        // "exp" (seconds since the epoch) is in the past
  not_yet_valid,  // "nbf" is in the future
};

std::string_view token_error_text(TokenError error);

// What a verified token allows.
struct TokenGrant {
  std::string user;                // "uid", else "sub"; may be empty (the user a connection binds)
  int64_t expires_s = 0;           // "exp", 0 when absent
  std::vector<std::string> rooms;  // "rooms": exact names, or prefixes ending in '*'; "*" allows all
  bool any_room = false;           // no "rooms" claim, or "*" in it

  // True when `room` matches the grant.
  bool allows(std::string_view room) const;
};

// Verifies `token` with `secret` at time now_s (seconds since the epoch; leeway for clock skew
// included by the caller). Fills grant on success.
TokenError verify_token(std::string_view token, std::string_view secret, int64_t now_s, TokenGrant& grant);

// Makes an HS256 token (for tests and tools; a backend mints its own, see docs/protocol.md).
std::string make_token(std::string_view claims_json, std::string_view secret);

}  // namespace ringcast
