// HS256 JWT verification: base64url (engine/codec/base64.h), HMAC-SHA256 (OpenSSL), claims read with
// simdjson.
#include "engine/codec/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "engine/base/json.h"
#include "engine/codec/base64.h"

namespace ringcast {
namespace {

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

std::string_view token_error_text(TokenError error) {
  switch (error) {
    case TokenError::none:
      return "ok";
    case TokenError::malformed:
      return "connect token is malformed";
    case TokenError::bad_algorithm:
      return "connect token must be signed with HS256";
    case TokenError::bad_signature:
      return "connect token signature does not verify";
    case TokenError::expired:
      return "connect token has expired";
    case TokenError::not_yet_valid:
      return "connect token is not valid yet";
  }
  return "connect token refused";
}

bool TokenGrant::allows(std::string_view room) const {
  if (any_room) return true;
  for (const std::string& r : rooms) {
    if (!r.empty() && r.back() == '*') {
      if (room.substr(0, r.size() - 1) == std::string_view(r).substr(0, r.size() - 1)) return true;
    } else if (room == r) {
      return true;
    }
  }
  return false;
}

TokenError verify_token(std::string_view token, std::string_view secret, int64_t now_s, TokenGrant& grant) {
  grant = TokenGrant{};
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return TokenError::malformed;
  std::string header, claims, signature;
  if (!base64url_decode(token.substr(0, dot1), header) ||
      !base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), claims) ||
      !base64url_decode(token.substr(dot2 + 1), signature))
    return TokenError::malformed;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view alg;
  if (parser.parse(header).get(doc) || !doc.is_object()) return TokenError::malformed;
  if (doc["alg"].get_string().get(alg) || alg != "HS256") return TokenError::bad_algorithm;
  // The signature is checked before the claims are trusted, in constant time.
  const std::string expected = hmac_sha256(secret, token.substr(0, dot2));
  if (signature.size() != expected.size() || CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0)
    return TokenError::bad_signature;
  if (parser.parse(claims).get(doc) || !doc.is_object()) return TokenError::malformed;
  std::string_view sub;
  // The user id: "uid" when present (a deployment whose "sub" is not the push user), else "sub".
  if (!doc["uid"].get_string().get(sub) || !doc["sub"].get_string().get(sub)) grant.user.assign(sub);
  int64_t exp = 0, nbf = 0;
  if (!doc["exp"].get_int64().get(exp)) {
    grant.expires_s = exp;
    if (exp <= now_s) return TokenError::expired;
  }
  if (!doc["nbf"].get_int64().get(nbf) && nbf > now_s) return TokenError::not_yet_valid;
  simdjson::dom::array rooms;
  if (doc["rooms"].get_array().get(rooms)) {
    grant.any_room = true;  // no room claim: the token authenticates, it does not restrict
  } else {
    for (simdjson::dom::element r : rooms) {
      std::string_view name;
      if (r.get_string().get(name)) return TokenError::malformed;
      if (name == "*") grant.any_room = true;
      grant.rooms.emplace_back(name);
    }
  }
  return TokenError::none;
}

std::string make_token(std::string_view claims_json, std::string_view secret) {
  std::string signing = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims_json);
  return signing + "." + base64url_encode(hmac_sha256(secret, signing));
}

}  // namespace ringcast
