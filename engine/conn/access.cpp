// Access control helpers: bearer credentials, constant-time secret comparison (OpenSSL), the Origin
// allowlist, the connect token's place in a request, and the shard's table of shared room grants.
#include "engine/conn/access.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>

#include "engine/codec/form.h"

namespace ringcast {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && http::ascii_iequals(s.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && http::ascii_iequals(s.substr(s.size() - suffix.size()), suffix);
}

void sha256(std::string_view data, unsigned char (&out)[32]) {
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
}

}  // namespace

std::string_view bearer_credentials(std::string_view authorization) {
  authorization = trim(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (!istarts_with(authorization, kScheme) || authorization.size() == kScheme.size()) return {};
  const char after = authorization[kScheme.size()];
  if (after != ' ' && after != '\t') return {};
  return trim(authorization.substr(kScheme.size()));
}

bool secret_equals(std::string_view given, std::string_view expected) {
  unsigned char a[32], b[32];
  sha256(given, a);
  sha256(expected, b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed) {
  for (const std::string& entry : allowed) {
    if (entry == "*") return true;
    if (http::ascii_iequals(origin, entry)) return true;
    // "https://*.example.com[:port]": the scheme, then one or more labels, then ".example.com[:port]".
    const size_t star = entry.find("://*.");
    if (star == std::string::npos) continue;
    const std::string_view prefix = std::string_view(entry).substr(0, star + 3);  // "https://"
    const std::string_view suffix = std::string_view(entry).substr(star + 4);     // ".example.com"
    if (!istarts_with(origin, prefix) || !iends_with(origin, suffix)) continue;
    if (origin.size() <= prefix.size() + suffix.size()) continue;
    const std::string_view labels =
        origin.substr(prefix.size(), origin.size() - prefix.size() - suffix.size());
    if (labels.find_first_of("/:@") == std::string_view::npos && labels.front() != '.') return true;
  }
  return false;
}

std::string_view connect_token(const http::Request& req, std::string& storage, bool& malformed) {
  malformed = false;
  if (form::field(req.query, "token", storage, malformed)) return storage;
  if (malformed) return {};
  return bearer_credentials(req.header("authorization"));
}

uint32_t GrantTable::acquire(const TokenGrant& grant) {
  if (grant.any_room) return kNone;
  // The key is the sorted room list, each entry length-prefixed, so that the same rooms in another
  // order share an entry and no room name can imitate a separator.
  std::vector<std::string_view> rooms(grant.rooms.begin(), grant.rooms.end());
  std::sort(rooms.begin(), rooms.end());
  std::string key;
  for (std::string_view r : rooms) {
    key += std::to_string(r.size());
    key += ':';
    key += r;
  }
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    ++entries_[it->second].refs;
    return it->second;
  }
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    if (entries_.size() >= kEntriesMax) return kFull;
    index = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  Entry& e = entries_[index];
  e.grant.rooms = grant.rooms;
  e.grant.any_room = false;
  e.key = key;
  e.refs = 1;
  by_key_.emplace(std::move(key), index);
  return index;
}

void GrantTable::release(uint32_t index) {
  if (index == kNone || index >= entries_.size()) return;
  Entry& e = entries_[index];
  if (e.refs == 0 || --e.refs > 0) return;
  by_key_.erase(e.key);
  e = Entry{};
  free_.push_back(index);
}

bool GrantTable::allows(uint32_t index, std::string_view room) const {
  if (index == kNone) return true;
  if (index >= entries_.size() || entries_[index].refs == 0) return false;
  return entries_[index].grant.allows(room);
}

}  // namespace ringcast
