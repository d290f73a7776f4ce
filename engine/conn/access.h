// Access control, the pure part: the push API's bearer token (compared in constant time), the
// browser Origin allowlist of the upgrade, where a connect token travels in an upgrade request, and
// the per-shard table of room grants that connections hold by a small index. The shard and the API
// call these at the handshake and per request; nothing here does I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/codec/http.h"
#include "engine/codec/token.h"

namespace ringcast {

// The credentials of "Authorization: Bearer <credentials>" (scheme case-insensitive, RFC 6750), or
// empty when the header holds another scheme or nothing after it.
std::string_view bearer_credentials(std::string_view authorization);

// True when `given` equals `expected`, in time that depends only on the length of `given`: both are
// hashed (SHA-256) and the digests compared with CRYPTO_memcmp, so neither the content nor the length
// of the secret leaks through timing.
bool secret_equals(std::string_view given, std::string_view expected);

// True when a browser Origin ("scheme://host[:port]") is on the allowlist. Entries are compared
// ASCII-case-insensitively and whole; an entry "scheme://*.example.com[:port]" allows any subdomain
// of example.com (not example.com itself) with that scheme and port; "*" allows every origin.
bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed);

// Where a connect token is in an upgrade request: the `token` query parameter (percent-decoded into
// `storage`), else "Authorization: Bearer". Empty when absent; `malformed` when the query's escape
// is broken.
std::string_view connect_token(const http::Request& req, std::string& storage, bool& malformed);

// The room grants of the connections of one shard. A connection holds an index (24 bits, in a spare
// word of its record) instead of the grant; connections presenting the same set of rooms share one
// entry, so a million connections with "rooms":["lobby"] cost one entry. A grant that allows every
// room needs no entry at all (kNone).
class GrantTable {
 public:
  static constexpr uint32_t kNone = 0xFFFFFF;  // no restriction: every room may be joined
  static constexpr uint32_t kFull = 0xFFFFFE;  // acquire() could not take one more distinct grant
  static constexpr uint32_t kEntriesMax = kFull;

  // The index for `grant` (its rooms only; the user id is not kept), with one more reference.
  uint32_t acquire(const TokenGrant& grant);
  // Drops a reference taken by acquire(); kNone is ignored.
  void release(uint32_t index);
  // True when the grant at `index` (or kNone) allows `room`.
  bool allows(uint32_t index, std::string_view room) const;
  // Distinct grants held.
  size_t live() const { return by_key_.size(); }

 private:
  struct Entry {
    TokenGrant grant;
    std::string key;
    uint32_t refs = 0;
  };
  std::vector<Entry> entries_;
  std::vector<uint32_t> free_;
  std::unordered_map<std::string, uint32_t> by_key_;
};

}  // namespace ringcast
