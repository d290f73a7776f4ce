// Send queues, frames and ring epochs. Queue chunks and frames come from free lists inside vectors, so
// a steady stream of pushes allocates nothing per message per subscriber.
#include "engine/broadcast/frames.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace ringcast {

Frames::Frames(uint32_t first_epoch) : epoch_base_(first_epoch) {
  frames_.reserve(1024);
  chunks_.reserve(1024);
}

Frames::~Frames() {
  for (Frame& f : frames_)
    if (f.owned) std::free(f.owned);
}

FrameId Frames::new_frame() {
  FrameId id;
  if (frame_free_ != kNil) {
    id = frame_free_;
    frame_free_ = frames_[id].next_free;
  } else {
    id = static_cast<FrameId>(frames_.size());
    frames_.emplace_back();
  }
  frames_[id] = Frame{};
  ++frames_live_;
  return id;
}

void Frames::free_frame(FrameId id) {
  Frame& f = frames_[id];
  RC_ASSERT(!f.permanent && f.refs == 0);
  if (f.owned) std::free(f.owned);
  if (f.epoch != kNil) epoch_unref(f.epoch);
  f = Frame{};
  f.next_free = frame_free_;
  frame_free_ = id;
  --frames_live_;
}

FrameId Frames::new_frame(const uint8_t* data, uint32_t len, uint32_t items, bool push, int64_t publish_ns) {
  const FrameId id = new_frame();
  Frame& f = frames_[id];
  f.publish_ns = publish_ns;
  f.data = data;
  f.len = len;
  f.items = items;
  f.push = push;
  return id;
}

FrameId Frames::ring_frame(const uint8_t* data, uint32_t len, uint32_t items, uint32_t epoch,
                           int64_t publish_ns) {
  const FrameId id = new_frame(data, len, items, true, publish_ns);
  frames_[id].epoch = epoch;
  epoch_ref(epoch);
  return id;
}

FrameId Frames::owned_frame(uint8_t* bytes, uint32_t len, uint32_t items, bool push, int64_t publish_ns) {
  const FrameId id = new_frame(bytes, len, items, push, publish_ns);
  frames_[id].owned = bytes;
  return id;
}

FrameId Frames::permanent_frame(const uint8_t* data, uint32_t len) {
  FrameId id = new_frame();
  Frame& f = frames_[id];
  f.data = data;
  f.len = len;
  f.permanent = true;
  return id;
}

void Frames::release_if_unused(FrameId id) {
  if (frames_[id].refs == 0 && !frames_[id].permanent) free_frame(id);
}

void Frames::unref(FrameId id) {
  Frame& f = frames_[id];
  RC_ASSERT(f.refs > 0);
  if (--f.refs == 0 && !f.permanent) free_frame(id);
}

uint32_t Frames::begin_epoch(uint64_t start_pos) {
  RC_ASSERT(epochs_.empty() || epochs_.back().start_pos <= start_pos);
  // Epoch numbers wrap after 2^32 drains (about a day at 50k drains a second). kNil means "no epoch"
  // to frames and batches, so it is never handed out: a placeholder without references takes it.
  if (epoch_base_ + static_cast<uint32_t>(epochs_.size()) == kNil) epochs_.push_back(Epoch{start_pos, 0});
  epochs_.push_back(Epoch{start_pos, 0});
  return epoch_base_ + static_cast<uint32_t>(epochs_.size() - 1);
}

void Frames::epoch_ref(uint32_t epoch) {
  uint32_t index = epoch - epoch_base_;
  RC_ASSERT(index < epochs_.size());
  ++epochs_[index].refs;
}

void Frames::epoch_unref(uint32_t epoch) {
  uint32_t index = epoch - epoch_base_;
  RC_ASSERT(index < epochs_.size() && epochs_[index].refs > 0);
  --epochs_[index].refs;
}

uint64_t Frames::oldest_held(uint64_t fallback) {
  while (!epochs_.empty() && epochs_.front().refs == 0) {
    epochs_.pop_front();
    ++epoch_base_;
  }
  return epochs_.empty() ? fallback : epochs_.front().start_pos;
}

void Frames::pop_head(OutQueue& q) {
  Chunk& h = chunks_[q.head];
  unref(h.frames[h.begin++]);
  if (h.begin < h.end) return;
  const uint32_t emptied = q.head;
  q.head = h.next;
  if (q.head == kNil) q.tail = kNil;
  free_chunk(emptied);
}

int Frames::gather(OutQueue& q, iovec* iov, int max_iov, size_t max_bytes, size_t& total_bytes,
                   int64_t* publish_ns) {
  RC_ASSERT(q.inflight_frames == 0 && max_iov > 0);
  int count = 0;
  total_bytes = 0;
  uint32_t offset = q.head_offset;
  for (uint32_t chunk = q.head; chunk != kNil && count < max_iov; chunk = chunks_[chunk].next) {
    const Chunk& c = chunks_[chunk];
    for (uint32_t i = c.begin; i < c.end && count < max_iov; ++i) {
      const Frame& f = frames_[c.frames[i]];
      const size_t len = f.len - offset;
      if (count > 0 && total_bytes + len > max_bytes) {
        q.inflight_frames = static_cast<uint16_t>(count);
        return count;
      }
      iov[count].iov_base = const_cast<uint8_t*>(f.data + offset);
      iov[count].iov_len = len;
      if (publish_ns) publish_ns[count] = offset == 0 && f.push ? f.publish_ns : 0;
      total_bytes += len;
      ++count;
      offset = 0;
    }
  }
  q.inflight_frames = static_cast<uint16_t>(count);
  return count;
}

uint32_t Frames::complete(OutQueue& q, size_t sent) {
  RC_ASSERT(sent <= q.bytes);
  uint32_t push_frames = 0;
  q.bytes -= static_cast<uint32_t>(sent);
  while (q.head != kNil) {
    const Chunk& h = chunks_[q.head];
    const Frame& f = frames_[h.frames[h.begin]];
    const size_t left = f.len - q.head_offset;
    if (sent < left) {
      q.head_offset += static_cast<uint32_t>(sent);
      break;
    }
    sent -= left;
    push_frames += f.push ? 1 : 0;
    q.head_offset = 0;
    pop_head(q);
  }
  q.inflight_frames = 0;
  return push_frames;
}

uint32_t Frames::drop_unsent(OutQueue& q, bool pushes_only) {
  // Keep the frames a send in flight covers (the kernel is reading their bytes) and a head frame that
  // is partly sent already (the peer has its first bytes; the rest must follow). Of the rest, keep the
  // replies when pushes_only: they are moved up, in order, over the dropped frames' places.
  uint32_t keep = q.inflight_frames;
  if (keep == 0 && q.head_offset > 0) keep = 1;
  uint32_t dropped = 0;
  uint32_t write_chunk = kNil;  // where the next kept frame goes (after the last kept one)
  uint32_t write_at = 0;
  uint32_t kept = 0;
  for (uint32_t chunk = q.head; chunk != kNil; chunk = chunks_[chunk].next) {
    Chunk& c = chunks_[chunk];
    for (uint32_t i = c.begin; i < c.end; ++i) {
      const FrameId id = c.frames[i];
      const Frame& f = frames_[id];
      const bool keep_this = kept < keep || (pushes_only && !f.push);
      if (!keep_this) {
        q.bytes -= f.len;
        dropped += f.push ? 1 : 0;
        unref(id);
        continue;
      }
      ++kept;
      if (write_chunk == kNil) {
        write_chunk = q.head;
        write_at = chunks_[q.head].begin;
      } else if (write_at == kChunkFrames) {
        write_chunk = chunks_[write_chunk].next;
        write_at = 0;
      }
      // (The write position never passes the read position: it trails it over the same chunks.)
      chunks_[write_chunk].frames[write_at++] = id;
    }
  }
  if (write_chunk == kNil) {
    for (uint32_t chunk = q.head; chunk != kNil;) {
      const uint32_t next = chunks_[chunk].next;
      free_chunk(chunk);
      chunk = next;
    }
    q.head = q.tail = kNil;
    q.head_offset = 0;
    q.bytes = 0;
    return dropped;
  }
  // Every chunk after the write position is emptied; the write chunk's frames end there.
  Chunk& w = chunks_[write_chunk];
  for (uint32_t chunk = w.next; chunk != kNil;) {
    const uint32_t next = chunks_[chunk].next;
    free_chunk(chunk);
    chunk = next;
  }
  w.end = static_cast<uint16_t>(write_at);
  w.next = kNil;
  q.tail = write_chunk;
  return dropped;
}

uint32_t Frames::clear(OutQueue& q) {
  uint32_t dropped = 0;
  for (uint32_t chunk = q.head; chunk != kNil;) {
    Chunk& c = chunks_[chunk];
    for (uint32_t i = c.begin; i < c.end; ++i) {
      dropped += frames_[c.frames[i]].push ? 1 : 0;
      unref(c.frames[i]);
    }
    const uint32_t next = c.next;
    free_chunk(chunk);
    chunk = next;
  }
  q = OutQueue{};
  return dropped;
}

size_t Frames::trim_idle_chunks() {
  const bool idle = chunks_live_ == 0 && chunks_taken_ == chunks_taken_trim_;
  chunks_taken_trim_ = chunks_taken_;
  if (!idle || chunks_.size() < kTrimChunksMin) return 0;
  // The whole pages inside the pool's buffer: the kernel drops them and maps zero pages on the next
  // touch. No chunk is held, so nothing refers to their contents; the free list goes with them.
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(chunks_.data());
  const uintptr_t from = (begin + page - 1) & ~(page - 1);
  const uintptr_t to = (begin + chunks_.size() * sizeof(Chunk)) & ~(page - 1);
  chunks_.clear();
  chunk_free_ = kNil;
  if (to <= from || madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED) != 0) return 0;
  return to - from;
}

}  // namespace ringcast
