// libFuzzer target: signed connect tokens (engine/codec/token.h). The first byte picks what the rest is:
//   even: a token as a client would present it, verified with our secret — it must never verify (the
//         input cannot know the secret) and never crash, whatever its base64url, JSON or lengths;
//   odd:  the claims of a token we sign ourselves — the signature must then always check, so the only
//         outcomes are a grant, malformed claims, or exp/nbf refusals; and a granted room list answers
//         allows() for any name.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/base/check.h"
#include "engine/codec/token.h"

namespace {
constexpr std::string_view kSecret = "fuzz-secret-0123456789abcdef0123456789";
constexpr int64_t kNow = 1700000000;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool sign = data[0] & 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  ringcast::TokenGrant grant;
  if (!sign) {
    RC_ASSERT(ringcast::verify_token(input, kSecret, kNow, grant) != ringcast::TokenError::none);
    return 0;
  }
  const std::string token = ringcast::make_token(input, kSecret);
  const auto e = ringcast::verify_token(token, kSecret, kNow, grant);
  RC_ASSERT(e != ringcast::TokenError::bad_signature && e != ringcast::TokenError::bad_algorithm);
  if (e == ringcast::TokenError::none) {
    (void)grant.allows("lobby");
    (void)grant.allows(input.substr(0, 16));
    if (grant.any_room) RC_ASSERT(grant.allows("anything"));
  }
  return 0;
}
