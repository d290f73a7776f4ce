// Unit tests for the upgrade handshake and what it is built on: SHA-1 (RFC 3174 vectors), base64
// (RFC 4648 vectors), the accept key (RFC 6455 example) and every check of RFC 6455 4.2.1.
#include "engine/codec/handshake.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "engine/codec/base64.h"
#include "engine/codec/http.h"
#include "engine/codec/sha1.h"

namespace ringcast {
namespace {

std::string hex(const std::array<uint8_t, 20>& digest) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : digest) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// --- SHA-1 ------------------------------------------------------------------------------------

TEST(Sha1, Rfc3174Vectors) {
  EXPECT_EQ(hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(hex(sha1(std::string(1000000, 'a'))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  // RFC 3174 test 4: "01234567" repeated 80 times (640 bytes).
  std::string test4;
  for (int i = 0; i < 80; ++i) test4 += "0123456701234567012345670123456701234567012345670123456701234567";
  EXPECT_EQ(hex(sha1(test4.substr(0, 640))), "dea356a2cddd90c7a7ecedc5ebb563934f460452");
}

TEST(Sha1, PaddingBoundaries) {
  // 55, 56 and 64 bytes are where the length field does or does not fit in the last block.
  EXPECT_EQ(hex(sha1(std::string(55, 'a'))), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  EXPECT_EQ(hex(sha1(std::string(56, 'a'))), "c2db330f6083854c99d4b5bfb6e8f29f201be699");
  EXPECT_EQ(hex(sha1(std::string(64, 'a'))), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
}

TEST(Sha1, IncrementalMatchesOneShot) {
  const std::string data(300, 'q');
  const auto expected = sha1(data);
  for (size_t split = 0; split <= data.size(); split += 7) {
    Sha1 h;
    h.update(std::string_view(data).substr(0, split));
    h.update(std::string_view(data).substr(split));
    EXPECT_EQ(h.finish(), expected) << split;
  }
  Sha1 h;
  for (char c : data) h.update(std::string_view(&c, 1));
  EXPECT_EQ(h.finish(), expected);
}

// --- base64 -----------------------------------------------------------------------------------

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(bytes(plain)), encoded);
    std::string out = "junk";
    ASSERT_TRUE(base64_decode(encoded, out)) << encoded;
    EXPECT_EQ(out, plain);
  }
}

TEST(Base64, AllByteValuesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 13) {
    const std::string encoded = base64_encode(bytes(std::string_view(all).substr(0, n)));
    std::string out;
    ASSERT_TRUE(base64_decode(encoded, out));
    EXPECT_EQ(out, all.substr(0, n));
  }
  EXPECT_EQ(base64_encode(bytes("\xFB\xFF")), "+/8=");
}

TEST(Base64, DecodeRejectsNonCanonicalInput) {
  std::string out;
  for (std::string_view bad : {
           "Zg", "Zg=", "Zm9", "Z", "Zm9vY",              // length not a multiple of 4
           "Zg==Zg==",                                    // padding in the middle
           "Z===", "====", "Zm=v", "=m9v",                // misplaced padding
           "Zm9v\n", "Zm 9v", "Zm9-", "Zm9_", "Zm9\x80",  // characters outside the alphabet
           "Zh==", "Zm9=",                                // non-zero bits after the last byte
       }) {
    EXPECT_FALSE(base64_decode(bad, out)) << bad;
  }
  uint8_t small[2];
  size_t n = 0;
  EXPECT_FALSE(base64_decode("Zm9v", small, n));
  EXPECT_TRUE(base64_decode("Zm8=", small, n));
  EXPECT_EQ(n, 2u);
}

// --- Accept key and 101 -----------------------------------------------------------------------

TEST(Handshake, Rfc6455AcceptKey) {
  EXPECT_EQ(handshake::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(handshake::accept_key("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(Handshake, SwitchingProtocols) {
  EXPECT_EQ(handshake::build_switching_protocols("dGhlIHNhbXBsZSBub25jZQ=="),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
}

// --- check_upgrade ----------------------------------------------------------------------------

constexpr std::string_view kRfcRequest =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

class Upgrade : public ::testing::Test {
 protected:
  handshake::UpgradeCheck check(std::string_view text) {
    text_ = text;
    const http::ParseResult r = http::parse_request(text_, http::Limits{}, req_, scratch_);
    EXPECT_EQ(r.status, http::ParseStatus::complete) << text << r.reason;
    return handshake::check_upgrade(req_);
  }
  // The RFC request with one header line replaced (or removed, when `line` is empty).
  handshake::UpgradeCheck check_with(std::string_view name, std::string_view line) {
    std::string text(kRfcRequest);
    const size_t at = text.find(std::string(name) + ":");
    EXPECT_NE(at, std::string::npos) << name;
    text.replace(at, text.find("\r\n", at) + 2 - at, line.empty() ? "" : std::string(line) + "\r\n");
    return check(text);
  }
  void expect_refused(handshake::UpgradeCheck c, int status, std::string_view reason) {
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.http_status, status);
    EXPECT_EQ(c.reason, reason);
  }

  std::string text_;
  http::Request req_;
  std::string scratch_;
};

TEST_F(Upgrade, RfcExampleIsAccepted) {
  const handshake::UpgradeCheck c = check(kRfcRequest);
  ASSERT_TRUE(c.ok) << c.reason;
  EXPECT_EQ(c.http_status, 0);
  EXPECT_EQ(c.key, "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(req_.path, "/chat");
  EXPECT_NE(handshake::build_switching_protocols(c.key).find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            std::string::npos);
}

TEST_F(Upgrade, TokenListsAndCaseAreAccepted) {
  // Firefox sends "keep-alive, Upgrade"; header names and tokens are case-insensitive.
  EXPECT_TRUE(check_with("Connection", "connection: keep-alive, Upgrade").ok);
  EXPECT_TRUE(check_with("Connection", "Connection: UPGRADE").ok);
  EXPECT_TRUE(check_with("Upgrade", "upgrade: WebSocket").ok);
  EXPECT_TRUE(check_with("Upgrade", "Upgrade: foo/1, websocket").ok);
  EXPECT_TRUE(check_with("Connection", "Connection: keep-alive\r\nConnection: upgrade").ok);
  EXPECT_TRUE(check_with("Sec-WebSocket-Version", "sec-websocket-version:13").ok);
}

TEST_F(Upgrade, MethodMustBeGet) {
  std::string text(kRfcRequest);
  text.replace(0, 3, "POST");
  expect_refused(check(text), 405, "WebSocket upgrade requires GET");
}

TEST_F(Upgrade, Http10IsRefused) {
  std::string text(kRfcRequest);
  text.replace(text.find("HTTP/1.1"), 8, "HTTP/1.0");
  expect_refused(check(text), 400, "WebSocket upgrade requires HTTP/1.1");
}

TEST_F(Upgrade, HostIsRequired) {
  expect_refused(check_with("Host", ""), 400, "missing Host");
  expect_refused(check_with("Host", "Host:"), 400, "missing Host");
}

TEST_F(Upgrade, UpgradeMustNameWebsocket) {
  expect_refused(check_with("Upgrade", ""), 426, "missing Upgrade: websocket");
  expect_refused(check_with("Upgrade", "Upgrade: h2c"), 426, "missing Upgrade: websocket");
  expect_refused(check_with("Upgrade", "Upgrade: websockets"), 426, "missing Upgrade: websocket");
  expect_refused(check_with("Upgrade", "Upgrade: web socket"), 426, "missing Upgrade: websocket");
}

TEST_F(Upgrade, ConnectionMustNameUpgrade) {
  expect_refused(check_with("Connection", ""), 400, "missing Connection: Upgrade");
  expect_refused(check_with("Connection", "Connection: keep-alive"), 400, "missing Connection: Upgrade");
  expect_refused(check_with("Connection", "Connection: upgraded"), 400, "missing Connection: Upgrade");
}

TEST_F(Upgrade, KeyMustBe16Base64Bytes) {
  expect_refused(check_with("Sec-WebSocket-Key", ""), 400, "missing Sec-WebSocket-Key");
  expect_refused(check_with("Sec-WebSocket-Key", "Sec-WebSocket-Key:"), 400, "missing Sec-WebSocket-Key");
  // 15 and 17 bytes.
  expect_refused(check_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j"), 400,
                 "invalid Sec-WebSocket-Key");
  expect_refused(check_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZWU="), 400,
                 "invalid Sec-WebSocket-Key");
  // Not base64, unpadded, non-canonical.
  expect_refused(check_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ!!"), 400,
                 "invalid Sec-WebSocket-Key");
  expect_refused(check_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"), 400,
                 "invalid Sec-WebSocket-Key");
  expect_refused(check_with("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR=="), 400,
                 "invalid Sec-WebSocket-Key");
  expect_refused(
      check_with(
          "Sec-WebSocket-Key",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw=="),
      400, "repeated Sec-WebSocket-Key");
}

TEST_F(Upgrade, VersionMustBe13) {
  expect_refused(check_with("Sec-WebSocket-Version", ""), 426, "unsupported Sec-WebSocket-Version");
  expect_refused(check_with("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), 426,
                 "unsupported Sec-WebSocket-Version");
  expect_refused(check_with("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8"), 426,
                 "unsupported Sec-WebSocket-Version");
  expect_refused(check_with("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8"),
                 426, "unsupported Sec-WebSocket-Version");
}

TEST(HandshakeErrors, ResponsesCarryTheRequiredHeaders) {
  const std::string r426 = handshake::build_error_response(426, "unsupported Sec-WebSocket-Version");
  const std::string body = "{\"error\":\"unsupported Sec-WebSocket-Version\"}";
  EXPECT_EQ(r426, "HTTP/1.1 426 Upgrade Required\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(body.size()) +
                      "\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n\r\n" +
                      body);
  const std::string r405 = handshake::build_error_response(405, "WebSocket upgrade requires GET");
  EXPECT_EQ(r405.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u);
  EXPECT_NE(r405.find("\r\nAllow: GET\r\n"), std::string::npos);
  EXPECT_NE(r405.find("\r\nConnection: close\r\n"), std::string::npos);
  const std::string r400 = handshake::build_error_response(400, "missing Host");
  EXPECT_EQ(r400.find("Sec-WebSocket-Version"), std::string::npos);
  EXPECT_EQ(r400.find("Allow:"), std::string::npos);
  EXPECT_NE(r400.find("\r\n\r\n{\"error\":\"missing Host\"}"), std::string::npos);
}

}  // namespace
}  // namespace ringcast
