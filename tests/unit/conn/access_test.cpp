// Access control (engine/conn/access.h): bearer credentials, the constant-time secret compare, the Origin
// allowlist, where a connect token is found in an upgrade request, the shard's shared grant table,
// and the room name charsets (engine/broadcast/publish.h) that JOIN and the push API share.
#include "engine/conn/access.h"

#include <gtest/gtest.h>

#include <string>

#include "engine/broadcast/publish.h"
#include "engine/config.h"

namespace ringcast {
namespace {

TEST(Bearer, CredentialsAfterTheSchemeInAnyCase) {
  EXPECT_EQ(bearer_credentials("Bearer abc.def"), "abc.def");
  EXPECT_EQ(bearer_credentials("bearer   abc "), "abc");
  EXPECT_EQ(bearer_credentials("BEARER\tabc"), "abc");
  EXPECT_EQ(bearer_credentials(" Bearer abc"), "abc");
}

TEST(Bearer, OtherSchemesAndEmptyCredentialsAreNothing) {
  EXPECT_EQ(bearer_credentials(""), "");
  EXPECT_EQ(bearer_credentials("Bearer"), "");
  EXPECT_EQ(bearer_credentials("Bearer   "), "");
  EXPECT_EQ(bearer_credentials("Bearerabc"), "");
  EXPECT_EQ(bearer_credentials("Basic YWxhZGRpbjpvcGVu"), "");
  EXPECT_EQ(bearer_credentials("Token abc"), "");
}

TEST(SecretEquals, OnlyTheExactSecret) {
  EXPECT_TRUE(secret_equals("0123456789abcdef", "0123456789abcdef"));
  EXPECT_FALSE(secret_equals("0123456789abcdeF", "0123456789abcdef"));
  EXPECT_FALSE(secret_equals("0123456789abcde", "0123456789abcdef"));
  EXPECT_FALSE(secret_equals("0123456789abcdef0", "0123456789abcdef"));
  EXPECT_FALSE(secret_equals("", "0123456789abcdef"));
  EXPECT_TRUE(secret_equals("", ""));
}

TEST(SplitList, TrimsAndDropsEmptyItems) {
  EXPECT_EQ(split_list(""), std::vector<std::string>{});
  EXPECT_EQ(split_list(" a , b,,c ,"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Origin, ExactEntriesIgnoreCase) {
  const std::vector<std::string> allowed = {"https://app.example.com", "http://localhost:8080"};
  EXPECT_TRUE(origin_allowed("https://app.example.com", allowed));
  EXPECT_TRUE(origin_allowed("HTTPS://App.Example.com", allowed));
  EXPECT_TRUE(origin_allowed("http://localhost:8080", allowed));
  EXPECT_FALSE(origin_allowed("http://localhost:8081", allowed));
  EXPECT_FALSE(origin_allowed("http://app.example.com", allowed));  // another scheme
  EXPECT_FALSE(origin_allowed("https://app.example.com.evil.net", allowed));
  EXPECT_FALSE(origin_allowed("https://evil-app.example.com", allowed));
  EXPECT_FALSE(origin_allowed("null", allowed));
  EXPECT_FALSE(origin_allowed("null", {}));
}

TEST(Origin, WildcardEntriesAllowSubdomainsOnly) {
  const std::vector<std::string> allowed = {"https://*.example.com"};
  EXPECT_TRUE(origin_allowed("https://a.example.com", allowed));
  EXPECT_TRUE(origin_allowed("https://a.b.example.com", allowed));
  EXPECT_FALSE(origin_allowed("https://example.com", allowed));
  EXPECT_FALSE(origin_allowed("https://.example.com", allowed));
  EXPECT_FALSE(origin_allowed("https://evilexample.com", allowed));
  EXPECT_FALSE(origin_allowed("http://a.example.com", allowed));
  EXPECT_FALSE(origin_allowed("https://a.example.com:8443", allowed));
  EXPECT_FALSE(origin_allowed("https://evil.net/.example.com", allowed));
  EXPECT_FALSE(origin_allowed("https://user@a.example.com", allowed));
  EXPECT_TRUE(origin_allowed("https://a.example.com:8443", {"https://*.example.com:8443"}));
}

TEST(Origin, StarAndNullEntries) {
  EXPECT_TRUE(origin_allowed("https://anything.net", {"*"}));
  EXPECT_TRUE(origin_allowed("null", {"null"}));
}

http::Request request_with(std::string_view query, std::string_view authorization, std::string& head) {
  head = "GET /connect";
  if (!query.empty()) head += "?" + std::string(query);
  head += " HTTP/1.1\r\nHost: x\r\n";
  if (!authorization.empty()) head += "Authorization: " + std::string(authorization) + "\r\n";
  head += "\r\n";
  http::Request req;
  std::string scratch;
  EXPECT_EQ(http::parse_request(head, http::Limits{}, req, scratch).status, http::ParseStatus::complete);
  return req;
}

TEST(ConnectToken, QueryFirstThenBearerHeader) {
  std::string head, storage;
  bool malformed = true;
  http::Request req = request_with("a=1&token=abc%2Edef", "Bearer zzz", head);
  EXPECT_EQ(connect_token(req, storage, malformed), "abc.def");
  EXPECT_FALSE(malformed);
  req = request_with("a=1", "Bearer zzz", head);
  EXPECT_EQ(connect_token(req, storage, malformed), "zzz");
  req = request_with("", "", head);
  EXPECT_EQ(connect_token(req, storage, malformed), "");
  req = request_with("token=%zz", "Bearer zzz", head);
  EXPECT_EQ(connect_token(req, storage, malformed), "");
  EXPECT_TRUE(malformed);
}

TokenGrant grant_of(std::vector<std::string> rooms) {
  TokenGrant g;
  g.rooms = std::move(rooms);
  return g;
}

TEST(GrantTable, AnyRoomNeedsNoEntry) {
  GrantTable t;
  TokenGrant any;
  any.any_room = true;
  EXPECT_EQ(t.acquire(any), GrantTable::kNone);
  EXPECT_EQ(t.live(), 0u);
  EXPECT_TRUE(t.allows(GrantTable::kNone, "whatever"));
  t.release(GrantTable::kNone);  // a no-op
}

TEST(GrantTable, IdenticalGrantsShareAnEntryUntilTheLastRelease) {
  GrantTable t;
  const uint32_t a = t.acquire(grant_of({"lobby", "news-*"}));
  const uint32_t b = t.acquire(grant_of({"news-*", "lobby"}));  // same set, another order
  const uint32_t c = t.acquire(grant_of({"lobby"}));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(t.live(), 2u);
  EXPECT_TRUE(t.allows(a, "lobby"));
  EXPECT_TRUE(t.allows(a, "news-sport"));
  EXPECT_FALSE(t.allows(a, "news"));
  EXPECT_FALSE(t.allows(c, "news-sport"));
  t.release(a);
  EXPECT_TRUE(t.allows(b, "lobby"));  // b still holds it
  t.release(b);
  EXPECT_EQ(t.live(), 1u);
  EXPECT_FALSE(t.allows(a, "lobby"));  // freed: allows nothing
  const uint32_t d = t.acquire(grant_of({"other"}));
  EXPECT_EQ(d, a);  // the slot is reused
  EXPECT_TRUE(t.allows(d, "other"));
  EXPECT_FALSE(t.allows(d, "lobby"));
}

TEST(GrantTable, RoomNamesCannotImitateTheKeySeparator) {
  GrantTable t;
  const uint32_t a = t.acquire(grant_of({"a", "b"}));
  const uint32_t b = t.acquire(grant_of({"1:a1:b"}));
  EXPECT_NE(a, b);
  const uint32_t empty = t.acquire(grant_of({}));  // "rooms": [] allows no room
  EXPECT_FALSE(t.allows(empty, "a"));
}

TEST(RoomCharset, Utf8RefusesControlCharactersIncludingC1) {
  EXPECT_TRUE(room_name_valid("lobby", 128));
  EXPECT_TRUE(room_name_valid("caf\xc3\xa9 au lait", 128));
  EXPECT_TRUE(room_name_valid("a.b*>", 128));     // one NATS token in cluster mode (base64url)
  EXPECT_TRUE(room_name_valid("\xc2\xa0", 128));  // U+00A0, just past C1
  EXPECT_FALSE(room_name_valid("a\x1b[31m", 128));
  EXPECT_FALSE(room_name_valid("a\x7f", 128));
  EXPECT_FALSE(room_name_valid("a\xc2\x85", 128));  // U+0085 NEL
  EXPECT_FALSE(room_name_valid("a\xc2\x9b", 128));  // U+009B CSI
  EXPECT_FALSE(room_name_valid("\xc3", 128));
  EXPECT_FALSE(room_name_valid("", 128));
  EXPECT_FALSE(room_name_valid("abcde", 4));
}

TEST(RoomCharset, AsciiIsPrintableWithoutSpace) {
  EXPECT_TRUE(room_name_valid("user:42/news-sport_v2.*", 128, RoomCharset::ascii));
  EXPECT_TRUE(room_name_valid("!~", 128, RoomCharset::ascii));
  EXPECT_FALSE(room_name_valid("a b", 128, RoomCharset::ascii));
  EXPECT_FALSE(room_name_valid("caf\xc3\xa9", 128, RoomCharset::ascii));
  EXPECT_FALSE(room_name_valid("a\t", 128, RoomCharset::ascii));
  EXPECT_FALSE(room_name_valid("a\x7f", 128, RoomCharset::ascii));
}

TEST(RoomCharset, Parsing) {
  RoomCharset c = RoomCharset::utf8;
  EXPECT_TRUE(parse_room_charset("ascii", c));
  EXPECT_EQ(c, RoomCharset::ascii);
  EXPECT_TRUE(parse_room_charset("utf8", c));
  EXPECT_EQ(c, RoomCharset::utf8);
  EXPECT_FALSE(parse_room_charset("UTF-8", c));
  EXPECT_NE(room_name_rule_text(RoomCharset::ascii), room_name_rule_text(RoomCharset::utf8));
}

}  // namespace
}  // namespace ringcast
