// Per-shard send queues. A Frame is bytes some connections must receive: a ring entry's frame
// (referenced in place: zero copy), a PUSH frame coalesced from several entries (built once per shard
// per room), or a small reply (pong, close, HTTP answer). Each connection's OutQueue is a list of
// chunks of references to frames; gather() turns its head into an iovec for one send, complete() retires
// what the kernel took. Frames that point into the ring pin it through "epochs" (see below), which is how
// the shard knows the oldest ring position it still needs. No I/O here: the Sender (sender.h) does the
// sending.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "engine/base/check.h"
#include "engine/base/ids.h"

namespace ringcast {

using FrameId = uint32_t;

struct Frame {
  const uint8_t* data = nullptr;
  uint32_t len = 0;
  uint32_t refs = 0;         // queue nodes (and batches) referencing it; freed at zero
  uint32_t items = 0;        // PUSH items carried (0 for replies and control frames)
  uint32_t epoch = kNil;     // ring epoch it pins, or kNil
  uint8_t* owned = nullptr;  // malloc'd bytes freed with the frame, or null
  bool permanent = false;    // constant frames (the go-push PONG): never freed
  bool push = false;         // a PUSH frame (counted as dropped when discarded unsent)
  uint32_t next_free = kNil;
  int64_t publish_ns = 0;  // PUSH: when its oldest ring entry was published (latency metric); 0: unknown
};

// What the kernel must see of one connection's queue, and what is in flight. The references live in
// chunks of kChunkFrames (one cache line each), so queueing, gathering and retiring a run of frames
// touches one line per chunk rather than one scattered node per frame: with one frame per item (no
// coalescing) a connection's sends carry many small frames, and walking a node per frame was a cache
// miss per frame per member. A queue holds no chunk while it is empty.
struct OutQueue {
  uint32_t head = kNil;  // chunk ids; the head chunk always holds at least one frame
  uint32_t tail = kNil;
  uint32_t bytes = 0;            // queued bytes not yet sent (the slow-consumer measure)
  uint32_t head_offset = 0;      // bytes of the head frame already sent
  uint16_t inflight_frames = 0;  // frames covered by the send in flight (0: none in flight)
  bool empty() const { return head == kNil; }
};

class Frames {
 public:
  // Epoch numbers start at `first_epoch` (tests start near the 32-bit wrap).
  explicit Frames(uint32_t first_epoch = 0);
  ~Frames();
  Frames(const Frames&) = delete;
  Frames& operator=(const Frames&) = delete;

  // --- frames ---
  // A frame over bytes inside the ring, pinning `epoch` (from begin_epoch) until released.
  FrameId ring_frame(const uint8_t* data, uint32_t len, uint32_t items, uint32_t epoch,
                     int64_t publish_ns = 0);
  // A frame over malloc'd bytes the sender frees with the frame.
  FrameId owned_frame(uint8_t* bytes, uint32_t len, uint32_t items, bool push, int64_t publish_ns = 0);
  // A constant frame that lives as long as the sender.
  FrameId permanent_frame(const uint8_t* data, uint32_t len);
  const Frame& frame(FrameId id) const { return frames_[id]; }
  // Releases a frame nobody referenced (e.g. every member of its room was cut). No-op otherwise.
  void release_if_unused(FrameId id);
  void ref(FrameId id) { ++frames_[id].refs; }
  void unref(FrameId id);

  // --- ring epochs ---
  // An epoch is the set of ring references made from one drain of the ring, starting at ring
  // position `start_pos`. Epochs are opened in ring order, so the oldest live epoch's start is a lower
  // bound of every position this shard still references; frames and pending batches take references
  // on epochs. (Tracking a minimum over individual frames would need a heap: frames of one drain are
  // emitted room by room, not in ring order.)
  uint32_t begin_epoch(uint64_t start_pos);
  void epoch_ref(uint32_t epoch);
  void epoch_unref(uint32_t epoch);
  // The oldest position still referenced, or `fallback` (the read cursor) when none is.
  uint64_t oldest_held(uint64_t fallback);

  // --- queues ---
  // Appends a reference to the frame; returns the queue's byte count afterwards. (Inline: the
  // fan-out calls it once per member per frame.)
  uint32_t enqueue(OutQueue& q, FrameId id) {
    Frame& f = frames_[id];
    ++f.refs;
    if (q.tail == kNil) {
      q.head = q.tail = new_chunk();
    } else if (chunks_[q.tail].end == kChunkFrames) {
      const uint32_t chunk = new_chunk();
      chunks_[q.tail].next = chunk;
      q.tail = chunk;
    }
    Chunk& t = chunks_[q.tail];
    t.frames[t.end++] = id;
    q.bytes += f.len;
    return q.bytes;
  }
  // Fills iov with the queue's head (from head_offset), at most max_iov entries and about max_bytes
  // (the first frame always goes whole). Marks those frames in flight; returns the iov count.
  // With `publish_ns` (max_iov entries) it also tells, per iov, the publish time of a PUSH frame whose
  // first byte that iov carries (0 otherwise), so the caller can measure publish -> flush latency
  // once per frame per connection without a second walk of the queue.
  int gather(OutQueue& q, iovec* iov, int max_iov, size_t max_bytes, size_t& total_bytes,
             int64_t* publish_ns = nullptr);
  // The send in flight finished having sent `sent` bytes (may be short): retires fully sent frames.
  // Returns the number of PUSH frames fully sent.
  uint32_t complete(OutQueue& q, size_t sent);
  // Discards what is not in flight: only PUSH frames when pushes_only (a closing connection still
  // owes its peer the handshake answer, pongs and the close frame queued before), else everything.
  // Returns the PUSH frames discarded (counted as dropped).
  uint32_t drop_unsent(OutQueue& q, bool pushes_only = false);
  // Discards everything (the connection is gone and no send is in flight).
  uint32_t clear(OutQueue& q);

  // Loads a queue's chunk (its head before a send, its tail before a push) into the cache: a hint for
  // loops over many connections. kNil: nothing.
  void prefetch(uint32_t chunk) const {
    if (chunk != kNil) __builtin_prefetch(&chunks_[chunk], 1);
  }

  // The epoch pinned by the frame at the head of the queue (kNil for frames outside the ring), and
  // the oldest live epoch: together they find the connections that hold the ring back.
  uint32_t head_epoch(const OutQueue& q) const {
    if (q.head == kNil) return kNil;
    const Chunk& h = chunks_[q.head];
    return frames_[h.frames[h.begin]].epoch;
  }
  uint32_t oldest_epoch() const { return epochs_.empty() ? kNil : epoch_base_; }

  size_t frames_live() const { return frames_live_; }
  size_t epochs_live() const { return epochs_.size(); }
  // Chunks held by queues (for tests: an empty queue holds none).
  size_t chunks_live() const { return chunks_live_; }
  // Chunks in the pool, held or free (for tests).
  size_t chunks_pooled() const { return chunks_.size(); }
  // A broadcast to N members takes N chunks at once, and the free list would keep that peak resident
  // (32 B per member) for good. So once no queue holds a chunk and none was taken since the previous
  // call, the pool's pages go back to the kernel (its allocation stays, to be refilled without a copy).
  // The shard calls this on a period: a shard that is sending takes chunks between any two calls and
  // keeps its pool. Returns the bytes given back.
  size_t trim_idle_chunks();
  // Smaller pools are left alone.
  static constexpr size_t kTrimChunksMin = 4096;

  static constexpr uint32_t kChunkFrames = 6;

 private:
  // Frames [begin, end) of a chunk are queued; a chunk is freed as soon as it has none left.
  struct alignas(32) Chunk {
    FrameId frames[kChunkFrames];
    uint32_t next;
    uint16_t begin;
    uint16_t end;
  };
  static_assert(sizeof(Chunk) == 32, "a chunk is half a cache line");
  struct Epoch {
    uint64_t start_pos;
    uint32_t refs;
  };

  uint32_t new_chunk() {
    uint32_t id;
    if (chunk_free_ != kNil) {
      id = chunk_free_;
      chunk_free_ = chunks_[id].next;
    } else {
      id = static_cast<uint32_t>(chunks_.size());
      chunks_.emplace_back();
    }
    Chunk& c = chunks_[id];
    c.next = kNil;
    c.begin = c.end = 0;
    ++chunks_live_;
    ++chunks_taken_;
    return id;
  }
  void free_chunk(uint32_t id) {
    chunks_[id].next = chunk_free_;
    chunk_free_ = id;
    --chunks_live_;
  }
  // Retires the head frame of a non-empty queue (its reference dropped, an emptied chunk freed).
  void pop_head(OutQueue& q);
  FrameId new_frame();
  FrameId new_frame(const uint8_t* data, uint32_t len, uint32_t items, bool push, int64_t publish_ns);
  void free_frame(FrameId id);

  std::vector<Frame> frames_;
  FrameId frame_free_ = kNil;
  size_t frames_live_ = 0;
  std::vector<Chunk> chunks_;
  uint32_t chunk_free_ = kNil;
  size_t chunks_live_ = 0;
  uint64_t chunks_taken_ = 0;       // every new_chunk()
  uint64_t chunks_taken_trim_ = 0;  // chunks_taken_ at the previous trim_idle_chunks()
  std::deque<Epoch> epochs_;
  uint32_t epoch_base_ = 0;  // absolute number of epochs_.front()
};

}  // namespace ringcast
