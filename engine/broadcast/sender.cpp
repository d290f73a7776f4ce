// The send path (see sender.h): queueing, the flush, one send per connection, and what a completion
// means for the connection.
#include "engine/broadcast/sender.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "engine/base/check.h"
#include "engine/base/clock.h"
#include "engine/limits.h"

namespace ringcast {

Sender::Sender(Io& io, Frames& frames, ConnSlab& slab, TlsStreams& tls, ShardStats& stats,
               const Config& config)
    : io_(io),
      frames_(frames),
      slab_(slab),
      tls_(tls),
      stats_(stats),
      config_(config),
      // (Default-initialized: a page is touched only once a flush reaches it.)
      msgs_(new msghdr[limits::kSendVectorIovecs / 2]),
      iovs_(new iovec[limits::kSendVectorIovecs]) {}

void Sender::queue_copy(Conn& c, uint32_t id, std::string_view bytes) {
  auto* copy = static_cast<uint8_t*>(std::malloc(bytes.size() + 1));
  RC_ASSERT(copy != nullptr);
  if (!bytes.empty()) std::memcpy(copy, bytes.data(), bytes.size());
  queue(c, id, frames_.owned_frame(copy, static_cast<uint32_t>(bytes.size()), 0, false));
}

void Sender::queue_ws(Conn& c, uint32_t id, ws::Opcode op, std::string_view payload) {
  const ws::FrameBuffer b = ws::copy_server_frame(op, payload);
  queue(c, id, frames_.owned_frame(b.bytes, b.len, 0, false));
}

bool Sender::write_now(Conn& c, uint32_t id, std::string_view bytes) {
  // (Behind something still queued, e.g. a demo answer on a kept-alive connection, it queues: order.
  // Over TLS it queues too: it must be encrypted, which the send does, unless the kernel does.)
  const bool behind = !c.out.empty() || c.sending || c.tls_sealed;
  ssize_t sent = behind ? 0 : io_.send_now(c.fd, bytes.data(), bytes.size());
  if (sent < 0) {
    if (sent != -EAGAIN && sent != -EWOULDBLOCK && sent != -EINTR) return false;
    sent = 0;
  }
  stats_.add(Counter::bytes_out, sent);
  if (static_cast<size_t>(sent) < bytes.size()) queue_copy(c, id, bytes.substr(static_cast<size_t>(sent)));
  return true;
}

void Sender::drop_unsent(Conn& c, bool pushes_only, DropReason reason) {
  if (uint32_t dropped = frames_.drop_unsent(c.out, pushes_only)) {
    stats_.add(Counter::frames_dropped, dropped);
    stats_.add(
        reason == DropReason::slow_consumer ? Counter::frames_dropped_slow : Counter::frames_dropped_closing,
        dropped);
  }
}

void Sender::flush() {
  if (flush_list_.empty()) return;
  // One clock read for the whole batch: the publish -> flush latency of every frame it sends is
  // measured against it (a read per send would cost more than the bucket it feeds).
  const int64_t flush_ns = clock::monotonic_ns();
  tls_.new_flush();
  // issue() never adds to the list, so iterating by index over its size at the start is safe.
  const size_t count = flush_list_.size();
  for (size_t i = 0; i < count; ++i) {
    // The connections to flush are scattered over the slab: their records, then their queues' heads,
    // are loaded a few connections ahead (limits::kPrefetchAhead).
    if (i + limits::kPrefetchAhead < count)
      __builtin_prefetch(&slab_[flush_list_[i + limits::kPrefetchAhead]], 1);
    if (i + limits::kPrefetchAhead / 2 < count)
      frames_.prefetch(slab_[flush_list_[i + limits::kPrefetchAhead / 2]].out.head);
    const uint32_t id = flush_list_[i];
    Conn& c = slab_[id];
    c.in_flush_list = false;
    if (c.phase == Phase::dead || c.sending) continue;
    if (c.tls_sealed) {
      if (tls_.has_output(id)) {
        issue_tls(c, id, flush_ns);
      } else if (!c.out.empty()) {
        // Encrypting waits for the next turn once this flush sealed its share (limits.h).
        if (tls_.may_seal()) {
          issue_tls(c, id, flush_ns);
        } else {
          deferred_.push_back(id);
        }
      }
      continue;
    }
    if (c.out.empty()) continue;
    issue(c, id, flush_ns);
  }
  flush_list_.clear();
  for (uint32_t id : deferred_) schedule(slab_[id], id);
  deferred_.clear();
  if (msgs_used_) submit_vectors();
}

bool Sender::submit_vectors() {
  if (!io_.submit_queued()) return false;  // (the kernel could not take them all: the space stays)
  msgs_used_ = iovs_used_ = 0;
  return true;
}

bool Sender::vector_space() {
  const bool full =
      iovs_used_ + limits::kIovMax > limits::kSendVectorIovecs || msgs_used_ == limits::kSendVectorIovecs / 2;
  return !full || submit_vectors();
}

void Sender::issue(Conn& c, uint32_t id, int64_t flush_ns) {
  // Frames are gathered straight into the flush's vectors; with no room there (the kernel would not
  // take the sends so far, which does not happen with a sane ring), the first frame goes alone.
  iovec one;
  const bool room = vector_space();
  iovec* iov = room ? &iovs_[iovs_used_] : &one;
  int64_t published_ns[limits::kIovMax];
  size_t total = 0;
  const int n = frames_.gather(c.out, iov, room ? limits::kIovMax : 1, config_.send_bytes_per_iteration_max,
                               total, published_ns);
  RC_ASSERT(n > 0);
  for (int i = 0; i < n; ++i)
    if (published_ns[i] > 0) stats_.observe_latency(flush_ns - published_ns[i]);
  c.sending = true;
  c.send_offered = static_cast<uint32_t>(total);
  const uint64_t ud = user_data(Op::send, c.generation, id);
  if (n == 1) {
    io_.send(c.fd, iov[0].iov_base, iov[0].iov_len, ud);
    return;
  }
  msghdr* msg = &msgs_[msgs_used_++];
  *msg = msghdr{};
  msg->msg_iov = iov;
  msg->msg_iovlen = static_cast<size_t>(n);
  iovs_used_ += static_cast<size_t>(n);
  io_.sendmsg(c.fd, msg, ud);
}

// A TLS connection's send: the ciphertext still unsent, or else the head of the out-queue encrypted
// now (retired from the queue at once: its bytes live on in the records). Encrypting only once the
// previous ciphertext is all sent keeps the backlog in the out-queue, where the slow-consumer policy
// and the stalled-reader bound measure it.
void Sender::issue_tls(Conn& c, uint32_t id, int64_t flush_ns) {
  if (!tls_.has_output(id)) {
    if (!tls_.established(id) || tls_.failed(id)) return;  // (frames wait for the handshake)
    if (tls_.hand_to_kernel(id, c.fd)) {  // kTLS: the kernel encrypts; sends carry plaintext from now on
      c.tls_sealed = false;
      issue(c, id, flush_ns);
      return;
    }
    iovec iov[limits::kIovMax];
    int64_t published_ns[limits::kIovMax];
    size_t total = 0;
    const size_t cap = std::min(config_.send_bytes_per_iteration_max, limits::kTlsSendBytesMax);
    const int n = frames_.gather(c.out, iov, limits::kIovMax, cap, total, published_ns);
    RC_ASSERT(n > 0);
    for (int i = 0; i < n; ++i)
      if (published_ns[i] > 0) stats_.observe_latency(flush_ns - published_ns[i]);
    tls_.encrypt(id, iov, n);
    stats_.add(Counter::frames_sent, frames_.complete(c.out, total));
  }
  const uint8_t* data = nullptr;
  size_t len = 0;
  tls_.output(id, data, len);
  RC_ASSERT(len > 0);
  c.sending = true;
  c.send_offered = static_cast<uint32_t>(len);
  io_.send(c.fd, data, len, user_data(Op::send, c.generation, id));
}

SendResult Sender::complete_tls(Conn& c, uint32_t id, int32_t res) {
  if (res < 0) {
    if (res == -EINTR || res == -EAGAIN) {
      schedule(c, id);
      return SendResult::retry;
    }
    return SendResult::failed;
  }
  stats_.add(Counter::sends);
  stats_.add(Counter::bytes_out, res);
  tls_.sent(id, static_cast<size_t>(res));
  const bool short_send = static_cast<uint32_t>(res) < c.send_offered;
  if (c.phase == Phase::dead) return SendResult::failed;
  if (c.out.empty() && !tls_.has_output(id)) return SendResult::drained;
  if (short_send && backlog(c, id) > config_.out_queue_bytes_max && !on_api_port(c.protocol) && !c.close_sent)
    return SendResult::slow;
  schedule(c, id);
  return SendResult::ok;
}

SendResult Sender::complete(Conn& c, uint32_t id, int32_t res) {
  c.sending = false;
  if (c.tls_sealed) return complete_tls(c, id, res);
  if (res < 0) {
    frames_.complete(c.out, 0);
    if (res == -EINTR || res == -EAGAIN) {
      schedule(c, id);
      return SendResult::retry;
    }
    return SendResult::failed;  // reset, broken pipe, or our own shutdown
  }
  stats_.add(Counter::sends);
  stats_.add(Counter::bytes_out, res);
  const bool short_send = static_cast<uint32_t>(res) < c.send_offered;
  stats_.add(Counter::frames_sent, frames_.complete(c.out, static_cast<size_t>(res)));
  if (c.phase == Phase::dead) return SendResult::failed;
  if (c.out.empty()) return SendResult::drained;
  // A slow consumer: the kernel would not take all we offered (the peer's window and our socket
  // buffer are full) and the backlog is still over the limit. A fast reader hit by a burst has its
  // sends taken whole, so it is never cut for the burst alone.
  if (short_send && c.out.bytes > config_.out_queue_bytes_max && !on_api_port(c.protocol) && !c.close_sent)
    return SendResult::slow;
  schedule(c, id);
  return SendResult::ok;
}

}  // namespace ringcast
