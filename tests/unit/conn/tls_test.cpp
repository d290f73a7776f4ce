// TlsStreams (engine/conn/tls.h) against a real OpenSSL client over memory: the handshake, plaintext
// both ways in pieces of any size, frames encrypted into records, ciphertext that stays put while a
// send is in flight, and every way a connection fails (garbage, plain HTTP, an oversized hello, a
// record that does not decrypt) ending in the right verdict and counter.
#include "engine/conn/tls.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>

#include "tests/unit/tls_cert.h"

namespace ringcast {
namespace {

class TlsStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_ = testing::make_test_cert_files();
    std::string error;
    TlsTicketKeys keys{};
    SSL_CTX* server = make_tls_server_context(TlsFiles{files_.cert, files_.key}, keys, error);
    ASSERT_NE(server, nullptr) << error;
    tls_.attach(server, nullptr, &mailbox_);
    client_ctx_ = SSL_CTX_new(TLS_client_method());
    ASSERT_EQ(SSL_CTX_load_verify_locations(client_ctx_, files_.cert.c_str(), nullptr), 1);
    SSL_CTX_set_verify(client_ctx_, SSL_VERIFY_PEER, nullptr);
    tls_.open(kId, TlsListener::client, 8);
  }
  void TearDown() override {
    if (client_) SSL_free(client_);
    SSL_CTX_free(client_ctx_);
  }

  // A client over two memory BIOs: what it writes is taken from `to_server_`.
  void make_client() {
    client_ = SSL_new(client_ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(client_, in_, out_);
    SSL_set_tlsext_host_name(client_, "localhost");
    SSL_set1_host(client_, "localhost");
    SSL_set_connect_state(client_);
  }
  std::string client_output() {
    std::string bytes(static_cast<size_t>(BIO_pending(out_)), '\0');
    if (!bytes.empty()) BIO_read(out_, bytes.data(), static_cast<int>(bytes.size()));
    return bytes;
  }
  // The server's ciphertext, as its sends would carry it, to the client.
  void deliver_server_output() {
    while (tls_.has_output(kId)) {
      const uint8_t* data = nullptr;
      size_t len = 0;
      tls_.output(kId, data, len);
      BIO_write(in_, data, static_cast<int>(len));
      tls_.sent(kId, len);
    }
  }
  // Feeds `bytes` in pieces of `piece`; returns the plaintext the server read and the last verdict.
  TlsInput feed(const std::string& bytes, size_t piece, std::string* plain = nullptr) {
    TlsInput last = TlsInput::more;
    for (size_t at = 0; at < bytes.size(); at += piece) {
      const std::string part = bytes.substr(at, piece);
      last = tls_.feed(kId, reinterpret_cast<const uint8_t*>(part.data()), part.size());
      if (last == TlsInput::plaintext) {
        uint8_t* data = nullptr;
        while (size_t n = tls_.read_plaintext(kId, data))
          if (plain) plain->append(reinterpret_cast<char*>(data), n);
      }
      if (last == TlsInput::failed || last == TlsInput::plaintext_http) return last;
    }
    return last;
  }
  void handshake(size_t piece = 100000) {
    make_client();
    ASSERT_EQ(SSL_do_handshake(client_), -1);  // wants the server's answer
    feed(client_output(), piece);
    deliver_server_output();
    ASSERT_EQ(SSL_do_handshake(client_), 1);
    feed(client_output(), piece);  // the client's Finished
    ASSERT_TRUE(tls_.established(kId));
    deliver_server_output();  // (the session ticket)
  }
  std::string client_read() {
    std::string got;
    char buf[4096];
    int n;
    while ((n = SSL_read(client_, buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
    return got;
  }

  static constexpr uint32_t kId = 3;
  testing::TestCertFiles files_;
  ShardStats stats_{};
  TlsMailbox mailbox_;
  TlsStreams tls_{stats_};
  SSL_CTX* client_ctx_ = nullptr;
  SSL* client_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

TEST_F(TlsStreamsTest, HandshakeThenPlaintextBothWays) {
  handshake();
  EXPECT_EQ(stats_.get(Counter::tls_handshakes), 1);
  EXPECT_EQ(stats_.get(Counter::tls_open), 1);
  const std::string request = "GET /connect HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ASSERT_EQ(SSL_write(client_, request.data(), static_cast<int>(request.size())), static_cast<int>(request.size()));
  std::string plain;
  EXPECT_EQ(feed(client_output(), 100000, &plain), TlsInput::plaintext);
  EXPECT_EQ(plain, request);

  // Frames from the out-queue: many small ones and one larger than a record, in order.
  std::string a(100, 'a'), b(40000, 'b'), c(7, 'c');
  iovec iov[3] = {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
  tls_.encrypt(kId, iov, 3);
  deliver_server_output();
  EXPECT_EQ(client_read(), a + b + c);
  tls_.release(kId);
  EXPECT_EQ(stats_.get(Counter::tls_open), 0);
}

TEST_F(TlsStreamsTest, ByteByByteHandshakeAndRecords) {
  handshake(1);
  const std::string message(5000, 'm');
  SSL_write(client_, message.data(), static_cast<int>(message.size()));
  std::string plain;
  feed(client_output(), 3, &plain);
  EXPECT_EQ(plain, message);
}

TEST_F(TlsStreamsTest, CiphertextInFlightStaysPutWhileMoreIsWritten) {
  handshake();
  std::string first(3000, '1'), second(3000, '2');
  iovec one = {first.data(), first.size()};
  tls_.encrypt(kId, &one, 1);
  const uint8_t* data = nullptr;
  size_t len = 0;
  tls_.output(kId, data, len);  // a send takes these bytes
  const std::string in_flight(reinterpret_cast<const char*>(data), len);
  iovec two = {second.data(), second.size()};
  tls_.encrypt(kId, &two, 1);  // written meanwhile
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(data), len), in_flight) << "moved under the send";
  EXPECT_GT(tls_.output_bytes(kId), len + second.size()) << "the send's bytes and the next ones";
  tls_.sent(kId, len / 2);  // a short send
  const uint8_t* rest = nullptr;
  size_t rest_len = 0;
  tls_.output(kId, rest, rest_len);
  EXPECT_EQ(rest, data + len / 2);
  EXPECT_EQ(rest_len, len - len / 2);
  BIO_write(in_, data, static_cast<int>(len));
  tls_.sent(kId, rest_len);
  deliver_server_output();
  EXPECT_EQ(client_read(), first + second);
}

TEST_F(TlsStreamsTest, PlainHttpIsRecognisedBeforeOpenSsl) {
  const std::string request = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(feed(request, 100), TlsInput::plaintext_http);
  EXPECT_EQ(stats_.get(Counter::tls_plaintext_refused), 1);
  EXPECT_EQ(stats_.get(Counter::tls_handshakes_failed), 0);
}

TEST_F(TlsStreamsTest, GarbageFailsTheHandshake) {
  const std::string garbage = "\x16\x03\x01\x00\x10" + std::string(16, '\xff') + std::string(64, 'z');
  EXPECT_EQ(feed(garbage, 1000), TlsInput::failed);
  EXPECT_EQ(stats_.get(Counter::tls_handshakes_failed), 1);
  EXPECT_TRUE(tls_.has_output(kId)) << "an alert for the client";
  EXPECT_EQ(tls_.feed(kId, reinterpret_cast<const uint8_t*>("x"), 1), TlsInput::failed) << "stays failed";
}

TEST_F(TlsStreamsTest, AnOversizedHandshakeIsRefused) {
  // A plausible record header followed by more than a handshake may take, never completing a record.
  std::string bytes = "\x16\x03\x01\x40\x00";
  bytes += std::string(limits::kTlsHandshakeBytesMax, '\x01');
  EXPECT_EQ(feed(bytes, 1000), TlsInput::failed);
  EXPECT_EQ(stats_.get(Counter::tls_handshakes_failed), 1);
}

TEST_F(TlsStreamsTest, ARecordThatDoesNotDecryptEndsTheConnection) {
  handshake();
  SSL_write(client_, "hello", 5);
  std::string record = client_output();
  record[record.size() - 1] ^= 0x55;  // the tag no longer matches
  EXPECT_EQ(feed(record, 1000), TlsInput::plaintext);
  EXPECT_TRUE(tls_.failed(kId));
  EXPECT_EQ(stats_.get(Counter::tls_record_errors), 1);
}

TEST_F(TlsStreamsTest, CloseNotifyIsThePeerClosing) {
  handshake();
  SSL_shutdown(client_);
  feed(client_output(), 1000);
  EXPECT_TRUE(tls_.peer_closed(kId));
}

TEST_F(TlsStreamsTest, AReloadedContextServesTheNextConnection) {
  handshake();
  X509* before = SSL_get_peer_certificate(client_);
  // A new certificate posted to the mailbox (what SIGHUP does) is taken at the next connection.
  const testing::TestCertFiles fresh = testing::make_test_cert_files();
  std::string error;
  SSL_CTX* ctx = make_tls_server_context(TlsFiles{fresh.cert, fresh.key}, TlsTicketKeys{}, error);
  ASSERT_NE(ctx, nullptr) << error;
  mailbox_.posted[0].store(ctx);
  tls_.release(kId);
  tls_.open(kId, TlsListener::client, 8);
  SSL_free(client_);
  // (Both test certificates have one name and serial: a fresh client trusts only the new one.)
  SSL_CTX_free(client_ctx_);
  client_ctx_ = SSL_CTX_new(TLS_client_method());
  ASSERT_EQ(SSL_CTX_load_verify_locations(client_ctx_, fresh.cert.c_str(), nullptr), 1);
  SSL_CTX_set_verify(client_ctx_, SSL_VERIFY_PEER, nullptr);
  handshake();
  X509* after = SSL_get_peer_certificate(client_);
  EXPECT_NE(X509_cmp(before, after), 0);
  EXPECT_EQ(mailbox_.posted[0].load(), nullptr) << "taken";
  X509_free(before);
  X509_free(after);
}

}  // namespace
}  // namespace ringcast
