// The engine's fixed limits: the bounds and periods that are not settings (engine/config.h holds those)
// but still shape what a shard does, named in one place with the relations between them checked here
// and, against the settings, in validate(). "Put a limit on everything": every queue, buffer, batch
// and period of the loop, the send path, presence and the NATS bridge is one of these or a Config key.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast::limits {

// ---- The shard's loop ----
// Timer wheel resolution: every connection deadline is a whole number of ticks.
constexpr int64_t kTickNs = 100'000'000;
// io_uring queues. A fan-out flush may queue one send per member; the submission queue is flushed
// to the kernel whenever it fills, so its size only sets the batch size. The completion queue is
// deep because multishot recv and accept post many completions per submission.
constexpr uint32_t kSubmissionEntries = 4096;
constexpr uint32_t kCompletionEntries = 65536;
// A shard's table of sockets registered with its ring (fixed files, indexed by descriptor number):
// the process's open-files limit, up to this many. Descriptors past it use the plain path.
constexpr uint32_t kFixedFilesMax = 65536;
// Ring entries one drain fans out, so one busy publisher cannot starve the shard's I/O.
constexpr uint32_t kEntriesPerDrainMax = 4096;
// How often a shard checks the ring's pressure (and writes its limits summary).
constexpr int64_t kPressureCheckNs = 100'000'000;
// After EMFILE/ENFILE on accept: when to try accepting again.
constexpr int64_t kAcceptRetryNs = 100'000'000;
// Limits hit (slow consumers cut, 503s, 429s, accept back-off) are logged as one summary line per this
// interval per shard, with counts: an overload must not turn into a line per event.
constexpr int64_t kLimitLogNs = 10'000'000'000;

// ---- Connections ----
// After an HTTP error: wait this long for the peer to close before cutting.
constexpr uint32_t kLingerMs = 1000;
// After SIGTERM an idle keep-alive API connection, or one accepted while stopping, is kept this long,
// so that a request sent just before the stop is still answered (its result, or 503 "shutting down").
constexpr uint32_t kStopGraceMs = 300;
// --demo: a client-port HTTP connection whose unsent answers pass this stops being read (it pipelines
// requests without reading the answers).
constexpr uint32_t kDemoOutBytesMax = 1 << 20;
// SSE: the reconnection delay told to browsers (the `retry:` field) at the start of every stream. The
// EventSource default (about 3 s in browsers) is longer than a resume needs; shorter would make a
// restarted node's whole audience reconnect at once.
constexpr uint32_t kStreamRetryMs = 2000;

// ---- The send path ----
// Walking many connections in a row (a room's members in the fan-out, the flush list), their records
// are prefetched this many connections ahead, and what a record points to (the queue's chunk) half as
// many: far enough for the loads to land, near enough that they are still cached when used.
constexpr size_t kPrefetchAhead = 8;
// iovec entries in one send (frames of one connection sent together).
constexpr int kIovMax = 32;
// The msghdr and iovec of multi-frame sends are laid out in a space reused every flush (sender.h):
// this many iovec entries (and half as many msghdrs, as such a send has two frames at least). When it
// fills up mid-flush, the sends so far are handed to the kernel and the space starts over. (The
// simulator's few clients fill a small one several times a flush, so that path is exercised there.)
#ifdef RINGCAST_SIM
constexpr size_t kSendVectorIovecs = 3 * kIovMax;
#else
constexpr size_t kSendVectorIovecs = 2048;
#endif
// A backlog over out_queue_bytes_max may be a burst a fast reader is about to take (the short-send
// test decides); this multiple of it is the hard bound on what a reader whose send is stuck in the
// kernel may pin, cut at once.
constexpr uint32_t kStalledBacklogFactor = 4;
// The largest out_queue_bytes_max a configuration may give: the hard bound must fit the 32-bit byte
// count of an out-queue, with room for the largest frame on top.
constexpr size_t kOutQueueBytesMaxLimit = size_t{1} << 29;
static_assert(kStalledBacklogFactor * kOutQueueBytesMaxLimit + (size_t{1} << 30) < UINT32_MAX,
              "an out-queue's byte count must not wrap before the stalled-reader bound");

// ---- TLS (conn/tls.h) ----
// Ciphertext a client may send before its handshake is done (a ClientHello is a few hundred bytes to
// about 2 KiB with post-quantum key shares; client certificates are not asked for): beyond, refused.
constexpr uint32_t kTlsHandshakeBytesMax = 32 * 1024;
// Plaintext decrypted per read, handed to the protocol in one piece (one TLS record at most).
constexpr size_t kTlsPlaintextChunkBytes = 16 * 1024;
// Plaintext encrypted per send: one record, less its overhead (at most 29 bytes), so that a send's
// ciphertext fits a 16 KiB buffer of the spare list. Encrypting more ahead of the socket would only
// move the backlog out of the out-queue, where the slow-consumer policy measures it, and pin more
// ciphertext per member: with 64 KiB per send a broadcast to 19,000 members that had fallen behind
// held ~1.2 GB of it, and deliveries/s fell to a third (docs/results/tls/report.md).
constexpr size_t kTlsSendBytesMax = 16 * 1024 - 32;
// A connection's ciphertext buffer exists only while there is something to send (an idle connection
// holds none), sized to the records a send seals, so a broadcast of small frames to every member pins
// a few hundred bytes per member, not a fixed block. While OpenSSL writes (the handshake, a CBC
// suite's records) it starts at this size and doubles as needed.
constexpr uint32_t kTlsBufferMinBytes = 512;
// Ciphertext sealed per flush, all TLS connections of the shard together: a broadcast to 19,000 TLS
// members would otherwise seal ~100 MB before the first send completes (malloc growing the heap and
// the kernel faulting its pages in, every broadcast). What is left waits for the next loop turn, by
// when the sends issued have completed and their buffers are back for reuse.
constexpr size_t kTlsSealBytesPerFlush = 4 * 1024 * 1024;
// Sent ciphertext buffers kept per shard for reuse (in size classes of powers of two from
// kTlsBufferMinBytes up to 128 KiB); beyond this they are freed.
constexpr size_t kTlsSpareBytesMax = 8 * 1024 * 1024;

// ---- Presence (presence.h) ----
// Presence queries parked per shard behind the one in flight (503 beyond).
constexpr uint32_t kPresenceParkedMax = 64;
// While a query is parked the loop sleeps at most this long: the answering shards wake the asker,
// but a box another asker holds is retried, and the timeout checked, on this period.
constexpr int64_t kPresencePollNs = 2'000'000;
// While connections wait for a receive buffer the loop sleeps at most this long. Their re-armed
// receives have bytes waiting, so their completions wake it sooner; this bounds the case where the
// bytes were read meanwhile (a deadline re-armed the connection first).
constexpr int64_t kStarvedRecvPollNs = 1'000'000;
// A parked connection that keeps sending past this multiple of one largest request is cut.
constexpr uint32_t kParkedInputFactor = 4;

// ---- The NATS bridge (bridge.h) ----
constexpr uint32_t kBridgeForwardBatch = 1024;          // entries per turn, so room changes are not starved
constexpr int kBridgeIdlePollMs = 1000;                 // the bridge's longest sleep: it rechecks everything then
constexpr int64_t kBridgeFlushTimeoutMs = 1000;         // waiting for the server to confirm new subscriptions
constexpr int64_t kBridgeFinalFlushTimeoutMs = 2000;    // at shutdown, for what is still buffered
constexpr int kBridgeRingFullWaitMs = 1000;             // an inbound push waits this long for ring space
constexpr int64_t kBridgeReconcileRetryMs = 1000;       // after a failed subscribe
constexpr int64_t kBridgeLogEveryMs = 5000;             // repeated failures are logged at most this often
constexpr int kBridgeMaxPendingMsgs = 65536;            // per subscription in libnats before it drops (counted)
// Presence across the cluster (cluster_presence.h).
constexpr int64_t kClusterAnnounceMs = 1000;            // a node says it is alive this often
constexpr int64_t kClusterNodeExpiryMs = 10000;         // a node silent this long is no longer expected to answer
constexpr int kClusterPresencePollMs = 2;               // the bridge's sleep while a presence question is open
constexpr size_t kClusterPresenceQuestionsMax = 256;    // other nodes' questions waiting here (more: not answered)
constexpr size_t kClusterPresenceAnswerBytesMax = 512 * 1024;  // one answer's entries (NATS' default max is 1 MiB)
// JetStream (bridge_history.cpp).
constexpr int64_t kJsPublishPendingMax = 65536;   // publishes awaiting their ack; beyond, the bridge waits
constexpr int64_t kJsStallWaitMs = 20;            // one wait for room among those (the entry is tried again)
constexpr int kJsPublishAttempts = 5;             // sends of one push (ack timeouts, errors) before giving up
constexpr int64_t kJsRequestWaitMs = 2000;        // a direct get or stream request to the servers
constexpr int64_t kJsMarkerWaitMs = 250;          // a room's start marker not back by then: another one
constexpr int64_t kJsProbeEveryMs = 500;          // after a failure: how often the stream is asked again
constexpr int64_t kJsDuplicateWindowMs = 120000;  // the stream's de-duplication window for message ids
constexpr int64_t kJsAckTimeoutMaxMs = 20000;     // the largest jetstream_ack_timeout_ms (see the assert)
constexpr size_t kJsBatchBytesMax = 64 * 1024;    // one room's pushes grouped into one stream message
constexpr size_t kJsBatchRoomsKept = 4096;        // rooms' empty groups kept between turns

// The relations between them.
static_assert(kCompletionEntries >= kSubmissionEntries, "completions outnumber submissions (multishot)");
static_assert(kPresencePollNs < kTickNs, "a parked query must be polled more often than the timer tick");
static_assert(kStarvedRecvPollNs < kTickNs, "receives waiting for a buffer are re-armed within a tick");
static_assert(kPressureCheckNs >= kTickNs && kLimitLogNs > kPressureCheckNs, "the limits line is a summary");
static_assert(kStopGraceMs * 1'000'000LL >= kTickNs, "the stop grace must be at least one tick");
static_assert(kLingerMs * 1'000'000LL >= kTickNs, "the linger must be at least one tick");
static_assert(kBridgeFinalFlushTimeoutMs >= kBridgeFlushTimeoutMs, "the last flush waits at least as long");
static_assert(kJsPublishAttempts * kJsAckTimeoutMaxMs < kJsDuplicateWindowMs,
              "a push sent again is still within the stream's de-duplication window");

// Whole ticks that cover `ms` (rounded up): the one conversion from a configured time to the wheel.
constexpr uint64_t ticks_for_ms(uint64_t ms) {
  return (ms * 1'000'000 + static_cast<uint64_t>(kTickNs) - 1) / static_cast<uint64_t>(kTickNs);
}

}  // namespace ringcast::limits
