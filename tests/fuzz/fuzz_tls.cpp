// libFuzzer target: what a TLS listener does with a client's first bytes before any protocol sees
// them — our own classification of the first bytes (plain HTTP or a handshake record), then OpenSSL's
// handshake and record layer driven through TlsStreams' memory BIO, in pieces whose sizes the input
// chooses. Invariants: a verdict is final (failed stays failed), the handshake byte bound holds, no
// plaintext comes out before a handshake, and every connection is released cleanly.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/base/check.h"
#include "engine/codec/tls_hello.h"
#include "engine/conn/tls.h"
#include "tests/unit/tls_cert.h"

namespace {

ringcast::ShardStats stats{};

ringcast::TlsStreams& streams() {
  static ringcast::TlsStreams* tls = [] {
    auto* t = new ringcast::TlsStreams(stats);
    const auto files = ringcast::testing::make_test_cert_files();
    std::string error;
    SSL_CTX* ctx = ringcast::make_tls_server_context(ringcast::TlsFiles{files.cert, files.key},
                                                     ringcast::TlsTicketKeys{}, error);
    RC_ASSERT(ctx != nullptr);
    t->attach(ctx, nullptr, nullptr);
    return t;
  }();
  return *tls;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ringcast::TlsInput;
  ringcast::tls::classify_first_bytes(data, size);
  if (size < 1) return 0;
  ringcast::TlsStreams& tls = streams();
  // The first byte sets the piece size (1..256): records split anywhere, as the kernel may split them.
  const size_t piece = static_cast<size_t>(data[0]) + 1;
  ++data;
  --size;
  tls.open(0, ringcast::TlsListener::client, 1);
  bool failed = false;
  size_t fed = 0;
  for (size_t at = 0; at < size; at += piece) {
    const size_t n = std::min(piece, size - at);
    const TlsInput verdict = tls.feed(0, data + at, n);
    fed += n;
    if (failed) RC_ASSERT(verdict == TlsInput::failed);
    if (verdict == TlsInput::failed || verdict == TlsInput::plaintext_http) {
      failed = true;
      continue;
    }
    if (!tls.established(0)) RC_ASSERT(fed <= ringcast::limits::kTlsHandshakeBytesMax);
    if (verdict == TlsInput::plaintext) {
      RC_ASSERT(tls.established(0));
      uint8_t* plain = nullptr;
      while (tls.read_plaintext(0, plain) > 0) {
      }
    }
    // What the server would send (its hello, alerts) is taken as a send would take it.
    while (tls.has_output(0)) {
      const uint8_t* out = nullptr;
      size_t len = 0;
      tls.output(0, out, len);
      RC_ASSERT(len > 0);
      tls.sent(0, len);
    }
  }
  tls.release(0);
  return 0;
}
