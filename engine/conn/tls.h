// TLS as a property of a connection's byte stream, below the protocol handlers. Ciphertext the kernel
// delivered into the shard's provided buffers is decrypted here and the plaintext goes to the
// connection's protocol exactly as a plain connection's bytes would; the plaintext a send gathers from
// the out-queue (shared frames, encoded once for everyone) is encrypted here into the connection's
// ciphertext, which is what its send carries. OpenSSL sees memory only (one small BIO per connection
// over the shard's current input and the connection's output), so the shard's io_uring does every
// socket operation. Once the handshake is done with an AEAD suite, the connection's keys are taken
// from OpenSSL and its SSL is freed: its records are sealed and opened here (tls_records.h), as the
// kernel's kTLS would, so an idle TLS connection holds ~200 B of keys and a send encrypts straight
// from the shared frames. Where the kernel offers kTLS, the sending keys then go to the kernel
// (ktls.h) before the connection's first send of frames: its sends carry plaintext from the shared
// frames like a plain connection's, and the kernel encrypts. Owns each TLS connection's SSL or keys
// and its ciphertext; knows nothing of protocols.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/conn/tls_buffers.h"
#include "engine/conn/tls_records.h"
#include "engine/limits.h"
#include "engine/node/stats.h"
#include "engine/node/tls_context.h"

typedef struct ssl_st SSL;

namespace ringcast {

// What a connection's ciphertext came to.
enum class TlsInput : uint8_t {
  more,            // nothing for the protocol (yet): read on
  plaintext,       // the handshake is done; read_plaintext() has what the peer sent
  closed,          // the peer ended TLS (close_notify): nothing more will come
  failed,          // a bad or oversized handshake, a record that does not decrypt: close (counted)
  plaintext_http,  // plain HTTP sent to the TLS port: answer plaintext_http_answer() and close
};

class TlsStreams {
 public:
  explicit TlsStreams(ShardStats& stats);
  ~TlsStreams();
  TlsStreams(const TlsStreams&) = delete;
  TlsStreams& operator=(const TlsStreams&) = delete;

  // The shard's contexts (a reference each, taken over; nullptr: that listener is plain), the mailbox
  // reloads post new ones to, and whether sending keys go to the kernel (kTLS offered and wanted).
  void attach(SSL_CTX* client, SSL_CTX* api, TlsMailbox* mailbox, bool kernel_tx = false);
  bool listener_tls(TlsListener l) const { return ctx_[static_cast<int>(l)] != nullptr; }

  // A connection accepted on a TLS listener. Its SSL waits for the first bytes, so a connect that
  // never speaks costs no OpenSSL memory.
  void open(uint32_t id, TlsListener l, uint32_t capacity);
  // Ciphertext arrived for the connection. On `plaintext`, call read_plaintext() until it returns 0,
  // before the next input (the input is consumed as the records are read).
  TlsInput feed(uint32_t id, const uint8_t* data, size_t len);
  // The next piece of plaintext (in a shard-wide buffer valid until the next call), 0 when there is
  // no more. A failure or the peer's close_notify is reported by the next feed()... and by failed().
  size_t read_plaintext(uint32_t id, uint8_t*& data);
  bool failed(uint32_t id) const { return conns_[id].failed; }
  bool peer_closed(uint32_t id) const { return conns_[id].peer_closed; }
  bool established(uint32_t id) const { return conns_[id].established; }
  // The handshake is done and OpenSSL is out of it: our own record layer has the keys.
  bool offloaded(uint32_t id) const { return conns_[id].established && conns_[id].ssl == nullptr; }

  // ---- sending ----
  // Hands the connection's sending keys to the kernel (socket `fd`), once its own ciphertext is all
  // sent: true when the kernel encrypts its sends from now on (they then carry plaintext, as a plain
  // connection's do). False where it cannot (no kTLS, OpenSSL keeps the connection, the kernel
  // refused: counted in tlsKernelErrors once), and the connection goes on with encrypt().
  bool hand_to_kernel(uint32_t id, int fd);
  bool kernel_tx(uint32_t id) const { return conns_[id].kernel_tx; }
  // Encrypts plaintext into the connection's ciphertext (after the handshake, before any hand-off).
  void encrypt(uint32_t id, const iovec* iov, int n);
  // A flush begins; may_seal() says whether it may still encrypt (kTlsSealBytesPerFlush).
  void new_flush() { sealed_this_flush_ = 0; }
  bool may_seal() const { return sealed_this_flush_ < limits::kTlsSealBytesPerFlush; }
  // Ciphertext waiting for a send (the handshake's answers, encrypted frames).
  bool has_output(uint32_t id) const { return conns_[id].out_len > 0 || conns_[id].next_len > 0; }
  size_t output_bytes(uint32_t id) const {
    return conns_[id].out_len - conns_[id].out_sent + conns_[id].next_len;
  }
  // The bytes the next send carries; they stay put until sent() has retired them all.
  void output(uint32_t id, const uint8_t*& data, size_t& len);
  void sent(uint32_t id, size_t bytes);
  // What an alert written by a failed handshake leaves for one best-effort write before the close.
  void pending_alert(uint32_t id, const uint8_t*& data, size_t& len) { output(id, data, len); }

  // Our side is done: writes TLS's close_notify (once, after the handshake) for the last send. True
  // when it was written now for a send to carry (the kernel's, when it holds the keys, is written to
  // the socket at once: false).
  bool close_notify(uint32_t id);

  void release(uint32_t id);

  // The shard's BIO state: where a connection's BIO reads from and writes to, set around each call.
  struct Current {
    const uint8_t* in = nullptr;
    size_t in_len = 0;
    uint32_t id = 0;
    TlsStreams* self = nullptr;
  };
  void append_output(uint32_t id, const uint8_t* data, size_t len);
  // From the BIO while OpenSSL runs the handshake: a direction's kTLS keys, a key-log line, and the
  // bytes crossing the BIO (counted as records, for the sequence numbers once the keys are ours).
  void on_crypto_info(uint32_t id, const void* info, bool tx);
  void on_key_log(uint32_t id, const char* line);
  void count_written(uint32_t id, const uint8_t* data, size_t len);
  void count_read(uint32_t id, const uint8_t* data, size_t len);

 private:
  // What the handshake tells us of the keys, and then the keys (tls_records.h).
  struct Records {
    tls::Keys keys;
    bool have_tx = false;  // OpenSSL switched its sending keys (kTLS crypto_info): counting from there
    bool have_rx = false;
    uint8_t tx_secret_len = 0;  // TLS 1.3 traffic secrets from the key log
    uint8_t rx_secret_len = 0;
    tls::RecordCounter written;  // records OpenSSL wrote under the new sending keys
    tls::RecordCounter read;     // ... and read under the new receiving keys
  };
  // A connection's TLS: its SSL (until its keys are ours), the ciphertext a send has in flight
  // (`out`, never moved or grown while the kernel may read it) and what was written meanwhile
  // (`next`), and a record that arrived in pieces (`partial`).
  struct Conn {
    SSL* ssl = nullptr;
    Records* records = nullptr;
    uint8_t* partial = nullptr;
    uint32_t partial_len = 0;
    uint8_t* out = nullptr;
    uint8_t* next = nullptr;
    uint32_t out_cap = 0;
    uint32_t out_len = 0;
    uint32_t out_sent = 0;
    uint32_t next_len = 0;
    uint32_t next_cap = 0;
    uint32_t handshake_bytes = 0;  // ciphertext received before the handshake finished
    int fd = -1;                   // the socket, once the kernel holds the sending keys
    uint8_t listener = 0;
    bool on = false;
    bool established = false;
    bool failed = false;
    bool peer_closed = false;
    bool notified = false;  // close_notify written
    bool keep_ssl = false;  // a suite our records do not run: OpenSSL keeps the connection
    bool kernel_tx = false;       // the kernel holds the sending keys (kTLS)
    bool kernel_refused = false;  // ... and refused them once: not asked again
  };
  bool start(uint32_t id);
  void take_keys(uint32_t id);
  size_t read_records(uint32_t id, uint8_t*& data);
  enum class Update : uint8_t { done, bad, kernel_refused };
  Update on_handshake_message(Conn& t, const uint8_t* msg, size_t len);
  uint8_t* reserve_output(Conn& t, size_t bytes);
  void drop_records(Conn& t);
  void take_posted();
  void set_input(uint32_t id, const uint8_t* data, size_t len);

  ShardStats& stats_;
  SSL_CTX* ctx_[2] = {nullptr, nullptr};
  TlsMailbox* mailbox_ = nullptr;
  std::vector<Conn> conns_;
  Current current_;
  std::vector<uint8_t> plain_;    // decrypted bytes on their way to the protocol
  std::vector<uint8_t> staging_;  // a send's frames copied together: one record, not one per frame
  std::unique_ptr<tls::RecordCipher> cipher_;  // (TLS shards only)
  bool kernel_tx_ = false;                     // sending keys go to the kernel (kTLS)
  TlsBuffers buffers_;                         // sent ciphertext buffers, for the next sends
  size_t sealed_this_flush_ = 0;               // (kTlsSealBytesPerFlush)
};

}  // namespace ringcast
