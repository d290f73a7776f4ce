// libFuzzer target: our own TLS record layer (engine/conn/tls_records.h), after a real handshake with
// OpenSSL's client over memory. The input picks the suite (TLS 1.2 or 1.3, AES-GCM or ChaCha20), then
// a program: the client writes, asks for KeyUpdates, closes; bytes on the wire are corrupted or
// garbage is added; the wire reaches the server in pieces of the sizes the input chooses; the server
// seals frames for the client. Invariants: while the wire is untouched, everything the client wrote
// comes out of the server exactly and in order, and everything the server sealed opens in the client;
// once it is touched, the connection may fail, but a verdict is final, and nothing crashes or leaks.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/base/check.h"
#include "engine/conn/tls.h"
#include "tests/unit/tls_cert.h"

namespace {

using ringcast::TlsInput;

ringcast::ShardStats stats{};
ringcast::testing::TestCertFiles files;

ringcast::TlsStreams& streams() {
  static ringcast::TlsStreams* tls = [] {
    auto* t = new ringcast::TlsStreams(stats);
    files = ringcast::testing::make_test_cert_files();
    std::string error;
    SSL_CTX* ctx = ringcast::make_tls_server_context(ringcast::TlsFiles{files.cert, files.key},
                                                     ringcast::TlsTicketKeys{}, error);
    RC_ASSERT(ctx != nullptr);
    t->attach(ctx, nullptr, nullptr);
    return t;
  }();
  return *tls;
}

struct Suite {
  int version;
  const char* name;
};
const Suite kSuites[] = {
    {TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256"},       {TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384"},
    {TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256"}, {TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384"}, {TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305"},
};

SSL_CTX* client_context(const Suite& suite) {
  static SSL_CTX* contexts[std::size(kSuites)] = {};
  SSL_CTX*& ctx = contexts[&suite - kSuites];
  if (!ctx) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, suite.version);
    SSL_CTX_set_max_proto_version(ctx, suite.version);
    if (suite.version == TLS1_3_VERSION)
      SSL_CTX_set_ciphersuites(ctx, suite.name);
    else
      SSL_CTX_set_cipher_list(ctx, suite.name);
  }
  return ctx;
}

struct Reader {
  const uint8_t* p;
  size_t left;
  uint8_t byte() {
    if (!left) return 0;
    --left;
    return *p++;
  }
};

std::string drain(BIO* bio) {
  std::string bytes(static_cast<size_t>(BIO_pending(bio)), '\0');
  if (!bytes.empty()) BIO_read(bio, bytes.data(), static_cast<int>(bytes.size()));
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  ringcast::TlsStreams& tls = streams();
  Reader in{data, size};
  const Suite& suite = kSuites[in.byte() % std::size(kSuites)];
  SSL* client = SSL_new(client_context(suite));
  BIO* to_client = BIO_new(BIO_s_mem());
  BIO* from_client = BIO_new(BIO_s_mem());
  SSL_set_bio(client, to_client, from_client);
  SSL_set_connect_state(client);
  tls.open(0, ringcast::TlsListener::client, 1);

  auto server_output_to_client = [&] {
    while (tls.has_output(0)) {
      const uint8_t* out = nullptr;
      size_t len = 0;
      tls.output(0, out, len);
      BIO_write(to_client, out, static_cast<int>(len));
      tls.sent(0, len);
    }
  };
  std::string wire;          // client -> server, not yet fed
  std::string expected;      // what the client wrote and the server has not yet read
  bool tainted = false;      // the wire was corrupted or garbage was added
  bool client_done = false;  // the client sent close_notify
  // The handshake: flights back and forth.
  int r = SSL_do_handshake(client);
  for (int flight = 0; flight < 4 && !tls.established(0); ++flight) {
    const std::string bytes = drain(from_client);
    RC_ASSERT(tls.feed(0, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) != TlsInput::failed);
    server_output_to_client();
    r = SSL_do_handshake(client);
  }
  RC_ASSERT(r == 1 && tls.established(0) && tls.offloaded(0));
  wire = drain(from_client);

  std::string plain;
  while (in.left) {
    switch (in.byte() % 6) {
      case 0: {  // the client writes
        if (client_done) break;
        const std::string message(size_t{in.byte()} * 97 + 1, static_cast<char>('a' + in.byte() % 26));
        RC_ASSERT(SSL_write(client, message.data(), static_cast<int>(message.size())) > 0);
        expected += message;
        wire += drain(from_client);
        break;
      }
      case 1:  // a KeyUpdate (TLS 1.3)
        if (client_done || suite.version != TLS1_3_VERSION) break;
        SSL_key_update(client, in.byte() & 1 ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED);
        SSL_write(client, "k", 1);
        expected += "k";
        wire += drain(from_client);
        break;
      case 2:  // corruption
        if (wire.empty()) break;
        wire[(size_t{in.byte()} << 8 | in.byte()) % wire.size()] ^= static_cast<char>(in.byte() | 1);
        tainted = true;
        break;
      case 3: {  // garbage
        const size_t n = std::min<size_t>(in.byte(), in.left);
        wire.append(reinterpret_cast<const char*>(in.p), n);
        in.p += n;
        in.left -= n;
        tainted = true;
        break;
      }
      case 4: {  // the wire reaches the server in pieces
        const size_t piece = size_t{in.byte()} * 7 + 1;
        for (size_t at = 0; at < wire.size(); at += piece) {
          const size_t n = std::min(piece, wire.size() - at);
          const bool was_failed = tls.failed(0);
          const TlsInput verdict = tls.feed(0, reinterpret_cast<const uint8_t*>(wire.data()) + at, n);
          if (was_failed) RC_ASSERT(verdict == TlsInput::failed);
          if (verdict == TlsInput::plaintext) {
            uint8_t* p = nullptr;
            while (size_t got = tls.read_plaintext(0, p)) plain.append(reinterpret_cast<char*>(p), got);
          }
        }
        wire.clear();
        if (!tainted) {
          RC_ASSERT(!tls.failed(0));
          RC_ASSERT(plain == expected);
          RC_ASSERT(tls.peer_closed(0) == client_done);
        }
        expected.erase(0, std::min(expected.size(), plain.size()));
        plain.clear();
        server_output_to_client();  // (a KeyUpdate answer)
        break;
      }
      case 5: {  // the server seals frames for the client; the client closes now and then
        if (tls.failed(0) || !tls.established(0)) break;
        std::string frame(size_t{in.byte()} * 331 + 1, 'f');
        iovec iov[2] = {{frame.data(), frame.size()}, {frame.data(), frame.size() / 2}};
        tls.encrypt(0, iov, 2);
        server_output_to_client();
        if (!tainted) {
          std::string got(frame.size() + frame.size() / 2, '\0');
          size_t at = 0;
          int n;
          while (at < got.size() &&
                 (n = SSL_read(client, got.data() + at, static_cast<int>(got.size() - at))) > 0)
            at += static_cast<size_t>(n);
          RC_ASSERT(got == frame + frame.substr(0, frame.size() / 2));
        }
        if (in.byte() == 0xff && !client_done) {
          SSL_shutdown(client);
          wire += drain(from_client);
          client_done = true;
        }
        break;
      }
    }
  }
  ERR_clear_error();
  tls.release(0);
  SSL_free(client);
  return 0;
}
