// TLS under ringcast-load's connections (wss://, and https:// for the publisher): the client
// context, the server-name checks, and the worker-wide pipe through which every connection's SSL
// reads the ciphertext a recv brought and writes the ciphertext the worker then sends. OpenSSL never
// touches a socket in a worker: its io_uring loop stays the only place that does I/O.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast::load {

struct TlsSettings {
  std::string ca_file;  // PEM; empty: the system's store
  bool insecure = false;
};

// A client context: TLS 1.2 or later, the server verified against ca_file (or the system's store)
// unless insecure, and SSL_MODE_RELEASE_BUFFERS: with tls_read's help an idle connection holds no
// record buffer, only its SSL (about 19 KB with OpenSSL 3.0: 8.6 KB for the SSL object, the rest
// the session, the server's certificate and the cipher states). nullptr with error set when the CA
// file cannot be used.
SSL_CTX* new_client_context(const TlsSettings& settings, std::string& error);

// Names the server to ssl: the SNI extension for a host name (never for an IP address, RFC 6066 §3)
// and, when verifying, the host name or IP address the server's certificate must carry.
bool set_server_name(SSL* ssl, std::string_view host, bool verify, std::string& error);

enum class TlsStatus : uint8_t {
  ok,          // the handshake is complete / the output buffer is full (call again)
  want_input,  // every byte given was used; more ciphertext is needed
  closed,      // the peer sent close_notify
  failed,      // an alert, a certificate that does not verify, a corrupt record: error says which
};

// Drives the handshake over the ciphertext the pipe holds.
TlsStatus tls_handshake(SSL* ssl, std::string& error);

// Decrypts into out[0, cap) until it is full (ok), the input runs out (want_input), or the stream
// closes or fails; `got` is the plaintext written in every case (deliver it before acting on the status).
TlsStatus tls_read(SSL* ssl, uint8_t* out, size_t cap, size_t& got, std::string& error);

// Encrypts data into the pipe's output (which takes everything). False with error on failure.
bool tls_write(SSL* ssl, const void* data, size_t len, std::string& error);

// One per process: a BIO shared by every SSL attached. A read hands out the ciphertext given with
// give() (and asks to retry once it is used up); a write appends to output(). Nothing in it belongs
// to a connection, so a connection pays for its SSL object and nothing more; the caller works on one
// connection at a time and sends output() (and clears it) before it turns to the next.
class TlsPipe {
 public:
  TlsPipe() = default;
  TlsPipe(const TlsPipe&) = delete;
  TlsPipe& operator=(const TlsPipe&) = delete;
  ~TlsPipe();

  bool init(std::string& error);
  // ssl reads from and writes to the pipe from now on (the SSL holds a reference to the BIO).
  void attach(SSL* ssl);
  void give(const uint8_t* data, size_t len) {
    in_ = data;
    in_left_ = len;
  }
  size_t input_left() const { return in_left_; }
  std::string& output() { return out_; }

 private:
  static int read_ex(BIO* bio, char* out, size_t len, size_t* read);
  static int write_ex(BIO* bio, const char* data, size_t len, size_t* written);
  static long ctrl(BIO* bio, int cmd, long num, void* ptr);

  BIO_METHOD* method_ = nullptr;
  BIO* bio_ = nullptr;
  const uint8_t* in_ = nullptr;
  size_t in_left_ = 0;
  std::string out_;
};

}  // namespace ringcast::load
