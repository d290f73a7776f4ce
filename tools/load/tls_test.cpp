// Unit tests of ringcast-load's TLS layer (tls.h) without a socket: a client driven through the
// worker-wide pipe against an OpenSSL server on memory BIOs, with a CA and server certificates made
// in the test. Handshake and records fed in pieces of every size, host name and IP checks, a wrong
// CA, --insecure, session resumption (TLS 1.3 tickets and TLS 1.2 sessions), close_notify, two
// connections sharing one pipe; and the TLS options (wss://, https://, --ca-file, --insecure).
#include <gtest/gtest.h>
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tools/load/options.h"
#include "tools/load/tls.h"

namespace ringcast::load {
namespace {

// ---- certificates ----

struct KeyAndCert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
};

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A P-256 key and a certificate for it, signed by `issuer` (self-signed when null).
KeyAndCert make_cert(const char* common_name, const KeyAndCert* issuer, const char* subject_alt_names) {
  KeyAndCert out;
  out.key = EVP_EC_gen("P-256");
  out.cert = X509_new();
  static long serial = 1;
  X509_set_version(out.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(out.cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), 3600);
  X509_set_pubkey(out.cert, out.key);
  X509_NAME* name = X509_get_subject_name(out.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name),
                             -1, -1, 0);
  X509* signer_cert = issuer ? issuer->cert : out.cert;
  X509_set_issuer_name(out.cert, X509_get_subject_name(signer_cert));
  if (issuer == nullptr) {
    add_extension(out.cert, out.cert, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(out.cert, out.cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(out.cert, signer_cert, NID_basic_constraints, "CA:FALSE");
    add_extension(out.cert, signer_cert, NID_subject_alt_name, subject_alt_names);
    add_extension(out.cert, signer_cert, NID_ext_key_usage, "serverAuth");
  }
  X509_sign(out.cert, issuer ? issuer->key : out.key, EVP_sha256());
  return out;
}

std::string write_pem(X509* cert, const char* tag) {
  char path[] = "/tmp/ringcast-load-tls-test-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0) << tag;
  FILE* f = fdopen(fd, "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  return path;
}

class Certificates {
 public:
  Certificates() {
    ca_ = make_cert("load test CA", nullptr, nullptr);
    other_ca_ = make_cert("somebody else's CA", nullptr, nullptr);
    server_ = make_cert("127.0.0.1", &ca_, "IP:127.0.0.1,DNS:localhost");
    ca_file_ = write_pem(ca_.cert, "ca");
    other_ca_file_ = write_pem(other_ca_.cert, "other ca");
  }
  ~Certificates() {
    for (KeyAndCert* k : {&ca_, &other_ca_, &server_}) {
      X509_free(k->cert);
      EVP_PKEY_free(k->key);
    }
    unlink(ca_file_.c_str());
    unlink(other_ca_file_.c_str());
  }
  const std::string& ca_file() const { return ca_file_; }
  const std::string& other_ca_file() const { return other_ca_file_; }
  const KeyAndCert& server() const { return server_; }

 private:
  KeyAndCert ca_, other_ca_, server_;
  std::string ca_file_, other_ca_file_;
};

const Certificates& certificates() {
  static const Certificates made;  // its files are removed at exit
  return made;
}

SSL_CTX* server_context(int max_version = TLS1_3_VERSION) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate(ctx, certificates().server().cert);
  SSL_CTX_use_PrivateKey(ctx, certificates().server().key);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>("t"), 1);
  return ctx;
}

// ---- a client on the pipe and a server on memory BIOs ----

// Sessions the client context handed out (its new-session callback), latest last.
std::vector<SSL_SESSION*> g_sessions;

int keep_session(SSL*, SSL_SESSION* session) {
  g_sessions.push_back(session);
  return 1;
}

void forget_sessions() {
  for (SSL_SESSION* s : g_sessions) SSL_SESSION_free(s);
  g_sessions.clear();
}

class Connection {
 public:
  // chunk: how many bytes of the server's ciphertext the client is given at a time.
  Connection(TlsPipe& pipe, SSL_CTX* client_ctx, SSL_CTX* server_ctx, const char* host, bool verify,
             size_t chunk = SIZE_MAX)
      : pipe_(pipe), chunk_(chunk) {
    client_ = SSL_new(client_ctx);
    pipe_.attach(client_);
    SSL_set_connect_state(client_);
    std::string error;
    EXPECT_TRUE(set_server_name(client_, host, verify, error)) << error;
    server_ = SSL_new(server_ctx);
    server_in_ = BIO_new(BIO_s_mem());
    server_out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(server_, server_in_, server_out_);
    SSL_set_accept_state(server_);
  }
  ~Connection() {
    SSL_free(client_);
    SSL_free(server_);
  }

  SSL* client() { return client_; }
  SSL* server() { return server_; }
  void free_server() {
    SSL_free(server_);
    server_ = nullptr;
  }

  // Runs both sides until the client's handshake ends; returns its last status.
  TlsStatus handshake(std::string& error) {
    TlsStatus status = TlsStatus::want_input;
    for (int round = 0; round < 1000000 && status == TlsStatus::want_input; ++round) {
      const std::string in = take_server_output();
      status = feed_client(in, [&] { return tls_handshake(client_, error); });
      send_client_output();
      ERR_clear_error();
      SSL_do_handshake(server_);  // WANT_READ until the client's flight is in
    }
    return status;
  }

  // The server writes `text`; the client reads it through the pipe with an output buffer of `cap`.
  std::string server_to_client(const std::string& text, size_t cap, TlsStatus* last = nullptr) {
    if (!text.empty()) {
      size_t written = 0;
      EXPECT_EQ(SSL_write_ex(server_, text.data(), text.size(), &written), 1);
    }
    return client_reads(cap, last);
  }

  std::string client_reads(size_t cap, TlsStatus* last = nullptr) {
    std::string got;
    std::vector<uint8_t> out(cap);
    const std::string in = take_server_output();
    TlsStatus status = TlsStatus::want_input;
    size_t at = 0;
    do {
      const size_t n = std::min(chunk_, in.size() - at);
      pipe_.give(reinterpret_cast<const uint8_t*>(in.data()) + at, n);
      at += n;
      while (true) {
        size_t bytes = 0;
        std::string error;
        status = tls_read(client_, out.data(), out.size(), bytes, error);
        got.append(reinterpret_cast<const char*>(out.data()), bytes);
        if (status != TlsStatus::ok) break;
      }
      EXPECT_EQ(pipe_.input_left(), 0u);
    } while (at < in.size() && status == TlsStatus::want_input);
    send_client_output();
    if (last) *last = status;
    return got;
  }

  std::string client_to_server(const std::string& text) {
    std::string error;
    EXPECT_TRUE(tls_write(client_, text.data(), text.size(), error)) << error;
    send_client_output();
    std::string got(text.size() + 100, '\0');
    size_t n = 0;
    ERR_clear_error();
    if (SSL_read_ex(server_, got.data(), got.size(), &n) != 1) return "";
    got.resize(n);
    return got;
  }

 private:
  std::string take_server_output() {
    std::string bytes;
    char buf[4096];
    int n;
    while ((n = BIO_read(server_out_, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
    return bytes;
  }

  template <class Step>
  TlsStatus feed_client(const std::string& in, Step step) {
    size_t at = 0;
    TlsStatus status;
    do {
      const size_t n = std::min(chunk_, in.size() - at);
      pipe_.give(reinterpret_cast<const uint8_t*>(in.data()) + at, n);
      at += n;
      status = step();
      // Wanting more means everything given was taken (a failure may leave the rest unread).
      if (status == TlsStatus::want_input) {
        EXPECT_EQ(pipe_.input_left(), 0u);
      }
    } while (at < in.size() && status == TlsStatus::want_input);
    return status;
  }

  void send_client_output() {
    std::string& out = pipe_.output();
    BIO_write(server_in_, out.data(), static_cast<int>(out.size()));
    out.clear();
  }

  TlsPipe& pipe_;
  size_t chunk_;
  SSL* client_ = nullptr;
  SSL* server_ = nullptr;
  BIO* server_in_ = nullptr;
  BIO* server_out_ = nullptr;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(pipe_.init(error)) << error;
    server_ctx_ = server_context();
  }
  void TearDown() override {
    SSL_CTX_free(server_ctx_);
    for (SSL_CTX* c : client_ctxs_) SSL_CTX_free(c);
    forget_sessions();
  }
  SSL_CTX* client_context(const TlsSettings& settings) {
    std::string error;
    SSL_CTX* ctx = new_client_context(settings, error);
    EXPECT_NE(ctx, nullptr) << error;
    if (ctx) client_ctxs_.push_back(ctx);
    return ctx;
  }

  TlsPipe pipe_;
  SSL_CTX* server_ctx_ = nullptr;
  std::vector<SSL_CTX*> client_ctxs_;
};

std::string big_text(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) s += "[0," + std::to_string(i) + ",123,\"pad\"],";
  s.resize(n);
  return s;
}

TEST_F(TlsTest, HandshakeAndRecordsInPiecesOfEverySize) {
  SSL_CTX* client_ctx = client_context({certificates().ca_file(), false});
  // 40 KB spans three records; an output buffer smaller than a record is filled and read again.
  const std::string small = R"({"type":"PONG","data":{}})";
  const std::string large = big_text(40000);
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{17}, size_t{100}, size_t{1500},
                       size_t{16389}, SIZE_MAX}) {
    for (size_t cap : {size_t{7}, size_t{1000}, size_t{65536}}) {
      Connection c(pipe_, client_ctx, server_ctx_, "127.0.0.1", true, chunk);
      std::string error;
      ASSERT_EQ(c.handshake(error), TlsStatus::ok) << "chunk " << chunk << ": " << error;
      EXPECT_EQ(c.client_to_server("GET /connect HTTP/1.1\r\n\r\n"), "GET /connect HTTP/1.1\r\n\r\n");
      EXPECT_EQ(c.server_to_client(small, cap), small) << "chunk " << chunk << " cap " << cap;
      EXPECT_EQ(c.server_to_client(large, cap), large) << "chunk " << chunk << " cap " << cap;
      EXPECT_EQ(SSL_version(c.client()), TLS1_3_VERSION);
      EXPECT_FALSE(SSL_session_reused(c.client()));
    }
  }
}

TEST_F(TlsTest, ChecksTheHostNameOrIpAddress) {
  SSL_CTX* client_ctx = client_context({certificates().ca_file(), false});
  for (const char* good : {"127.0.0.1", "localhost"}) {
    Connection c(pipe_, client_ctx, server_ctx_, good, true);
    std::string error;
    EXPECT_EQ(c.handshake(error), TlsStatus::ok) << good << ": " << error;
  }
  const std::pair<const char*, const char*> bad[] = {{"127.0.0.2", "IP address mismatch"},
                                                     {"example.com", "hostname mismatch"}};
  for (const auto& [host, why] : bad) {
    Connection c(pipe_, client_ctx, server_ctx_, host, true);
    std::string error;
    EXPECT_EQ(c.handshake(error), TlsStatus::failed) << host;
    EXPECT_NE(error.find(why), std::string::npos) << host << ": " << error;
    EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
  }
}

TEST_F(TlsTest, AnotherCaFailsAndInsecureDoesNotCheck) {
  {
    SSL_CTX* ctx = client_context({certificates().other_ca_file(), false});
    Connection c(pipe_, ctx, server_ctx_, "127.0.0.1", true);
    std::string error;
    EXPECT_EQ(c.handshake(error), TlsStatus::failed);
    EXPECT_NE(error.find("unable to get local issuer certificate"), std::string::npos) << error;
    // The failure's alert went to the server, which fails too.
    EXPECT_NE(SSL_do_handshake(c.server()), 1);
    ERR_clear_error();
  }
  {
    SSL_CTX* ctx = client_context({"", true});
    Connection c(pipe_, ctx, server_ctx_, "127.0.0.2", false);
    std::string error;
    EXPECT_EQ(c.handshake(error), TlsStatus::ok) << error;
  }
}

TEST_F(TlsTest, ErrorsOfOneConnectionDoNotLeakIntoAnother) {
  SSL_CTX* good = client_context({certificates().ca_file(), false});
  SSL_CTX* wrong = client_context({certificates().other_ca_file(), false});
  // Both on the same pipe: the failed one's queued errors must not make the next one's reads fail.
  Connection a(pipe_, wrong, server_ctx_, "127.0.0.1", true);
  Connection b(pipe_, good, server_ctx_, "127.0.0.1", true);
  std::string error;
  ASSERT_EQ(b.handshake(error), TlsStatus::ok) << error;
  EXPECT_EQ(a.handshake(error), TlsStatus::failed);
  ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);  // a stale error left queued
  EXPECT_EQ(b.server_to_client("after", 100), "after");
  EXPECT_EQ(b.client_to_server("ping"), "ping");
}

TEST_F(TlsTest, ResumesTheSessionItWasGiven) {
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SSL_CTX* server_ctx = server_context(version);
    SSL_CTX* client_ctx = client_context({certificates().ca_file(), false});
    SSL_CTX_set_session_cache_mode(client_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(client_ctx, keep_session);
    {
      Connection first(pipe_, client_ctx, server_ctx, "127.0.0.1", true);
      std::string error;
      ASSERT_EQ(first.handshake(error), TlsStatus::ok) << error;
      // TLS 1.3 tickets come after the handshake, read with the first records.
      EXPECT_EQ(first.server_to_client("hello", 100), "hello");
      ASSERT_FALSE(g_sessions.empty()) << version;
      // Freed without a shutdown, as a dropped connection is; recorded as shut down, the session stays good.
      SSL_set_shutdown(first.client(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    Connection again(pipe_, client_ctx, server_ctx, "127.0.0.1", true);
    ASSERT_EQ(SSL_set_session(again.client(), g_sessions.back()), 1);
    std::string error;
    ASSERT_EQ(again.handshake(error), TlsStatus::ok) << error;
    EXPECT_TRUE(SSL_session_reused(again.client())) << version;
    EXPECT_EQ(again.server_to_client("resumed", 100), "resumed");
    SSL_CTX_free(server_ctx);
    forget_sessions();
  }
}

TEST_F(TlsTest, AnIdleConnectionHoldsNoRecordBuffer) {
  // What the clients alone hold once established and idle (the servers freed): their SSL objects,
  // without the 16.6 KB read buffer OpenSSL 3.0 would keep after the tickets and the first records.
  SSL_CTX* client_ctx = client_context({certificates().ca_file(), false});
  constexpr size_t kConnections = 50;
  constexpr size_t kBytesPerConnectionMax = 24 * 1024;  // ~19 KB measured with OpenSSL 3.0
  std::vector<std::unique_ptr<Connection>> conns;
  {
    Connection warm_up(pipe_, client_ctx, server_ctx_, "127.0.0.1", true);  // lazily loaded algorithms
    std::string error;
    ASSERT_EQ(warm_up.handshake(error), TlsStatus::ok) << error;
    EXPECT_EQ(warm_up.server_to_client("warm", 100), "warm");
  }
  const std::string request = "GET /connect HTTP/1.1\r\n\r\n";
  const size_t before = mallinfo2().uordblks;
  for (size_t i = 0; i < kConnections; ++i) {
    conns.push_back(std::make_unique<Connection>(pipe_, client_ctx, server_ctx_, "127.0.0.1", true));
    std::string error;
    ASSERT_EQ(conns.back()->handshake(error), TlsStatus::ok) << error;
    EXPECT_EQ(conns.back()->client_to_server(request), request);
    EXPECT_EQ(conns.back()->server_to_client(big_text(3000), 65536).size(), 3000u);
    conns.back()->free_server();
  }
  const size_t per_connection = (mallinfo2().uordblks - before) / kConnections;
  EXPECT_LT(per_connection, kBytesPerConnectionMax);
  std::printf("client memory per idle TLS connection: %zu bytes\n", per_connection);
}

TEST_F(TlsTest, CloseNotifyEndsTheStream) {
  SSL_CTX* client_ctx = client_context({certificates().ca_file(), false});
  Connection c(pipe_, client_ctx, server_ctx_, "localhost", true);
  std::string error;
  ASSERT_EQ(c.handshake(error), TlsStatus::ok) << error;
  size_t written = 0;
  SSL_write_ex(c.server(), "last", 4, &written);
  SSL_shutdown(c.server());
  TlsStatus status = TlsStatus::ok;
  EXPECT_EQ(c.client_reads(100, &status), "last");  // the plaintext before it is delivered first
  EXPECT_EQ(status, TlsStatus::closed);
}

TEST_F(TlsTest, GarbageFails) {
  SSL_CTX* client_ctx = client_context({certificates().ca_file(), false});
  SSL* ssl = SSL_new(client_ctx);
  pipe_.attach(ssl);
  SSL_set_connect_state(ssl);
  std::string error;
  pipe_.give(nullptr, 0);
  EXPECT_EQ(tls_handshake(ssl, error), TlsStatus::want_input);
  EXPECT_FALSE(pipe_.output().empty());  // the ClientHello
  pipe_.output().clear();
  const std::string http = "HTTP/1.1 400 Bad Request\r\n\r\n";
  pipe_.give(reinterpret_cast<const uint8_t*>(http.data()), http.size());
  EXPECT_EQ(tls_handshake(ssl, error), TlsStatus::failed);
  EXPECT_NE(error.find("not TLS"), std::string::npos) << error;
  pipe_.output().clear();
  SSL_free(ssl);
}

TEST(TlsContext, CaFileThatCannotBeLoaded) {
  std::string error;
  EXPECT_EQ(new_client_context({"/nonexistent/ca.pem", false}, error), nullptr);
  EXPECT_NE(error.find("--ca-file /nonexistent/ca.pem"), std::string::npos) << error;
  SSL_CTX* ctx = new_client_context({"", false}, error);  // the system's store
  EXPECT_NE(ctx, nullptr) << error;
  SSL_CTX_free(ctx);
}

// ---- options ----

bool parse(std::vector<std::string> args, Options& o, std::string& error) {
  std::vector<char*> argv{const_cast<char*>("ringcast-load")};
  for (std::string& a : args) argv.push_back(a.data());
  bool help = false;
  return parse_options(static_cast<int>(argv.size()), argv.data(), o, help, error);
}

TEST(TlsOptions, SchemesPortsAndHosts) {
  Options o;
  std::string error;
  ASSERT_TRUE(parse({"--url", "wss://localhost:8443/connect,ws://127.0.0.3:7777/connect", "--publish-url",
                     "https://127.0.0.1/push/room", "--ca-file", "/tmp/ca.pem"},
                    o, error))
      << error;
  ASSERT_EQ(o.urls.size(), 2u);
  EXPECT_TRUE(o.urls[0].tls);
  EXPECT_EQ(o.urls[0].host, "localhost");
  EXPECT_EQ(o.urls[0].port, 8443);
  EXPECT_EQ(o.urls[0].host_header, "localhost:8443");
  EXPECT_FALSE(o.urls[1].tls);
  EXPECT_EQ(o.urls[1].host, "127.0.0.3");
  EXPECT_TRUE(o.publish.tls);
  EXPECT_EQ(o.publish.port, 443);
  EXPECT_EQ(o.ca_file, "/tmp/ca.pem");
  EXPECT_TRUE(o.any_tls());

  Options sse;
  ASSERT_TRUE(parse({"--protocol", "sse", "--url", "https://127.0.0.1:9/sse", "--insecure"}, sse, error))
      << error;
  EXPECT_TRUE(sse.urls[0].tls);
  EXPECT_TRUE(sse.insecure);
  EXPECT_FALSE(sse.publish.tls);

  Options plain;
  ASSERT_TRUE(parse({}, plain, error)) << error;
  EXPECT_FALSE(plain.any_tls());
  EXPECT_EQ(plain.urls[0].port, 7777);
}

TEST(TlsOptions, Refusals) {
  const std::vector<std::vector<std::string>> bad = {
      {"--ca-file", "/tmp/ca.pem"},                                     // nothing speaks TLS
      {"--insecure"},                                                   // same
      {"--url", "wss://127.0.0.1:1/", "--ca-file", "x", "--insecure"},  // contradiction
      {"--url", "wss://10.0.0.1:1/"},                                   // loopback only, TLS or not
      {"--url", "https://127.0.0.1:1/connect"},                         // https is for sse
      {"--protocol", "sse", "--url", "wss://127.0.0.1:1/sse"},          // wss is for WebSocket
      {"--url", "wss://127.0.0.1:1/", "--ca-file", ""},
  };
  for (const auto& args : bad) {
    Options o;
    std::string error;
    EXPECT_FALSE(parse(args, o, error)) << args[0] << " " << args[1];
    EXPECT_FALSE(error.empty());
  }
}

}  // namespace
}  // namespace ringcast::load
