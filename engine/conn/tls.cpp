// TLS below the protocol handlers (see tls.h): the BIO over memory, the handshake, decryption of what
// arrived, encryption of what a send carries, and the ciphertext buffers.
#include "engine/conn/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdlib>
#include <cstring>

#include "engine/base/check.h"
#include "engine/codec/tls_hello.h"

namespace ringcast {
namespace {

// The BIO every TLS connection of the process uses: reads take the shard's current input (the
// provided buffer the kernel filled), writes append to the connection's ciphertext. Its data is the
// shard's TlsStreams::Current, which the shard sets around each OpenSSL call.
int bio_write(BIO* bio, const char* data, int len) {
  auto* current = static_cast<TlsStreams::Current*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  current->self->append_output(current->id, reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(len));
  return len;
}

int bio_read(BIO* bio, char* out, int len) {
  auto* current = static_cast<TlsStreams::Current*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (current->in_len == 0) {
    BIO_set_retry_read(bio);  // no more for now: the next recv brings it
    return -1;
  }
  const size_t n = std::min(current->in_len, static_cast<size_t>(len));
  std::memcpy(out, current->in, n);
  current->in += n;
  current->in_len -= n;
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:  // writes are already where the send takes them
      return 1;
    default:
      return 0;
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringcast shard memory");
    RC_ASSERT(m != nullptr);
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

}  // namespace

TlsStreams::TlsStreams(ShardStats& stats) : stats_(stats) {
  current_.self = this;
}

TlsStreams::~TlsStreams() {
  for (uint32_t id = 0; id < conns_.size(); ++id) release(id);
  for (SSL_CTX*& ctx : ctx_) SSL_CTX_free(ctx);
}

void TlsStreams::attach(SSL_CTX* client, SSL_CTX* api, TlsMailbox* mailbox) {
  ctx_[0] = client;
  ctx_[1] = api;
  mailbox_ = mailbox;
  plain_.resize(limits::kTlsPlaintextChunkBytes);
  staging_.resize(tls::kRecordBodyMax);
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
  BIO* bio = BIO_new(bio_method());
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
  }
  return TlsInput::plaintext;
}

size_t TlsStreams::read_plaintext(uint32_t id, uint8_t*& data) {
  Conn& t = conns_[id];
  if (t.failed || t.peer_closed || !t.established) return 0;
  current_.id = id;  // (the input stays where feed() and the reads before left it)
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

void TlsStreams::encrypt(uint32_t id, const iovec* iov, int n) {
  Conn& t = conns_[id];
  RC_ASSERT(t.established && !t.failed);
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

void TlsStreams::append_output(uint32_t id, const uint8_t* data, size_t len) {
  Conn& t = conns_[id];
  if (t.next_len + len > t.next_cap) {
    size_t cap = t.next_cap ? t.next_cap : limits::kTlsBufferMinBytes;
    while (cap < t.next_len + len) cap *= 2;
    auto* grown = static_cast<uint8_t*>(std::realloc(t.next, cap));
    RC_ASSERT(grown != nullptr);
    t.next = grown;
    t.next_cap = static_cast<uint32_t>(cap);
  }
  std::memcpy(t.next + t.next_len, data, len);
  t.next_len += static_cast<uint32_t>(len);
}

void TlsStreams::output(uint32_t id, const uint8_t*& data, size_t& len) {
  Conn& t = conns_[id];
  if (t.out_sent == t.out_len && t.next_len) {
    // The ciphertext in flight is all sent: what was written since becomes the next send.
    std::free(t.out);
    t.out = t.next;
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
    std::free(t.out);
    t.out = nullptr;
    t.out_len = t.out_sent = 0;
  }
}

bool TlsStreams::close_notify(uint32_t id) {
  Conn& t = conns_[id];
  if (!t.established || t.failed || t.notified) return false;
  t.notified = true;
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
  if (t.ssl) {
    current_.id = id;
    current_.in_len = 0;
    SSL_free(t.ssl);
  }
  std::free(t.out);
  std::free(t.next);
  t = Conn{};
}

}  // namespace ringcast
