// The node's TLS contexts, one per TLS listener (client, API): made from the configured PEM files at
// start, made again on SIGHUP and posted to every shard of the process through its mailbox; a shard
// takes a posted context for the connections it accepts from then on, while open connections keep the
// one they were made with (OpenSSL counts the references). Also our defaults (TLS 1.2 and 1.3, ALPN
// http/1.1, no compression or renegotiation, server cipher preference, session tickets whose keys
// every shard and worker share) and whether the kernel offers kTLS.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/config.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace ringcast {

enum class TlsListener : uint8_t { client = 0, api = 1 };

// Session-ticket keys (name, HMAC and AES keys: OpenSSL's 80 bytes), made once before any worker
// forks and kept across reloads, so a client resuming its session may land on any shard or worker.
struct TlsTicketKeys {
  uint8_t bytes[80];
};

// The BIO control our contexts' key log is forwarded through (see make_tls_server_context): the
// connection's own BIO gets each line OpenSSL logs (parg: the line), and OpenSSL's kTLS hand-off
// (BIO_CTRL_SET_KTLS, not in OpenSSL's public headers: larg nonzero for sending, parg the kernel's
// tls_crypto_info) reaches the same BIO. conn/tls.cpp takes a finished handshake's keys from them.
constexpr int kBioCtrlKeyLog = 0x7263;
constexpr int kBioCtrlSetKtls = 72;

// A server context over `files` with our defaults; nullptr and a message when a file is missing or
// unreadable or the key does not match the certificate.
SSL_CTX* make_tls_server_context(const TlsFiles& files, const TlsTicketKeys& keys, std::string& error);

// Start-up: every configured pair loads (the server exits 2 with the message otherwise).
bool check_tls_files(const Config& config, std::string& error);

// Whether the kernel offers the "tls" upper-layer protocol (kTLS): /proc's list of available ULPs.
bool kernel_tls_available();

// Contexts a reload made for one shard, each holding a reference the shard takes over.
struct TlsMailbox {
  std::atomic<SSL_CTX*> posted[2] = {nullptr, nullptr};
};

class TlsContexts {
 public:
  TlsContexts() = default;
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  // Loads the configured pairs (none: TLS off, true) and makes a mailbox per shard of the node.
  bool load(const Config& config, uint32_t shards, std::string& error);
  // SIGHUP: the files again; on success the new contexts go to every mailbox in [first, first+count).
  // On failure the old ones stay in use and the error says why.
  bool reload(uint32_t first, uint32_t count, std::string& error);

  bool enabled(TlsListener l) const { return ctx_[static_cast<int>(l)] != nullptr; }
  bool any() const { return ctx_[0] || ctx_[1]; }
  // The current context with a reference for the caller (nullptr when the listener is plain).
  SSL_CTX* acquire(TlsListener l) const;
  TlsMailbox* mailbox(uint32_t shard) const { return mailboxes_ ? &mailboxes_[shard] : nullptr; }
  uint64_t reloads() const { return reloads_; }
  // Whether connections' sending keys go to the kernel (kTLS offered, tls_kernel on).
  bool kernel_tx() const { return kernel_tx_; }

 private:
  TlsFiles files_[2];
  SSL_CTX* ctx_[2] = {nullptr, nullptr};
  TlsTicketKeys keys_{};
  std::unique_ptr<TlsMailbox[]> mailboxes_;
  uint32_t shards_ = 0;
  uint64_t reloads_ = 0;
  bool kernel_tx_ = false;
};

}  // namespace ringcast
