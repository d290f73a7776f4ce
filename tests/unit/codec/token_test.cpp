// Connect tokens (engine/codec/token.h): the jwt.io HS256 vector, every refusal, room grants, base64url.
#include "engine/codec/token.h"

#include <gtest/gtest.h>

#include "engine/codec/base64.h"

namespace {

using ringcast::TokenError;
using ringcast::TokenGrant;

constexpr int64_t kNow = 1800000000;  // 2027-01-15

TEST(Token, VerifiesTheJwtIoExample) {
  // https://jwt.io's default token: HS256 over {"sub":"1234567890","name":"John Doe","iat":1516239022}.
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIy"
      "fQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  TokenGrant grant;
  EXPECT_EQ(ringcast::verify_token(token, "your-256-bit-secret", kNow, grant), TokenError::none);
  EXPECT_EQ(grant.user, "1234567890");
  EXPECT_TRUE(grant.any_room);
  EXPECT_EQ(ringcast::verify_token(token, "another-secret", kNow, grant), TokenError::bad_signature);
}

TEST(Token, MadeTokensRoundTripWithTheirClaims) {
  const std::string token =
      ringcast::make_token(R"({"sub":"ann","exp":1800000100,"rooms":["lobby","game-*"]})", "s3cret");
  TokenGrant grant;
  ASSERT_EQ(ringcast::verify_token(token, "s3cret", kNow, grant), TokenError::none);
  EXPECT_EQ(grant.user, "ann");
  EXPECT_EQ(grant.expires_s, 1800000100);
  EXPECT_FALSE(grant.any_room);
  EXPECT_TRUE(grant.allows("lobby"));
  EXPECT_TRUE(grant.allows("game-7"));
  EXPECT_TRUE(grant.allows("game-"));
  EXPECT_FALSE(grant.allows("lobby2"));
  EXPECT_FALSE(grant.allows("gam"));
  EXPECT_FALSE(grant.allows("other"));
  EXPECT_EQ(ringcast::verify_token(token, "s3cret", 1800000100, grant), TokenError::expired);
}

TEST(Token, RefusesWhatItMust) {
  TokenGrant grant;
  EXPECT_EQ(ringcast::verify_token("", "k", kNow, grant), TokenError::malformed);
  EXPECT_EQ(ringcast::verify_token("a.b", "k", kNow, grant), TokenError::malformed);
  EXPECT_EQ(ringcast::verify_token("a.b.c.d", "k", kNow, grant), TokenError::malformed);
  EXPECT_EQ(ringcast::verify_token("!!.e30.e30", "k", kNow, grant), TokenError::malformed);
  // alg "none" and other algorithms are refused before any claim is read.
  const std::string none = ringcast::base64url_encode(R"({"alg":"none"})") + "." +
                           ringcast::base64url_encode(R"({"sub":"x"})") + ".";
  EXPECT_EQ(ringcast::verify_token(none, "k", kNow, grant), TokenError::bad_algorithm);
  const std::string rs = ringcast::base64url_encode(R"({"alg":"RS256"})") + ".e30.e30";
  EXPECT_EQ(ringcast::verify_token(rs, "k", kNow, grant), TokenError::bad_algorithm);
  // A changed claim breaks the signature.
  std::string token = ringcast::make_token(R"({"sub":"ann"})", "k");
  const size_t dot = token.find('.');
  token.replace(dot + 1, token.find('.', dot + 1) - dot - 1, ringcast::base64url_encode(R"({"sub":"bob"})"));
  EXPECT_EQ(ringcast::verify_token(token, "k", kNow, grant), TokenError::bad_signature);
  EXPECT_EQ(ringcast::verify_token(ringcast::make_token(R"({"nbf":1800000500})", "k"), "k", kNow, grant),
            TokenError::not_yet_valid);
  EXPECT_EQ(ringcast::verify_token(ringcast::make_token(R"({"rooms":[1]})", "k"), "k", kNow, grant),
            TokenError::malformed);
  EXPECT_EQ(ringcast::verify_token(ringcast::make_token(R"([1])", "k"), "k", kNow, grant), TokenError::malformed);
  TokenGrant all;
  EXPECT_EQ(ringcast::verify_token(ringcast::make_token(R"({"rooms":["*"]})", "k"), "k", kNow, all), TokenError::none);
  EXPECT_TRUE(all.allows("anything"));
}

TEST(Token, Base64UrlRoundTripsAndRejectsNonCanonical) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"}) {
    std::string back;
    ASSERT_TRUE(ringcast::base64url_decode(ringcast::base64url_encode(s), back)) << s;
    EXPECT_EQ(back, s);
  }
  EXPECT_EQ(ringcast::base64url_encode("\xfb\xff"), "-_8");
  std::string out;
  EXPECT_FALSE(ringcast::base64url_decode("Zg=", out));   // padding is not base64url
  EXPECT_FALSE(ringcast::base64url_decode("Zh", out));    // non-zero leftover bits
  EXPECT_FALSE(ringcast::base64url_decode("Z", out));     // impossible length
  EXPECT_TRUE(ringcast::base64url_decode("Zg", out));
  EXPECT_EQ(out, "f");
}

}  // namespace
