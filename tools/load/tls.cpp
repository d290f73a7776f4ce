// TLS for ringcast-load (see tls.h): the OpenSSL calls, each started on an empty error queue so that
// one connection's failure is never read as another's, and the pipe BIO every SSL of a process shares.
#include "tools/load/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

namespace ringcast::load {
namespace {

// OpenSSL's reason for the first error queued (its library's name when it has no reason text), and
// an empty queue afterwards.
std::string queued_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no error queued";
  if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
      (ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER || ERR_GET_REASON(e) == SSL_R_PACKET_LENGTH_TOO_LONG))
    return std::string(ERR_reason_error_string(e)) +
           " (the server's answer is not TLS: a plain ws:// or http:// port?)";
  if (const char* reason = ERR_reason_error_string(e)) return reason;
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  return text;
}

// Why the SSL call failed with SSL_get_error() == ssl_error.
std::string failure_text(SSL* ssl, int ssl_error) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return "the stream ended inside a record";
  return queued_error();
}

bool is_ipv4_literal(std::string_view host) {
  in_addr a{};
  return inet_pton(AF_INET, std::string(host).c_str(), &a) == 1;
}

}  // namespace

SSL_CTX* new_client_context(const TlsSettings& settings, std::string& error) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    error = "SSL_CTX_new: " + queued_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // An idle connection then keeps no write buffer (16.7 KB); the read buffer needs help (tls_read).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (settings.insecure) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return ctx;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const bool loaded = settings.ca_file.empty()
                          ? SSL_CTX_set_default_verify_paths(ctx) == 1
                          : SSL_CTX_load_verify_locations(ctx, settings.ca_file.c_str(), nullptr) == 1;
  if (!loaded) {
    error = settings.ca_file.empty() ? "the system's CA store: " + queued_error()
                                     : "--ca-file " + settings.ca_file + ": " + queued_error();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

bool set_server_name(SSL* ssl, std::string_view host, bool verify, std::string& error) {
  ERR_clear_error();
  const std::string name(host);
  const bool ip = is_ipv4_literal(host);
  if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    error = "SNI " + name + ": " + queued_error();
    return false;
  }
  if (!verify) return true;
  const bool ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1
                     : SSL_set1_host(ssl, name.c_str()) == 1;
  if (!ok) {
    error = "certificate check for " + name + ": " + queued_error();
    return false;
  }
  return true;
}

TlsStatus tls_handshake(SSL* ssl, std::string& error) {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl);
  if (rc == 1) return TlsStatus::ok;
  const int e = SSL_get_error(ssl, rc);
  if (e == SSL_ERROR_WANT_READ) return TlsStatus::want_input;
  error = failure_text(ssl, e);
  return TlsStatus::failed;
}

TlsStatus tls_read(SSL* ssl, uint8_t* out, size_t cap, size_t& got, std::string& error) {
  got = 0;
  while (got < cap) {
    ERR_clear_error();
    size_t n = 0;
    if (SSL_read_ex(ssl, out + got, cap - got, &n) == 1) {
      got += n;
      continue;
    }
    const int e = SSL_get_error(ssl, 0);
    if (e == SSL_ERROR_WANT_READ) {
      // Every whole record is read: the connection goes idle. OpenSSL 3.0 keeps its read buffer
      // (16.6 KB) here despite SSL_MODE_RELEASE_BUFFERS, half again what the connection holds
      // otherwise; freed, it is allocated anew with the next record. With a partial record pending
      // this does nothing.
      SSL_free_buffers(ssl);
      return TlsStatus::want_input;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return TlsStatus::closed;
    error = failure_text(ssl, e);
    return TlsStatus::failed;
  }
  return TlsStatus::ok;
}

bool tls_write(SSL* ssl, const void* data, size_t len, std::string& error) {
  ERR_clear_error();
  size_t written = 0;
  if (SSL_write_ex(ssl, data, len, &written) == 1 && written == len) return true;
  error = failure_text(ssl, SSL_get_error(ssl, 0));
  return false;
}

// ---- the pipe ----

TlsPipe::~TlsPipe() {
  // SSLs still attached hold their own references; the BIO goes with the last of them.
  if (bio_ != nullptr) BIO_free(bio_);
  if (method_ != nullptr) BIO_meth_free(method_);
}

bool TlsPipe::init(std::string& error) {
  ERR_clear_error();
  method_ = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringcast-load pipe");
  if (method_ == nullptr || BIO_meth_set_read_ex(method_, read_ex) != 1 ||
      BIO_meth_set_write_ex(method_, write_ex) != 1 || BIO_meth_set_ctrl(method_, ctrl) != 1) {
    error = "BIO_meth_new: " + queued_error();
    return false;
  }
  bio_ = BIO_new(method_);
  if (bio_ == nullptr) {
    error = "BIO_new: " + queued_error();
    return false;
  }
  BIO_set_data(bio_, this);
  BIO_set_init(bio_, 1);
  return true;
}

void TlsPipe::attach(SSL* ssl) {
  // The same BIO for reading and writing: SSL_set_bio then takes one reference.
  BIO_up_ref(bio_);
  SSL_set_bio(ssl, bio_, bio_);
}

int TlsPipe::read_ex(BIO* bio, char* out, size_t len, size_t* read) {
  auto* pipe = static_cast<TlsPipe*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (pipe->in_left_ == 0) {
    // Like a non-blocking socket with nothing to read: SSL answers SSL_ERROR_WANT_READ and keeps a
    // partial record it already has until the next recv brings the rest.
    BIO_set_retry_read(bio);
    *read = 0;
    return 0;
  }
  const size_t n = std::min(len, pipe->in_left_);
  std::memcpy(out, pipe->in_, n);
  pipe->in_ += n;
  pipe->in_left_ -= n;
  *read = n;
  return 1;
}

int TlsPipe::write_ex(BIO* bio, const char* data, size_t len, size_t* written) {
  auto* pipe = static_cast<TlsPipe*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  pipe->out_.append(data, len);
  *written = len;
  return 1;
}

long TlsPipe::ctrl(BIO*, int cmd, long, void*) {
  // SSL flushes after each flight; everything else it may ask (kTLS, datagram controls) is "no".
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

}  // namespace ringcast::load
