// The send path, the last step of the data flow: frames queued on a connection (references into the
// frame store, frames.h) leave for the kernel here. Queueing schedules the connection for the loop's
// flush phase; the flush issues at most one send per connection, carrying every queued frame (up to
// the per-turn cap) in one iovec, so frames keep their order; the send's completion retires what the
// kernel took and says what the connection needs next. Owns the flush list and the msghdrs of the
// flush's multi-frame sends: the kernel copies a msghdr and its iovec when it takes the submission
// (io_uring's IORING_FEAT_SUBMIT_STABLE), so they live in one space reused every flush, never in an
// allocation per send; the frames they point to stay queued until the send completes. Knows nothing
// of protocols. A TLS connection's send carries ciphertext: its frames are encrypted (conn/tls.h) when
// the send is issued, and retired from the out-queue then; once the kernel holds its sending keys
// (kTLS), its sends are a plain connection's.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/broadcast/frames.h"
#include "engine/codec/frame.h"
#include "engine/config.h"
#include "engine/conn/conn.h"
#include "engine/conn/tls.h"
#include "engine/limits.h"
#include "engine/node/stats.h"
#include "engine/shard/io.h"

namespace ringcast {

// What a send's completion asks of the connection's owner.
enum class SendResult : uint8_t {
  ok,       // sent; what is still queued is scheduled for the next flush
  retry,    // the kernel said try again (-EAGAIN, -EINTR): scheduled again
  slow,     // a short send with the backlog still over out_queue_bytes_max: a slow consumer, to be cut
  failed,   // the socket failed (reset, broken pipe, our shutdown) or the connection is dead: end it
  drained,  // everything queued is sent: the connection's after-flush action is due
};

// Why unsent frames are discarded (the counter they go to).
enum class DropReason : uint8_t { closing, slow_consumer };

class Sender {
 public:
  Sender(Io& io, Frames& frames, ConnSlab& slab, TlsStreams& tls, ShardStats& stats, const Config& config);
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // Queues a frame (a reply, a control frame, a constant frame) and schedules the connection.
  void queue(Conn& c, uint32_t id, FrameId frame) {
    frames_.enqueue(c.out, frame);
    schedule(c, id);
  }
  // Queues a copy of `bytes` (an HTTP answer).
  void queue_copy(Conn& c, uint32_t id, std::string_view bytes);
  // Queues one WebSocket frame around `payload`.
  void queue_ws(Conn& c, uint32_t id, ws::Opcode op, std::string_view payload);
  // A push from the fan-out, counted as queued and delivered. False when the backlog passed the hard
  // bound (limits::kStalledBacklogFactor x out_queue_bytes_max): the caller cuts the connection.
  // (Inline: the fan-out calls it once per member.)
  bool push(Conn& c, uint32_t id, FrameId frame) {
    const uint32_t queued = frames_.enqueue(c.out, frame);
    stats_.add(Counter::frames_queued);
    stats_.add(Counter::items_delivered, frames_.frame(frame).items);
    // A backlog over the limit by itself may be a burst a fast reader is about to take (see complete()
    // for the real test); this hard bound caps the memory a stalled reader can pin while its send is
    // stuck in the kernel.
    if (queued > uint64_t{limits::kStalledBacklogFactor} * config_.out_queue_bytes_max) return false;
    schedule(c, id);
    return true;
  }
  // Writes `bytes` at once with a non-blocking send outside the ring when nothing is queued ahead of
  // them, and queues what the kernel does not take. For the 101 answer: it always fits an empty
  // socket buffer, and queueing it would hold a copy per connection through a connect burst (a million
  // connects leave that peak resident). False when the socket failed.
  bool write_now(Conn& c, uint32_t id, std::string_view bytes);

  // Loads the chunk a push to the connection will be queued in (a hint: no effect on behaviour).
  void prefetch_queue_tail(const Conn& c) const { frames_.prefetch(c.out.tail); }

  // The flush phase: one send per scheduled connection with something queued and no send in flight.
  void flush();
  // A send completed with `res` (bytes, or -errno).
  SendResult complete(Conn& c, uint32_t id, int32_t res);

  // Discards what is queued and not in flight, counted as dropped: only pushes (a closing connection
  // still owes its peer the handshake answer, pongs and the close frame queued before), or everything.
  void drop_unsent(Conn& c, bool pushes_only, DropReason reason);

  bool idle(const Conn& c, uint32_t id) const {
    return c.out.empty() && !c.sending && !(c.tls_sealed && tls_.has_output(id));
  }
  // Something was written for the connection below the out-queue (a TLS handshake's answer): send it.
  void wake(Conn& c, uint32_t id) { schedule(c, id); }
  // Connections wait for the flush phase.
  bool pending() const { return !flush_list_.empty(); }

 private:
  void schedule(Conn& c, uint32_t id) {
    if (c.in_flush_list || c.sending || c.phase == Phase::dead) return;
    c.in_flush_list = true;
    flush_list_.push_back(id);
  }
  void issue(Conn& c, uint32_t id, int64_t flush_ns);
  void issue_tls(Conn& c, uint32_t id, int64_t flush_ns);
  SendResult complete_tls(Conn& c, uint32_t id, int32_t res);
  // Queued bytes not yet handed to the kernel: the out-queue, and a TLS connection's ciphertext.
  size_t backlog(const Conn& c, uint32_t id) const {
    return c.out.bytes + (c.tls_sealed ? tls_.output_bytes(id) : 0);
  }
  // Room for one more send of up to kIovMax frames in this flush's vectors, made by handing the sends
  // so far to the kernel when they are full. False when the kernel would not take them all.
  bool vector_space();
  // Hands the flush's sends to the kernel, so that their vectors' space can be reused.
  bool submit_vectors();

  Io& io_;
  Frames& frames_;
  ConnSlab& slab_;
  TlsStreams& tls_;
  ShardStats& stats_;
  const Config& config_;
  std::vector<uint32_t> flush_list_;
  std::vector<uint32_t> deferred_;  // TLS connections whose encryption waits for the next flush
  // This flush's multi-frame sends: msghdrs and their iovecs, valid until the kernel took them.
  std::unique_ptr<msghdr[]> msgs_;
  std::unique_ptr<iovec[]> iovs_;
  size_t msgs_used_ = 0;
  size_t iovs_used_ = 0;
};

}  // namespace ringcast
