// Send queues, frames and ring epochs. Nodes and frames come from free lists inside vectors, so a
// steady stream of pushes allocates nothing per message per subscriber.
#include "engine/broadcast/frames.h"

#include <cstdlib>

namespace ringcast {

Frames::Frames(uint32_t first_epoch) : epoch_base_(first_epoch) {
  frames_.reserve(1024);
  nodes_.reserve(4096);
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

uint32_t Frames::new_node(FrameId frame) {
  uint32_t id;
  if (node_free_ != kNil) {
    id = node_free_;
    node_free_ = nodes_[id].next;
  } else {
    id = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  nodes_[id] = Node{frame, kNil};
  return id;
}

void Frames::free_node(uint32_t id) {
  nodes_[id].next = node_free_;
  node_free_ = id;
}

uint32_t Frames::enqueue(OutQueue& q, FrameId id) {
  Frame& f = frames_[id];
  ++f.refs;
  uint32_t node = new_node(id);
  if (q.tail == kNil) {
    q.head = q.tail = node;
  } else {
    nodes_[q.tail].next = node;
    q.tail = node;
  }
  q.bytes += f.len;
  return q.bytes;
}

int Frames::gather(OutQueue& q, iovec* iov, int max_iov, size_t max_bytes, size_t& total_bytes,
                   int64_t* publish_ns) {
  RC_ASSERT(q.inflight_nodes == 0 && max_iov > 0);
  int count = 0;
  total_bytes = 0;
  uint32_t offset = q.head_offset;
  for (uint32_t n = q.head; n != kNil && count < max_iov; n = nodes_[n].next) {
    const Frame& f = frames_[nodes_[n].frame];
    size_t len = f.len - offset;
    if (count > 0 && total_bytes + len > max_bytes) break;
    iov[count].iov_base = const_cast<uint8_t*>(f.data + offset);
    iov[count].iov_len = len;
    if (publish_ns) publish_ns[count] = offset == 0 && f.push ? f.publish_ns : 0;
    total_bytes += len;
    ++count;
    offset = 0;
  }
  q.inflight_nodes = static_cast<uint16_t>(count);
  return count;
}

uint32_t Frames::complete(OutQueue& q, size_t sent) {
  RC_ASSERT(sent <= q.bytes);
  uint32_t push_frames = 0;
  q.bytes -= static_cast<uint32_t>(sent);
  while (q.head != kNil) {
    Frame& f = frames_[nodes_[q.head].frame];
    size_t left = f.len - q.head_offset;
    if (sent < left) {
      q.head_offset += static_cast<uint32_t>(sent);
      break;
    }
    sent -= left;
    push_frames += f.push ? 1 : 0;
    uint32_t node = q.head;
    q.head = nodes_[node].next;
    q.head_offset = 0;
    unref(nodes_[node].frame);
    free_node(node);
  }
  if (q.head == kNil) q.tail = kNil;
  q.inflight_nodes = 0;
  return push_frames;
}

uint32_t Frames::drop_unsent(OutQueue& q, bool pushes_only) {
  // Keep the nodes a send in flight covers (the kernel is reading their bytes) and a head frame that
  // is partly sent already (the peer has its first bytes; the rest must follow).
  uint32_t keep = q.inflight_nodes;
  if (keep == 0 && q.head_offset > 0) keep = 1;
  uint32_t n = q.head;
  uint32_t last_kept = kNil;
  for (uint32_t i = 0; i < keep && n != kNil; ++i) {
    last_kept = n;
    n = nodes_[n].next;
  }
  uint32_t dropped = 0;
  while (n != kNil) {
    const uint32_t next = nodes_[n].next;
    const Frame& f = frames_[nodes_[n].frame];
    if (pushes_only && !f.push) {
      if (last_kept == kNil)
        q.head = n;
      else
        nodes_[last_kept].next = n;
      last_kept = n;
    } else {
      q.bytes -= f.len;
      dropped += f.push ? 1 : 0;
      unref(nodes_[n].frame);
      free_node(n);
    }
    n = next;
  }
  if (last_kept == kNil) {
    q.head = q.tail = kNil;
    q.head_offset = 0;
    q.bytes = 0;
  } else {
    nodes_[last_kept].next = kNil;
    q.tail = last_kept;
  }
  return dropped;
}

uint32_t Frames::clear(OutQueue& q) {
  uint32_t dropped = 0;
  for (uint32_t n = q.head; n != kNil;) {
    const uint32_t next = nodes_[n].next;
    dropped += frames_[nodes_[n].frame].push ? 1 : 0;
    unref(nodes_[n].frame);
    free_node(n);
    n = next;
  }
  q = OutQueue{};
  return dropped;
}

}  // namespace ringcast
