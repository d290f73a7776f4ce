// The ring's history, read optimistically: see history.h and Ring::history_entry.
#include "engine/broadcast/history.h"

#include "engine/base/check.h"
#include "engine/broadcast/publish.h"
#include "engine/codec/frame.h"

namespace ringcast {

bool collect_replay(const Ring& ring, std::string_view room, uint64_t since, uint64_t until,
                    const ReplayLimits& limits, int64_t now_ns, std::vector<ReplayFrame>& frames,
                    std::string& scratch) {
  // More entries than the ring can hold at once cannot all be in it.
  if (until < since || until - since > ring.capacity() / kMinEntryBytes) return false;
  uint64_t items = 0;
  uint32_t frame_items = 0;
  std::string suffix;
  std::string& body = scratch;  // the items of the frame being built, comma-separated
  body.clear();
  auto finish_frame = [&] {
    const size_t payload = kPushPrefix.size() + body.size() + suffix.size();
    std::string frame;
    frame.reserve(ws::kMaxServerHeaderBytes + payload);
    ws::append_server_header(frame, ws::Opcode::text, payload);
    frame += kPushPrefix;
    frame += body;
    frame += suffix;
    frames.emplace_back(std::move(frame), frame_items);
    body.clear();
    frame_items = 0;
  };
  for (uint64_t seq = since + 1; seq <= until; ++seq) {
    uint64_t pos = 0;
    const RingEntry* e = ring.history_entry(seq, pos);
    if (!e) return false;
    // A producer may be overwriting the entry while we read it: its head is copied and checked first
    // (so the lengths used below are the ones it was written with), the bytes copied and checked after.
    const RingEntry head = *e;
    if (head.seq != seq || !ring.history_intact(pos)) return false;
    RC_ASSERT(head.frame_offset + head.frame_len <= head.size &&
              head.items_offset + head.items_len <= head.frame_len);
    const char* base = reinterpret_cast<const char*>(e);
    if (head.target != Target::room || std::string_view(base + sizeof(RingEntry), head.room_len) != room)
      continue;
    if (limits.ttl_ns > 0 && now_ns - head.publish_ns > limits.ttl_ns) return false;
    items += head.item_count;
    if (items > limits.items_max) return false;
    const char* frame = base + head.frame_offset;
    const std::string_view entry_items(frame + head.items_offset, head.items_len);
    const size_t suffix_at = head.items_offset + head.items_len;
    const std::string_view entry_suffix(frame + suffix_at, head.frame_len - suffix_at);
    const size_t next = kPushPrefix.size() + body.size() + 1 + entry_items.size() + entry_suffix.size() +
                        ws::kMaxServerHeaderBytes;
    if (!body.empty() && next > limits.frame_bytes_max) finish_frame();
    if (!body.empty()) body += ',';
    body.append(entry_items);
    suffix.assign(entry_suffix);
    frame_items += head.item_count;
    if (!ring.history_intact(pos)) return false;
  }
  if (!body.empty()) finish_frame();
  return true;
}

}  // namespace ringcast
