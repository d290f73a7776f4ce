// The node's TLS contexts (see tls_context.h).
#include "engine/node/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>

#include <cstdio>
#include <fstream>
#include <new>
#include <sstream>

#include "engine/base/log.h"

namespace ringcast {
namespace {

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(e, text, sizeof(text));
  return text;
}

// ALPN: http/1.1 when the client offers it (every WebSocket and HTTP/1.1 client does). A client
// offering only h2 gets no ALPN answer rather than an alert, and may still speak HTTP/1.1.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, kHttp11, sizeof(kHttp11), in, in_len) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// OpenSSL's key log goes to the connection's BIO, never to a file: the shard takes the TLS 1.3
// traffic secrets from it to run the records itself once the handshake is done (conn/tls_records.h).
void forward_key_log(const SSL* ssl, const char* line) {
  BIO_ctrl(SSL_get_rbio(ssl), kBioCtrlKeyLog, 0, const_cast<char*>(line));
}

bool readable(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}

}  // namespace

SSL_CTX* make_tls_server_context(const TlsFiles& files, const TlsTicketKeys& keys, std::string& error) {
  ERR_clear_error();
  for (const std::string* path : {&files.cert, &files.key})
    if (!readable(*path)) {
      error = "cannot read '" + *path + "'";
      return nullptr;
    }
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    error = "SSL_CTX_new: " + openssl_error();
    return nullptr;
  }
  auto fail = [&](std::string what) {
    error = std::move(what);
    SSL_CTX_free(ctx);
    return nullptr;
  };
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1)
    return fail("'" + files.cert + "' holds no usable PEM certificate: " + openssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    const std::string why = openssl_error();
    if (mismatch)
      return fail("the key in '" + files.key + "' does not match the certificate in '" + files.cert + "'");
    return fail("'" + files.key + "' holds no usable PEM private key: " + why);
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    return fail("the key in '" + files.key + "' does not match the certificate in '" + files.cert + "'");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // No compression (CRIME), no renegotiation (a client-triggered CPU drain), our cipher order.
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // After the handshake the shard seals and opens the records itself and frees the SSL (see
  // conn/tls_records.h): OpenSSL's kTLS hand-off tells our BIO each direction's keys and where they
  // start, and its key log gives TLS 1.3's traffic secrets. Our BIO declines the hand-off, so
  // OpenSSL itself still encrypts what it writes before the handshake ends.
  SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
  SSL_CTX_set_keylog_callback(ctx, forward_key_log);
  // Buffers are freed whenever they are empty: an idle connection holds no record buffers. Our BIO
  // takes every write whole, so a write never has to be retried with a moved buffer.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  // Resumption by stateless tickets only: no server-side session cache (memory and a lock shared by
  // the shards); one ticket per full handshake instead of OpenSSL's two (bytes per connect).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 1);
  SSL_CTX_set_tlsext_ticket_keys(ctx, const_cast<uint8_t*>(keys.bytes), sizeof(keys.bytes));
  return ctx;
}

bool check_tls_files(const Config& config, std::string& error) {
  TlsTicketKeys keys{};
  for (const TlsFiles& files : {client_tls_files(config), api_tls_files(config)}) {
    if (!files.on()) continue;
    SSL_CTX* ctx = make_tls_server_context(files, keys, error);
    if (!ctx) return false;
    SSL_CTX_free(ctx);
  }
  return true;
}

bool kernel_tls_available() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_available_ulp");
  std::string ulp;
  while (in >> ulp)
    if (ulp == "tls") return true;
  return false;
}

TlsContexts::~TlsContexts() {
  for (SSL_CTX*& ctx : ctx_) SSL_CTX_free(ctx);
  if (mailboxes_)
    for (uint32_t s = 0; s < shards_; ++s)
      for (auto& posted : mailboxes_[s].posted) SSL_CTX_free(posted.exchange(nullptr));
}

bool TlsContexts::load(const Config& config, uint32_t shards, std::string& error) {
  this->~TlsContexts();  // (an engine started again loads afresh)
  new (this) TlsContexts();
  files_[0] = client_tls_files(config);
  files_[1] = api_tls_files(config);
  if (!files_[0].on() && !files_[1].on()) return true;
  if (RAND_bytes(keys_.bytes, sizeof(keys_.bytes)) != 1) {
    error = "no randomness for the session-ticket keys";
    return false;
  }
  for (int l = 0; l < 2; ++l) {
    if (!files_[l].on()) continue;
    ctx_[l] = make_tls_server_context(files_[l], keys_, error);
    if (!ctx_[l]) return false;
  }
  shards_ = shards;
  mailboxes_ = std::make_unique<TlsMailbox[]>(shards);
  const bool offered = kernel_tls_available();
  kernel_tx_ = offered && config.tls_kernel;
  if (kernel_tx_)
    LOG_INFO("tls: the kernel offers kTLS: it encrypts TLS connections' sends after the handshake");
  else if (offered)
    LOG_INFO("tls: the kernel offers kTLS, but tls_kernel is off: encrypting in user space");
  else
    LOG_INFO("tls: the kernel has no tls ULP (kTLS): encrypting in user space");
  return true;
}

bool TlsContexts::reload(uint32_t first, uint32_t count, std::string& error) {
  if (!any()) {
    error = "no TLS listener";
    return false;
  }
  SSL_CTX* fresh[2] = {nullptr, nullptr};
  for (int l = 0; l < 2; ++l) {
    if (!ctx_[l]) continue;
    fresh[l] = make_tls_server_context(files_[l], keys_, error);
    if (!fresh[l]) {
      SSL_CTX_free(fresh[0]);
      return false;
    }
  }
  for (int l = 0; l < 2; ++l) {
    if (!fresh[l]) continue;
    for (uint32_t s = first; s < first + count && s < shards_; ++s) {
      SSL_CTX_up_ref(fresh[l]);
      SSL_CTX_free(mailboxes_[s].posted[l].exchange(fresh[l], std::memory_order_acq_rel));
    }
    SSL_CTX_free(ctx_[l]);
    ctx_[l] = fresh[l];
  }
  ++reloads_;
  return true;
}

SSL_CTX* TlsContexts::acquire(TlsListener l) const {
  SSL_CTX* ctx = ctx_[static_cast<int>(l)];
  if (ctx) SSL_CTX_up_ref(ctx);
  return ctx;
}

}  // namespace ringcast
