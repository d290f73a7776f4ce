// TLS below the protocol handlers (see tls.h): the handshake (over tls_bio.h's memory BIO), decryption
// of what arrived, encryption of what a send carries (into tls_buffers.h's buffers), and the hand-off of
// the sending keys to the kernel (ktls.h).
#include "engine/conn/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "engine/base/check.h"
#include "engine/base/log.h"
#include "engine/codec/tls_hello.h"
#include "engine/conn/ktls.h"
#include "engine/conn/tls_bio.h"

namespace ringcast {

TlsStreams::TlsStreams(ShardStats& stats) : stats_(stats) {
  current_.self = this;
}

TlsStreams::~TlsStreams() {
  for (uint32_t id = 0; id < conns_.size(); ++id) release(id);
  for (SSL_CTX*& ctx : ctx_) SSL_CTX_free(ctx);
}

void TlsStreams::attach(SSL_CTX* client, SSL_CTX* api, TlsMailbox* mailbox, bool kernel_tx) {
  ctx_[0] = client;
  ctx_[1] = api;
  mailbox_ = mailbox;
  kernel_tx_ = kernel_tx;
  plain_.resize(std::max(limits::kTlsPlaintextChunkBytes, tls::kCiphertextMax));
  staging_.resize(tls::kRecordBodyMax);
  if (client || api) cipher_ = std::make_unique<tls::RecordCipher>();
}

// A reload posted new contexts: connections from now on use them (open ones keep theirs).
void TlsStreams::take_posted() {
  if (!mailbox_) return;
  for (int l = 0; l < 2; ++l) {
    if (!mailbox_->posted[l].load(std::memory_order_relaxed)) continue;
    if (SSL_CTX* fresh = mailbox_->posted[l].exchange(nullptr, std::memory_order_acq_rel)) {
      SSL_CTX_free(ctx_[l]);
      ctx_[l] = fresh;
    }
  }
}

void TlsStreams::open(uint32_t id, TlsListener l, uint32_t capacity) {
  if (conns_.size() < capacity) conns_.resize(capacity);
  Conn& t = conns_[id];
  RC_ASSERT(!t.on && !t.ssl);
  t = Conn{};
  t.on = true;
  t.listener = static_cast<uint8_t>(l);
}

bool TlsStreams::start(uint32_t id) {
  take_posted();
  Conn& t = conns_[id];
  t.ssl = SSL_new(ctx_[t.listener]);
  if (!t.ssl) return false;
  BIO* bio = BIO_new(tls_bio_method());
  if (!bio) {
    SSL_free(t.ssl);
    t.ssl = nullptr;
    return false;
  }
  BIO_set_data(bio, &current_);
  SSL_set_bio(t.ssl, bio, bio);  // one reference, taken by the SSL
  SSL_set_accept_state(t.ssl);
  return true;
}

void TlsStreams::set_input(uint32_t id, const uint8_t* data, size_t len) {
  current_.id = id;
  current_.in = data;
  current_.in_len = len;
}

TlsInput TlsStreams::feed(uint32_t id, const uint8_t* data, size_t len) {
  Conn& t = conns_[id];
  if (t.failed) return TlsInput::failed;
  if (t.peer_closed) return TlsInput::closed;
  if (t.established && !t.ssl) {  // our records: read_plaintext() opens them
    set_input(id, data, len);
    return TlsInput::plaintext;
  }
  if (!t.ssl) {
    if (tls::classify_first_bytes(data, len) == tls::FirstBytes::plaintext_http) {
      stats_.add(Counter::tls_plaintext_refused);
      t.failed = true;
      return TlsInput::plaintext_http;
    }
    if (!start(id)) {
      stats_.add(Counter::tls_handshakes_failed);
      t.failed = true;
      return TlsInput::failed;
    }
  }
  set_input(id, data, len);
  if (!t.established) {
    // The handshake is bounded in bytes (here) and in time (the connection's handshake deadline).
    t.handshake_bytes += static_cast<uint32_t>(std::min<size_t>(len, limits::kTlsHandshakeBytesMax + 1));
    if (t.handshake_bytes > limits::kTlsHandshakeBytesMax) {
      stats_.add(Counter::tls_handshakes_failed);
      t.failed = true;
      return TlsInput::failed;
    }
    ERR_clear_error();
    const int r = SSL_do_handshake(t.ssl);
    if (r != 1) {
      const int e = SSL_get_error(t.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        SSL_free_buffers(t.ssl);  // (see read_plaintext: a stalled handshake holds no record buffer)
        return TlsInput::more;
      }
      ERR_clear_error();
      stats_.add(Counter::tls_handshakes_failed);
      t.failed = true;
      return TlsInput::failed;
    }
    t.established = true;
    SSL_free_buffers(t.ssl);
    stats_.add(Counter::tls_handshakes);
    stats_.add(Counter::tls_open, 1);
    if (SSL_session_reused(t.ssl)) stats_.add(Counter::tls_resumed);
    take_keys(id);
  }
  return TlsInput::plaintext;
}

size_t TlsStreams::read_plaintext(uint32_t id, uint8_t*& data) {
  Conn& t = conns_[id];
  if (t.failed || t.peer_closed || !t.established) return 0;
  current_.id = id;  // (the input stays where feed() and the reads before left it)
  if (!t.ssl) return read_records(id, data);
  ERR_clear_error();
  const int n = SSL_read(t.ssl, plain_.data(), static_cast<int>(plain_.size()));
  if (n > 0) {
    data = plain_.data();
    return static_cast<size_t>(n);
  }
  switch (SSL_get_error(t.ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      // Every byte received is consumed; a partial record waits inside OpenSSL. OpenSSL 3.0 keeps its
      // 16 KiB read buffer even with SSL_MODE_RELEASE_BUFFERS: freeing it now (a no-op while it holds
      // a partial record) is what keeps an idle connection at the size of its SSL object.
      SSL_free_buffers(t.ssl);
      break;
    case SSL_ERROR_ZERO_RETURN:
      t.peer_closed = true;
      break;
    default:
      ERR_clear_error();
      stats_.add(Counter::tls_record_errors);
      t.failed = true;
      break;
  }
  current_.in_len = 0;
  return 0;
}

bool TlsStreams::hand_to_kernel(uint32_t id, int fd) {
  Conn& t = conns_[id];
  if (!kernel_tx_ || t.kernel_tx || t.kernel_refused || !t.established || t.failed || t.ssl || has_output(id))
    return false;
  if (const int rc = ktls::hand_tx(fd, t.records->keys); rc < 0) {
    // (Once per connection: the kernel may run some ciphers and not others.)
    t.kernel_refused = true;
    stats_.add(Counter::tls_kernel_errors);
    LOG_DEBUG("tls: the kernel refused a connection's sending keys (%s): encrypting it in user space",
              std::strerror(-rc));
    return false;
  }
  t.kernel_tx = true;
  t.fd = fd;
  stats_.add(Counter::tls_kernel_tx, 1);
  return true;
}

void TlsStreams::encrypt(uint32_t id, const iovec* iov, int n) {
  Conn& t = conns_[id];
  RC_ASSERT(t.established && !t.failed && !t.kernel_tx);
  if (!t.ssl) {
    // Our records: sealed straight from the frames into a buffer sized for them.
    size_t total = 0;
    for (int i = 0; i < n; ++i) total += iov[i].iov_len;
    tls::Keys& keys = t.records->keys;
    uint8_t* to = reserve_output(t, tls::sealed_bytes(keys, total));
    const size_t sealed = cipher_->seal(keys, tls::kApplicationData, iov, n, total, to);
    t.next_len += static_cast<uint32_t>(sealed);
    sealed_this_flush_ += sealed;
    return;
  }
  current_.id = id;
  current_.in_len = 0;
  // Frames are gathered into records of up to 16 KiB: a send of many small frames (one per item when
  // coalescing is off) is one record's overhead and one cipher call, not one per frame.
  size_t staged = 0;
  auto write_staged = [&] {
    if (!staged) return;
    ERR_clear_error();
    // Our BIO takes every write whole, so SSL_write cannot stop half way.
    const int w = SSL_write(t.ssl, staging_.data(), static_cast<int>(staged));
    RC_ASSERT(w == static_cast<int>(staged));
    staged = 0;
  };
  for (int i = 0; i < n; ++i) {
    const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
    size_t left = iov[i].iov_len;
    while (left) {
      if (staged == 0 && left >= staging_.size()) {
        // A large frame goes straight from the frame store, a record at a time.
        const size_t chunk = staging_.size();
        ERR_clear_error();
        const int w = SSL_write(t.ssl, p, static_cast<int>(chunk));
        RC_ASSERT(w == static_cast<int>(chunk));
        p += chunk;
        left -= chunk;
        continue;
      }
      const size_t take = std::min(left, staging_.size() - staged);
      std::memcpy(staging_.data() + staged, p, take);
      staged += take;
      p += take;
      left -= take;
      if (staged == staging_.size()) write_staged();
    }
  }
  write_staged();
  SSL_free_buffers(t.ssl);  // (the write buffer, once its records are in our ciphertext)
}

// Room for `bytes` more after what `next` holds: sized to what is asked (a send's records are sized
// before they are sealed), doubling only when appends keep coming.
uint8_t* TlsStreams::reserve_output(Conn& t, size_t bytes) {
  const size_t need = size_t{t.next_len} + bytes;
  if (need > t.next_cap) {
    uint32_t cap = 0;
    uint8_t* grown = buffers_.take(std::max(need, size_t{t.next_cap} * 2), cap);
    if (t.next_len) std::memcpy(grown, t.next, t.next_len);
    buffers_.give(t.next, t.next_cap);
    t.next = grown;
    t.next_cap = cap;
  }
  return t.next + t.next_len;
}

void TlsStreams::append_output(uint32_t id, const uint8_t* data, size_t len) {
  Conn& t = conns_[id];
  std::memcpy(reserve_output(t, len), data, len);
  t.next_len += static_cast<uint32_t>(len);
}

void TlsStreams::output(uint32_t id, const uint8_t*& data, size_t& len) {
  Conn& t = conns_[id];
  if (t.out_sent == t.out_len && t.next_len) {
    // The ciphertext in flight is all sent: what was written since becomes the next send.
    buffers_.give(t.out, t.out_cap);
    t.out = t.next;
    t.out_cap = t.next_cap;
    t.out_len = t.next_len;
    t.out_sent = 0;
    t.next = nullptr;
    t.next_cap = t.next_len = 0;
  }
  data = t.out + t.out_sent;
  len = t.out_len - t.out_sent;
}

void TlsStreams::sent(uint32_t id, size_t bytes) {
  Conn& t = conns_[id];
  RC_ASSERT(t.out_sent + bytes <= t.out_len);
  t.out_sent += static_cast<uint32_t>(bytes);
  if (t.out_sent == t.out_len) {
    buffers_.give(t.out, t.out_cap);
    t.out = nullptr;
    t.out_cap = t.out_len = t.out_sent = 0;
  }
}

bool TlsStreams::close_notify(uint32_t id) {
  Conn& t = conns_[id];
  if (!t.established || t.failed || t.notified) return false;
  t.notified = true;
  static const uint8_t kCloseNotify[2] = {1, 0};  // warning, close_notify
  if (t.kernel_tx) {
    // (The queue is drained when the close comes: nothing it sends can overtake this. Best effort, as
    // the user-space close_notify's one send is.)
    ktls::send_record(t.fd, tls::kAlert, kCloseNotify, sizeof(kCloseNotify));
    return false;
  }
  if (!t.ssl) {
    tls::Keys& keys = t.records->keys;
    uint8_t* to = reserve_output(t, tls::sealed_bytes(keys, sizeof(kCloseNotify)));
    t.next_len += static_cast<uint32_t>(cipher_->seal(keys, tls::kAlert, kCloseNotify, sizeof(kCloseNotify), to));
    return true;
  }
  current_.id = id;
  current_.in_len = 0;
  ERR_clear_error();
  SSL_shutdown(t.ssl);  // writes close_notify; the peer's is not waited for (we linger instead)
  ERR_clear_error();
  return has_output(id);
}

void TlsStreams::release(uint32_t id) {
  if (id >= conns_.size() || !conns_[id].on) return;
  Conn& t = conns_[id];
  if (t.established) stats_.add(Counter::tls_open, -1);
  if (t.established && !t.ssl) stats_.add(Counter::tls_own_records, -1);
  if (t.kernel_tx) stats_.add(Counter::tls_kernel_tx, -1);
  if (t.ssl) {
    current_.id = id;
    current_.in_len = 0;
    SSL_free(t.ssl);
  }
  drop_records(t);
  std::free(t.partial);
  buffers_.give(t.out, t.out_cap);
  buffers_.give(t.next, t.next_cap);
  t = Conn{};
}

// ---- our own records once the handshake is done (tls_records.h) ----

void TlsStreams::drop_records(Conn& t) {
  if (!t.records) return;
  OPENSSL_cleanse(t.records, sizeof(Records));
  delete t.records;
  t.records = nullptr;
}

void TlsStreams::on_crypto_info(uint32_t id, const void* info, bool tx) {
  Conn& t = conns_[id];
  if (!t.ssl || t.established || t.keep_ssl) return;
  if (!t.records) t.records = new Records{};
  Records& r = *t.records;
  tls::Direction d{};
  tls::Aead aead{};
  bool tls13 = false;
  if (!tls::take_crypto_info(static_cast<const tls_crypto_info*>(info), d, aead, tls13)) {
    t.keep_ssl = true;  // a suite we do not run ourselves: OpenSSL keeps the connection
    drop_records(t);
    return;
  }
  r.keys.aead = aead;
  r.keys.tls13 = tls13;
  // TLS 1.3's keys come from the traffic secrets (a KeyUpdate needs them); TLS 1.2's from here.
  tls::Direction& to = tx ? r.keys.tx : r.keys.rx;
  if (!tls13) {
    std::memcpy(to.key, d.key, sizeof(d.key));
    std::memcpy(to.iv, d.iv, sizeof(d.iv));
  }
  to.seq = d.seq;
  (tx ? r.have_tx : r.have_rx) = true;
  (tx ? r.written : r.read) = tls::RecordCounter{};
  OPENSSL_cleanse(&d, sizeof(d));
}

void TlsStreams::on_key_log(uint32_t id, const char* line) {
  Conn& t = conns_[id];
  if (!t.ssl || t.established || t.keep_ssl) return;
  // "<label> <client random, 64 hex digits> <secret in hex>" (NSS key log format)
  static const char kServer[] = "SERVER_TRAFFIC_SECRET_0 ";
  static const char kClient[] = "CLIENT_TRAFFIC_SECRET_0 ";
  const bool server = std::strncmp(line, kServer, sizeof(kServer) - 1) == 0;
  if (!server && std::strncmp(line, kClient, sizeof(kClient) - 1) != 0) return;
  const char* hex = std::strchr(line + sizeof(kServer) - 1, ' ');
  if (!hex) return;
  ++hex;
  const size_t digits = std::strlen(hex);
  if (digits % 2 || digits / 2 > tls::kSecretMax) return;
  if (!t.records) t.records = new Records{};
  Records& r = *t.records;
  uint8_t* secret = server ? r.keys.tx.secret : r.keys.rx.secret;
  for (size_t i = 0; i < digits / 2; ++i) {
    const int hi = OPENSSL_hexchar2int(static_cast<unsigned char>(hex[2 * i]));
    const int lo = OPENSSL_hexchar2int(static_cast<unsigned char>(hex[2 * i + 1]));
    if (hi < 0 || lo < 0) return;
    secret[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  (server ? r.tx_secret_len : r.rx_secret_len) = static_cast<uint8_t>(digits / 2);
}

void TlsStreams::count_written(uint32_t id, const uint8_t* data, size_t len) {
  Conn& t = conns_[id];
  if (t.records && t.records->have_tx && t.ssl) t.records->written.feed(data, len);
}

void TlsStreams::count_read(uint32_t id, const uint8_t* data, size_t len) {
  Conn& t = conns_[id];
  if (t.records && t.records->have_rx && t.ssl) t.records->read.feed(data, len);
}

// The handshake is done: when OpenSSL told us both directions' keys (an AEAD suite) and stands at a
// record boundary with nothing buffered, the keys are ours and the SSL is freed. Otherwise OpenSSL
// keeps the connection (a CBC suite, say) and nothing else changes.
void TlsStreams::take_keys(uint32_t id) {
  Conn& t = conns_[id];
  Records* r = t.records;
  auto at_boundary = [](const tls::RecordCounter& c) { return c.header_got == 0 && c.body_left == 0; };
  bool ok = r && !t.keep_ssl && r->have_tx && at_boundary(r->written) && at_boundary(r->read) &&
            !SSL_has_pending(t.ssl);
  if (ok && r->keys.tls13) {
    const uint8_t len = r->tx_secret_len;
    ok = len && len == r->rx_secret_len && tls::derive_traffic_keys(r->keys.tx, r->keys.aead, r->keys.tx.secret, len) &&
         tls::derive_traffic_keys(r->keys.rx, r->keys.aead, r->keys.rx.secret, len);
    r->keys.secret_len = len;
    // Sending: the records OpenSSL wrote since it switched keys (its session ticket). Receiving: the
    // client's application keys start with what comes after its Finished, still unread.
    r->keys.tx.seq = r->written.records;
    r->keys.rx.seq = r->have_rx ? r->read.records : 0;
  } else if (ok) {
    ok = r->have_rx;
    r->keys.tx.seq += r->written.records;  // (its Finished)
    r->keys.rx.seq += r->read.records;     // (the client's Finished)
  }
  if (!ok) {
    drop_records(t);
    return;
  }
  SSL_free(t.ssl);
  t.ssl = nullptr;
  stats_.add(Counter::tls_own_records, 1);
}

size_t TlsStreams::read_records(uint32_t id, uint8_t*& data) {
  Conn& t = conns_[id];
  tls::Keys& keys = t.records->keys;
  auto fail = [&] {
    stats_.add(Counter::tls_record_errors);
    t.failed = true;
    current_.in_len = 0;
    std::free(t.partial);
    t.partial = nullptr;
    t.partial_len = 0;
    return size_t{0};
  };
  auto take_into_partial = [&](size_t up_to) {
    const size_t take = std::min(up_to - t.partial_len, current_.in_len);
    std::memcpy(t.partial + t.partial_len, current_.in, take);
    t.partial_len += static_cast<uint32_t>(take);
    current_.in += take;
    current_.in_len -= take;
  };
  constexpr size_t kRecordMax = tls::kHeaderBytes + tls::kCiphertextMax;
  for (;;) {
    const uint8_t* record = nullptr;
    size_t len = 0;
    if (t.partial_len) {  // a record that began in an earlier input
      if (t.partial_len < tls::kHeaderBytes) take_into_partial(tls::kHeaderBytes);
      len = tls::record_bytes(t.partial, t.partial_len);
      if (len > kRecordMax) return fail();
      if (!len) return 0;
      take_into_partial(len);
      if (t.partial_len < len) return 0;
      record = t.partial;
    } else {
      if (!current_.in_len) return 0;
      len = tls::record_bytes(current_.in, current_.in_len);
      if (len > kRecordMax) return fail();
      if (!len || len > current_.in_len) {  // the rest comes with the next input
        t.partial = static_cast<uint8_t*>(std::malloc(kRecordMax));
        RC_ASSERT(t.partial != nullptr);
        take_into_partial(kRecordMax);
        return 0;
      }
      record = current_.in;
      current_.in += len;
      current_.in_len -= len;
    }
    size_t plain = 0;
    uint8_t type = 0;
    const tls::Opened opened = cipher_->open(keys, record, len, plain_.data(), plain, type);
    if (t.partial) {
      std::free(t.partial);
      t.partial = nullptr;
      t.partial_len = 0;
    }
    if (opened != tls::Opened::ok) return fail();
    switch (type) {
      case tls::kApplicationData:
        if (!plain) continue;
        data = plain_.data();
        return plain;
      case tls::kAlert:
        if (plain != 2) return fail();
        if (plain_[1] == 90) continue;  // user_canceled: a close_notify follows
        if (plain_[1] != 0) return fail();  // a fatal alert (counted as OpenSSL's path counts it)
        t.peer_closed = true;               // close_notify
        current_.in_len = 0;
        return 0;
      case tls::kHandshake:
        switch (keys.tls13 ? on_handshake_message(t, plain_.data(), plain) : Update::bad) {
          case Update::done:
            continue;
          case Update::bad:
            return fail();  // (TLS 1.2: renegotiation, which we refuse)
          case Update::kernel_refused:
            t.failed = true;  // (counted in tlsKernelErrors)
            current_.in_len = 0;
            return 0;
        }
        return fail();
      default:
        return fail();
    }
  }
}

// TLS 1.3's only handshake message after the handshake that a client sends us: KeyUpdate (RFC 8446
// 4.6.3). The receiving keys move on; when the client asks, ours do too, after telling it so.
TlsStreams::Update TlsStreams::on_handshake_message(Conn& t, const uint8_t* msg, size_t len) {
  constexpr uint8_t kKeyUpdate = 24;
  if (len != 5 || msg[0] != kKeyUpdate || msg[1] || msg[2] || msg[3] != 1 || msg[4] > 1) return Update::bad;
  tls::Keys& keys = t.records->keys;
  if (!tls::next_traffic_secret(keys.rx, keys.aead, keys.secret_len)) return Update::bad;
  if (msg[4] == 1) {
    static const uint8_t kUpdateNotRequested[5] = {kKeyUpdate, 0, 0, 1, 0};
    if (t.kernel_tx) {
      // The kernel seals our KeyUpdate under the old keys and takes the next ones (Linux 6.14 and
      // later; earlier kernels cannot change keys, and the connection ends: counted). A send already
      // handed to the kernel went out under the old keys, one still waiting goes under the new.
      if (ktls::send_record(t.fd, tls::kHandshake, kUpdateNotRequested, sizeof(kUpdateNotRequested)) < 0 ||
          !tls::next_traffic_secret(keys.tx, keys.aead, keys.secret_len) || ktls::update_tx(t.fd, keys) < 0) {
        stats_.add(Counter::tls_kernel_errors);
        return Update::kernel_refused;
      }
    } else {
      uint8_t* to = reserve_output(t, tls::sealed_bytes(keys, sizeof(kUpdateNotRequested)));
      t.next_len += static_cast<uint32_t>(
          cipher_->seal(keys, tls::kHandshake, kUpdateNotRequested, sizeof(kUpdateNotRequested), to));
      if (!tls::next_traffic_secret(keys.tx, keys.aead, keys.secret_len)) return Update::bad;
    }
  }
  stats_.add(Counter::tls_key_updates);
  return Update::done;
}

}  // namespace ringcast
