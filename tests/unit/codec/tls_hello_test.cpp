// The first bytes on a TLS listener (engine/codec/tls_hello.h): a handshake record, plain HTTP, or
// anything else, at every split point.
#include "engine/codec/tls_hello.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast::tls {
namespace {

FirstBytes classify(const std::string& s) {
  return classify_first_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(TlsHello, HandshakeRecords) {
  EXPECT_EQ(classify(std::string("\x16\x03\x01\x02\x00", 5)), FirstBytes::handshake);
  EXPECT_EQ(classify(std::string("\x16\x03\x03\x00\x30", 5)), FirstBytes::handshake);
  EXPECT_EQ(classify(std::string("\x16\x03", 2)), FirstBytes::need_more);
  EXPECT_EQ(classify(std::string("\x16\x02\x01\x02\x00", 5)), FirstBytes::other) << "SSL 2";
  EXPECT_EQ(classify(std::string("\x16\x03\x01\x00\x00", 5)), FirstBytes::other) << "empty record";
  EXPECT_EQ(classify(std::string("\x16\x03\x01\x40\x01", 5)), FirstBytes::other) << "over 2^14";
}

TEST(TlsHello, PlainHttpAtEverySplit) {
  for (const std::string request : {"GET / HTTP/1.1\r\n", "POST /push/room HTTP/1.1\r\n", "OPTIONS * HTTP/1.1\r\n"}) {
    const size_t method = request.find(' ');
    for (size_t n = 1; n <= request.size(); ++n)
      EXPECT_EQ(classify(request.substr(0, n)), n <= method ? FirstBytes::need_more : FirstBytes::plaintext_http)
          << request.substr(0, n);
  }
  EXPECT_EQ(classify("G "), FirstBytes::other) << "too short for a method";
  EXPECT_EQ(classify("get / HTTP/1.1"), FirstBytes::other);
  EXPECT_EQ(classify(std::string(20, 'A')), FirstBytes::other);
  EXPECT_EQ(classify(""), FirstBytes::need_more);
}

TEST(TlsHello, TheAnswerIsAClearPlainHttpError) {
  const std::string answer = plaintext_http_answer();
  EXPECT_EQ(answer.rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_NE(answer.find("application/json"), std::string::npos);
  EXPECT_NE(answer.find("use https:// or wss://"), std::string::npos);
}

}  // namespace
}  // namespace ringcast::tls
