// TlsStreams (engine/conn/tls.h) against a real OpenSSL client over memory: the handshake, plaintext
// both ways in pieces of any size, frames encrypted into records, ciphertext that stays put while a
// send is in flight, and every way a connection fails (garbage, plain HTTP, an oversized hello, a
// record that does not decrypt) ending in the right verdict and counter. After the handshake our own
// record layer (tls_records.h) takes over for AEAD suites: every suite of TLS 1.2 and 1.3 is checked
// against OpenSSL's client both ways, with KeyUpdate, close_notify and resumption. Where the kernel
// offers kTLS, the sending keys then go to it over a real loopback TCP connection, every suite again
// (skipped elsewhere, as on this project's machines: tests/vm/run.sh runs them under a kernel that has
// it); a hand-off the kernel refuses is checked everywhere.
#include "engine/conn/tls.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/unit/tls_cert.h"

namespace ringcast {
namespace {

class TlsStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_ = testing::make_test_cert_files();
    std::string error;
    TlsTicketKeys keys{};
    RAND_bytes(keys.bytes, sizeof(keys.bytes));
    SSL_CTX* server = make_tls_server_context(TlsFiles{files_.cert, files_.key}, keys, error);
    ASSERT_NE(server, nullptr) << error;
    tls_.attach(server, nullptr, &mailbox_, kernel());
    client_ctx_ = SSL_CTX_new(TLS_client_method());
    ASSERT_EQ(SSL_CTX_load_verify_locations(client_ctx_, files_.cert.c_str(), nullptr), 1);
    SSL_CTX_set_verify(client_ctx_, SSL_VERIFY_PEER, nullptr);
    tls_.open(kId, TlsListener::client, 8);
  }
  void TearDown() override {
    if (client_) SSL_free(client_);
    SSL_CTX_free(client_ctx_);
  }
  virtual bool kernel() const { return false; }

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
  // Flights back and forth until both sides are done (TLS 1.3: one round trip; TLS 1.2: two).
  // With `session`, the client offers it (a resumption).
  void handshake(size_t piece = 100000, SSL_SESSION* session = nullptr) {
    make_client();
    if (session) SSL_set_session(client_, session);
    int r = SSL_do_handshake(client_);
    ASSERT_EQ(r, -1);  // wants the server's answer
    for (int flight = 0; flight < 4 && (r != 1 || !tls_.established(kId)); ++flight) {
      feed(client_output(), piece);
      deliver_server_output();
      r = SSL_do_handshake(client_);
    }
    ASSERT_EQ(r, 1);
    feed(client_output(), piece);  // (anything the client still had to say)
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

  // The client offers only `suite` (TLS 1.3 name) or `cipher` (TLS 1.2 name) at `version`.
  void restrict_client(int version, const char* suite, const char* cipher) {
    SSL_CTX_set_min_proto_version(client_ctx_, version);
    SSL_CTX_set_max_proto_version(client_ctx_, version);
    if (suite) {
      ASSERT_EQ(SSL_CTX_set_ciphersuites(client_ctx_, suite), 1);
    }
    if (cipher) {
      ASSERT_EQ(SSL_CTX_set_cipher_list(client_ctx_, cipher), 1);
    }
  }
  // Plaintext both ways: a request (with `tail`, across records) fed in pieces of `piece`, then frames
  // from the out-queue, many small ones and one larger than a record, in order.
  void exchange_both_ways(const std::string& tail = std::string(20000, 'q'), size_t piece = 777) {
    const std::string request = "GET /connect HTTP/1.1\r\nHost: localhost\r\n\r\n" + tail;
    ASSERT_EQ(SSL_write(client_, request.data(), static_cast<int>(request.size())), static_cast<int>(request.size()));
    std::string plain;
    EXPECT_EQ(feed(client_output(), piece, &plain), TlsInput::plaintext);
    EXPECT_EQ(plain, request);
    std::string a(100, 'a'), b(40000, 'b'), c(7, 'c');
    iovec iov[3] = {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
    tls_.encrypt(kId, iov, 3);
    deliver_server_output();
    EXPECT_EQ(client_read(), a + b + c);
    EXPECT_FALSE(tls_.failed(kId));
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
  exchange_both_ways("", 100000);
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

struct Suite {
  int version;
  const char* suite;   // TLS 1.3
  const char* cipher;  // TLS 1.2
};

class TlsOwnRecordsTest : public TlsStreamsTest, public ::testing::WithParamInterface<Suite> {};

TEST_P(TlsOwnRecordsTest, TheKeysAreTakenAndRecordsFlowBothWays) {
  restrict_client(GetParam().version, GetParam().suite, GetParam().cipher);
  handshake();
  EXPECT_TRUE(tls_.offloaded(kId)) << "an AEAD suite: OpenSSL's SSL is freed";
  EXPECT_EQ(stats_.get(Counter::tls_own_records), 1);
  exchange_both_ways();
  exchange_both_ways();  // (sequence numbers move on)
  EXPECT_TRUE(tls_.close_notify(kId));
  deliver_server_output();
  char byte;
  EXPECT_EQ(SSL_read(client_, &byte, 1), 0);
  EXPECT_EQ(SSL_get_error(client_, 0), SSL_ERROR_ZERO_RETURN) << "the client read our close_notify";
  tls_.release(kId);
  EXPECT_EQ(stats_.get(Counter::tls_own_records), 0);
}

TEST_P(TlsOwnRecordsTest, AResumedSessionIsTakenOverToo) {
  restrict_client(GetParam().version, GetParam().suite, GetParam().cipher);
  handshake();
  client_read();  // (TLS 1.3: the ticket arrives after the handshake)
  SSL_SESSION* session = SSL_get1_session(client_);
  ASSERT_NE(session, nullptr);
  tls_.release(kId);
  tls_.open(kId, TlsListener::client, 8);
  SSL_shutdown(client_);  // (freed without it, OpenSSL marks the session not resumable)
  SSL_free(client_);
  client_ = nullptr;
  handshake(100000, session);
  SSL_SESSION_free(session);
  EXPECT_EQ(SSL_session_reused(client_), 1);
  EXPECT_EQ(stats_.get(Counter::tls_resumed), 1);
  EXPECT_TRUE(tls_.offloaded(kId));
  exchange_both_ways();
}

TEST_P(TlsOwnRecordsTest, APeerAlertEndsTheConnection) {
  restrict_client(GetParam().version, GetParam().suite, GetParam().cipher);
  handshake();
  SSL_shutdown(client_);
  EXPECT_EQ(feed(client_output(), 3), TlsInput::plaintext);
  EXPECT_TRUE(tls_.peer_closed(kId));
  EXPECT_EQ(feed("x", 1), TlsInput::closed);
  EXPECT_EQ(stats_.get(Counter::tls_record_errors), 0);
}

// Every AEAD suite of TLS 1.3 and 1.2, named for the test list.
const auto kAeadSuites = ::testing::Values(Suite{TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", nullptr},
                                           Suite{TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", nullptr},
                                           Suite{TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", nullptr},
                                           Suite{TLS1_2_VERSION, nullptr, "ECDHE-ECDSA-AES128-GCM-SHA256"},
                                           Suite{TLS1_2_VERSION, nullptr, "ECDHE-ECDSA-AES256-GCM-SHA384"},
                                           Suite{TLS1_2_VERSION, nullptr, "ECDHE-ECDSA-CHACHA20-POLY1305"});
std::string suite_name(const ::testing::TestParamInfo<Suite>& info) {
  std::string name = info.param.suite ? info.param.suite : info.param.cipher;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Suites, TlsOwnRecordsTest, kAeadSuites, suite_name);

// A sent ciphertext buffer is kept for the next send of its size class, not freed and made again
// (a broadcast seals one per member: malloc and fresh pages for each cost more than the cipher).
TEST_F(TlsStreamsTest, ASentBufferIsReusedByTheNextSend) {
  handshake();
  ASSERT_TRUE(tls_.offloaded(kId));
  std::string frame(3000, 'r');
  iovec iov = {frame.data(), frame.size()};
  const uint8_t* first = nullptr;
  size_t len = 0;
  std::vector<void*> squatters;
  for (int round = 0; round < 3; ++round) {
    tls_.encrypt(kId, &iov, 1);
    const uint8_t* data = nullptr;
    tls_.output(kId, data, len);
    if (round == 0) first = data;
    EXPECT_EQ(data, first) << "round " << round;
    BIO_write(in_, data, static_cast<int>(len));
    tls_.sent(kId, len);
    EXPECT_EQ(client_read(), frame);
    // Were the buffer freed, malloc would hand this block (its size class) the same memory.
    squatters.push_back(std::malloc(4096));
  }
  for (void* squatter : squatters) std::free(squatter);
  // The seal budget of a flush counts what was sealed.
  tls_.new_flush();
  EXPECT_TRUE(tls_.may_seal());
  std::string big(limits::kTlsSealBytesPerFlush, 'b');
  iovec whole = {big.data(), big.size()};
  tls_.encrypt(kId, &whole, 1);
  EXPECT_FALSE(tls_.may_seal());
  tls_.new_flush();
  EXPECT_TRUE(tls_.may_seal());
}

TEST_F(TlsStreamsTest, ACbcSuiteStaysWithOpenSsl) {
  restrict_client(TLS1_2_VERSION, nullptr, "ECDHE-ECDSA-AES128-SHA");
  handshake();
  EXPECT_FALSE(tls_.offloaded(kId));
  EXPECT_EQ(stats_.get(Counter::tls_own_records), 0);
  exchange_both_ways();
  EXPECT_TRUE(tls_.close_notify(kId));
  deliver_server_output();
  char byte;
  EXPECT_EQ(SSL_read(client_, &byte, 1), 0);
}

TEST_F(TlsStreamsTest, AKeyUpdateMovesBothDirectionsOn) {
  restrict_client(TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", nullptr);
  handshake();
  ASSERT_TRUE(tls_.offloaded(kId));
  client_read();  // (the session ticket)
  // update_requested: the server must answer with its own KeyUpdate and send under its next keys.
  ASSERT_EQ(SSL_key_update(client_, SSL_KEY_UPDATE_REQUESTED), 1);
  ASSERT_EQ(SSL_write(client_, "after", 5), 5);
  std::string plain;
  EXPECT_EQ(feed(client_output(), 2, &plain), TlsInput::plaintext);
  EXPECT_EQ(plain, "after");
  EXPECT_EQ(stats_.get(Counter::tls_key_updates), 1);
  exchange_both_ways();
  // update_not_requested: only the client's keys move.
  ASSERT_EQ(SSL_key_update(client_, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  exchange_both_ways();
  EXPECT_EQ(stats_.get(Counter::tls_key_updates), 2);
  EXPECT_EQ(stats_.get(Counter::tls_record_errors), 0);
}

// Records that break the format after the handshake end the connection, counted, never a crash.
TEST_F(TlsStreamsTest, MalformedRecordsEndTheConnection) {
  const std::string cases[] = {
      std::string("\x17\x03\x03\x48\x01", 5),                      // longer than TLS allows
      std::string("\x17\x03\x01\x00\x20", 5) + std::string(32, 'v'),  // wrong version
      std::string("\x16\x03\x03\x00\x20", 5) + std::string(32, 'h'),  // TLS 1.3: not application data
      std::string("\x17\x03\x03\x00\x05", 5) + std::string(5, 's'),   // shorter than a tag
  };
  for (const std::string& bad : cases) {
    tls_.release(kId);
    tls_.open(kId, TlsListener::client, 8);
    if (client_) SSL_free(client_);
    client_ = nullptr;
    const int64_t errors = stats_.get(Counter::tls_record_errors);
    handshake();
    ASSERT_TRUE(tls_.offloaded(kId));
    EXPECT_EQ(feed(bad, 2), TlsInput::plaintext);
    EXPECT_TRUE(tls_.failed(kId));
    EXPECT_EQ(stats_.get(Counter::tls_record_errors), errors + 1);
  }
}

// ---- kTLS: the sending keys in the kernel (ktls.h) ----

// A loopback TCP connection: the server's end takes the keys, the client's end carries the kernel's
// records to the OpenSSL client (its BIO fed from the socket). What the client sends still goes to our
// record layer, as it does in the server (receiving stays in user space).
class TlsKernelTest : public TlsStreamsTest {
 protected:
  bool kernel() const override { return true; }
  void SetUp() override {
    TlsStreamsTest::SetUp();
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(listen(listener, 1), 0);
    ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    client_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(connect(client_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    server_fd_ = accept(listener, nullptr, nullptr);
    ASSERT_GE(server_fd_, 0);
    close(listener);
  }
  void TearDown() override {
    close(server_fd_);
    close(client_fd_);
    TlsStreamsTest::TearDown();
  }
  // What the kernel sent, into the client, until it has read `want` bytes or the peer's close_notify.
  std::string client_read_socket(size_t want) {
    std::string got;
    char buf[65536];
    while (got.size() < want) {
      int n;
      while ((n = SSL_read(client_, buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
      if (SSL_get_error(client_, n) == SSL_ERROR_ZERO_RETURN || got.size() >= want) break;
      pollfd p{client_fd_, POLLIN, 0};
      if (poll(&p, 1, 5000) != 1) break;  // (a test failure below, not a hang)
      const ssize_t r = recv(client_fd_, buf, sizeof(buf), 0);
      if (r <= 0) break;
      BIO_write(in_, buf, static_cast<int>(r));
    }
    return got;
  }
  // Frames as a send carries them once the kernel holds the keys: plaintext, many small and one larger
  // than a record, in one gathered write.
  void kernel_send_frames() {
    std::string a(100, 'a'), b(40000, 'b'), c(7, 'c');
    iovec iov[3] = {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 3;
    ASSERT_EQ(sendmsg(server_fd_, &msg, 0), static_cast<ssize_t>(a.size() + b.size() + c.size()));
    EXPECT_EQ(client_read_socket(a.size() + b.size() + c.size()), a + b + c);
  }
  void client_says(const std::string& text) {
    ASSERT_EQ(SSL_write(client_, text.data(), static_cast<int>(text.size())), static_cast<int>(text.size()));
    std::string plain;
    EXPECT_EQ(feed(client_output(), 1000, &plain), TlsInput::plaintext);
    EXPECT_EQ(plain, text);
  }
  static bool kernel_rekeys() {  // TLS 1.3 KeyUpdate of the kernel's keys: Linux 6.14
    utsname u{};
    int major = 0, minor = 0;
    return uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
           (major > 6 || (major == 6 && minor >= 14));
  }
  int server_fd_ = -1;
  int client_fd_ = -1;
};

class TlsKernelSuitesTest : public TlsKernelTest, public ::testing::WithParamInterface<Suite> {};

TEST_P(TlsKernelSuitesTest, TheKernelSealsWhatTheClientReads) {
  if (!kernel_tls_available()) GTEST_SKIP() << "this kernel offers no tls ULP";
  restrict_client(GetParam().version, GetParam().suite, GetParam().cipher);
  handshake();
  exchange_both_ways();  // (our records first: the kernel takes over mid-stream, sequence numbers on)
  ASSERT_TRUE(tls_.hand_to_kernel(kId, server_fd_));
  EXPECT_TRUE(tls_.kernel_tx(kId));
  EXPECT_EQ(stats_.get(Counter::tls_kernel_tx), 1);
  EXPECT_FALSE(tls_.hand_to_kernel(kId, server_fd_)) << "once";
  kernel_send_frames();
  client_says("still ours to open");
  kernel_send_frames();
  EXPECT_FALSE(tls_.has_output(kId)) << "no ciphertext of ours after the hand-off";
  EXPECT_FALSE(tls_.close_notify(kId)) << "written to the socket at once, nothing for a send";
  EXPECT_EQ(client_read_socket(1), "");
  EXPECT_EQ(SSL_get_error(client_, 0), SSL_ERROR_ZERO_RETURN) << "the client read the kernel's close_notify";
  EXPECT_EQ(stats_.get(Counter::tls_kernel_errors), 0);
  tls_.release(kId);
  EXPECT_EQ(stats_.get(Counter::tls_kernel_tx), 0);
}

INSTANTIATE_TEST_SUITE_P(Suites, TlsKernelSuitesTest, kAeadSuites, suite_name);

// A client's KeyUpdate asking for ours: the kernel sends our KeyUpdate and takes the next keys where it
// can (Linux 6.14 on); before that it cannot, and the connection ends, counted.
TEST_F(TlsKernelTest, AKeyUpdateMovesTheKernelsKeysOrEndsTheConnection) {
  if (!kernel_tls_available()) GTEST_SKIP() << "this kernel offers no tls ULP";
  restrict_client(TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", nullptr);
  handshake();
  client_read();  // (the session ticket)
  ASSERT_TRUE(tls_.hand_to_kernel(kId, server_fd_));
  kernel_send_frames();
  ASSERT_EQ(SSL_key_update(client_, SSL_KEY_UPDATE_REQUESTED), 1);
  ASSERT_EQ(SSL_write(client_, "after", 5), 5);
  std::string plain;
  feed(client_output(), 1000, &plain);
  if (kernel_rekeys()) {
    EXPECT_EQ(plain, "after");
    EXPECT_FALSE(tls_.failed(kId));
    EXPECT_EQ(stats_.get(Counter::tls_key_updates), 1);
    kernel_send_frames();  // (under the next keys, after our KeyUpdate)
  } else {
    EXPECT_TRUE(tls_.failed(kId));
    EXPECT_EQ(stats_.get(Counter::tls_kernel_errors), 1);
  }
}

// Where the kernel refuses the keys (here: no tls ULP, or a socket that is not TCP), the connection
// goes on with our records, counted once, never asked again.
TEST_F(TlsKernelTest, ARefusedHandOffLeavesTheConnectionOurs) {
  restrict_client(TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", nullptr);
  handshake();
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  EXPECT_FALSE(tls_.hand_to_kernel(kId, pair[0]));
  EXPECT_FALSE(tls_.hand_to_kernel(kId, server_fd_)) << "refused once: not asked again";
  EXPECT_FALSE(tls_.kernel_tx(kId));
  EXPECT_EQ(stats_.get(Counter::tls_kernel_errors), 1);
  EXPECT_EQ(stats_.get(Counter::tls_kernel_tx), 0);
  exchange_both_ways();
  close(pair[0]);
  close(pair[1]);
}

}  // namespace
}  // namespace ringcast
