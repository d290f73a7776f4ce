// Presence queries: one shard's answer from its room index, the merge of every shard's part, the
// JSON, and the mailbox protocol between an asker and the shards (see presence.h).
#include "engine/node/presence.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <new>

#include "engine/broadcast/users.h"
#include "engine/codec/form.h"
#include "engine/codec/json_writer.h"

namespace ringcast {
namespace {

// Bytes one answer entry takes in a box: 2-byte length, the name, 8-byte count.
size_t entry_bytes(std::string_view name) { return 2 + name.size() + 8; }

// Keeps the `limit` smallest candidates, sorted (nth_element first, so a huge room costs O(n)).
template <class T, class Less>
bool select_smallest(std::vector<T>& v, uint32_t limit, Less less) {
  bool more = false;
  if (v.size() > limit) {
    std::nth_element(v.begin(), v.begin() + limit, v.end(), less);
    v.resize(limit);
    more = true;
  }
  std::sort(v.begin(), v.end(), less);
  return more;
}

void wake(Ring ring, int32_t shard) {
  if (shard < 0) return;
  const int fd = ring.slot(static_cast<uint32_t>(shard)).wake_fd;
  if (fd < 0) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(fd, &one, sizeof(one));
}

}  // namespace

void presence_answer_local(const RoomIndex& rooms, const PresenceQuery& query, PresencePart& out,
                           size_t bytes_max) {
  out = PresencePart{};
  const std::string_view cursor = query.cursor;
  const uint32_t limit = std::max<uint32_t>(1, query.limit);
  if (query.kind == PresenceKind::room) {
    const RoomId id = rooms.find(query.room);
    if (id == kNil || is_user_room(query.room)) return;
    const Room& room = rooms.room(id);
    out.members = room.members.size();
    if (!query.users) return;
    // Distinct users: a member's internal user room id, marked once per query in a table indexed by
    // room id (stamps, so the table is never cleared), then only the survivors' names are compared.
    thread_local std::vector<uint32_t> marks;
    thread_local uint32_t stamp = 0;
    if (marks.size() < rooms.room_id_bound()) marks.resize(rooms.room_id_bound(), 0);
    if (++stamp == 0) {
      std::fill(marks.begin(), marks.end(), 0);
      stamp = 1;
    }
    // The `limit` smallest uids after the cursor in a max-heap: most members of a big room cost one
    // comparison with its top (no sort of the whole room).
    std::vector<std::string_view> users;
    users.reserve(std::min<size_t>(limit, room.members.size()));
    for (uint32_t conn : room.members) {
      const RoomId u = rooms.user_room_of(conn);
      if (u == kNil || marks[u] == stamp) continue;
      marks[u] = stamp;
      const std::string_view uid = user_of_room(rooms.room(u).name);
      if (!cursor.empty() && uid <= cursor) continue;
      if (users.size() < limit) {
        users.push_back(uid);
        std::push_heap(users.begin(), users.end());
      } else {
        out.truncated = true;
        if (uid >= users.front()) continue;
        std::pop_heap(users.begin(), users.end());
        users.back() = uid;
        std::push_heap(users.begin(), users.end());
      }
    }
    std::sort_heap(users.begin(), users.end());
    size_t bytes = 0;
    for (std::string_view uid : users) {
      if ((bytes += entry_bytes(uid)) > bytes_max) {
        out.truncated = true;
        break;
      }
      out.entries.emplace_back(std::string(uid), 0);
    }
    return;
  }
  std::vector<std::pair<std::string_view, uint64_t>> list;
  rooms.for_each_room([&](const Room& room) {
    if (!cursor.empty() && std::string_view(room.name) <= cursor) return;
    list.emplace_back(room.name, room.members.size());
  });
  out.truncated = select_smallest(list, limit, [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t bytes = 0;
  for (const auto& [name, members] : list) {
    if ((bytes += entry_bytes(name)) > bytes_max) {
      out.truncated = true;
      break;
    }
    out.entries.emplace_back(std::string(name), members);
  }
}

void presence_merge(const std::vector<PresencePart>& parts, const PresenceQuery& query, PresencePage& out) {
  out = PresencePage{};
  const uint32_t limit = std::max<uint32_t>(1, query.limit);
  // A truncated part is complete only up to its last name: the page must not pass the smallest such.
  bool bounded = false;
  std::string_view bound;
  for (const PresencePart& p : parts) {
    if (!p.truncated || p.entries.empty()) continue;
    if (!bounded || p.entries.back().first < bound) bound = p.entries.back().first;
    bounded = true;
  }
  // A k-way merge of the sorted parts, stopping after `limit` distinct names (and one more, to
  // know whether there is a next page).
  struct Head {
    std::string_view name;
    uint32_t part;
    uint32_t at;
    bool operator>(const Head& o) const { return name > o.name; }
  };
  std::vector<Head> heap;
  bool more = false;
  for (uint32_t i = 0; i < parts.size(); ++i) {
    out.members += parts[i].members;
    out.nodes += parts[i].nodes;
    out.partial |= parts[i].partial;
    out.missing.insert(out.missing.end(), parts[i].missing.begin(), parts[i].missing.end());
    more |= parts[i].truncated;
    if (!parts[i].entries.empty()) heap.push_back(Head{parts[i].entries[0].first, i, 0});
  }
  std::make_heap(heap.begin(), heap.end(), std::greater<Head>());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<Head>());
    Head h = heap.back();
    heap.pop_back();
    if (bounded && h.name > bound) continue;  // this part's rest is beyond the bound too
    const uint64_t count = parts[h.part].entries[h.at].second;
    if (!out.entries.empty() && out.entries.back().first == h.name) {
      out.entries.back().second += count;
    } else if (out.entries.size() == limit) {
      more = true;
      break;
    } else {
      out.entries.emplace_back(std::string(h.name), count);
    }
    if (++h.at < parts[h.part].entries.size()) {
      h.name = parts[h.part].entries[h.at].first;
      heap.push_back(h);
      std::push_heap(heap.begin(), heap.end(), std::greater<Head>());
    }
  }
  if (more && !out.entries.empty()) {
    out.has_next = true;
    out.next = out.entries.back().first;
  }
  std::sort(out.missing.begin(), out.missing.end());
  out.missing.erase(std::unique(out.missing.begin(), out.missing.end()), out.missing.end());
}

std::string presence_json(const PresenceQuery& query, const PresencePage& page) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  if (query.kind == PresenceKind::room) {
    json.key("room").string(query.room).key("members").number(page.members);
    if (query.users) {
      json.key("users").begin_array();
      for (const auto& entry : page.entries) json.string(entry.first);
      json.end_array();
    }
  } else {
    json.key("rooms").begin_array();
    for (const auto& [room, members] : page.entries)
      json.begin_object().key("room").string(room).key("members").number(members).end_object();
    json.end_array();
  }
  // A room's answer has a next page only when it lists users.
  if (query.kind == PresenceKind::rooms || query.users) {
    json.key("next");
    if (page.has_next) {
      json.string(page.next);
    } else {
      json.null();
    }
  }
  if (page.nodes > 0) {
    // Cluster mode: the nodes counted, and whether some did not answer (named by node id).
    json.key("nodes").number(page.nodes).key("partial").boolean(page.partial);
    if (page.partial) {
      json.key("missing").begin_array();
      for (uint32_t node : page.missing) json.number(node);
      json.end_array();
    }
  }
  json.end_object();
  return out;
}

bool parse_presence_request(std::string_view path, std::string_view query_string, size_t room_bytes_max,
                            RoomCharset charset, PresenceQuery& out, std::string_view& error) {
  out = PresenceQuery{};
  constexpr std::string_view kRooms = "/rooms";
  if (path == kRooms || path == "/rooms/") {
    out.kind = PresenceKind::rooms;
  } else if (path.substr(0, kRooms.size() + 1) == "/rooms/") {
    out.kind = PresenceKind::room;
    if (!form::percent_decode(path.substr(kRooms.size() + 1), out.room)) {
      error = "malformed %-escape in the room name";
      return false;
    }
    if (!room_name_valid(out.room, room_bytes_max, charset)) {
      error = room_name_rule_text(charset);
      return false;
    }
  } else {
    error = "no such endpoint";
    return false;
  }
  bool malformed = false;
  std::string value;
  if (form::field(query_string, "limit", value, malformed)) {
    uint32_t limit = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
    if (ec != std::errc() || end != value.data() + value.size() || limit < 1 || limit > kPresencePageMax) {
      error = "limit must be 1..1000";
      return false;
    }
    out.limit = limit;
  }
  if (!malformed && form::field(query_string, "cursor", value, malformed)) out.cursor = value;
  if (!malformed && form::field(query_string, "users", value, malformed)) {
    if (value == "1" || value == "true") {
      out.users = true;
    } else if (value != "0" && value != "false") {
      error = "users must be 1 or 0";
      return false;
    }
  }
  if (malformed) {
    error = "malformed %-escape in the query string";
    return false;
  }
  if (out.cursor.size() > 65535) {
    error = "cursor too long";
    return false;
  }
  return true;
}

// ---- the mailbox ----
//
// Layout: a 64-byte header (the number of boxes), then per box a PresenceBox and its data area.
// Protocol (every transition by compare-and-swap or by the one side that owns the state):
//   asker:  free -> writing (claim), writes the query, -> requested (release), wakes the shard;
//   shard:  requested -> answering, computes and writes the answer, -> answered (release), wakes
//           the asker;
//   asker:  answered -> free after reading (acquire). To give up: requested -> free, or, when the
//           shard is already answering, sets `abandoned`, which makes the answered box claimable.
// A shard that starts resets its own box and releases the boxes it was asking (its previous life
// may have died holding them).

size_t PresenceBoard::stride() { return (sizeof(PresenceBox) + kPresenceBoxDataBytes + 63) / 64 * 64; }

size_t PresenceBoard::bytes_for(uint32_t boxes) { return 64 + stride() * boxes; }

void PresenceBoard::initialize(void* at, uint32_t boxes) {
  auto* base = static_cast<uint8_t*>(at);
  std::memcpy(base, &boxes, sizeof(boxes));
  PresenceBoard board(at);
  for (uint32_t i = 0; i < boxes; ++i) {
    PresenceBox* b = new (&board.box(i)) PresenceBox();
    b->state.store(kBoxFree, std::memory_order_relaxed);
    b->abandoned.store(0, std::memory_order_relaxed);
    b->asker.store(-1, std::memory_order_relaxed);
    b->incarnation.store(0, std::memory_order_relaxed);
    b->ticket.store(0, std::memory_order_relaxed);
  }
}

uint32_t PresenceBoard::boxes() const {
  uint32_t n;
  std::memcpy(&n, base_, sizeof(n));
  return n;
}

PresenceBox& PresenceBoard::box(uint32_t shard) const {
  RC_ASSERT(shard < boxes());
  return *reinterpret_cast<PresenceBox*>(base_ + 64 + stride() * shard);
}

uint32_t PresenceBoard::reset(uint32_t shard) {
  // Our own box: a query our previous life was answering when it died is answered again; any other
  // state belongs to its asker.
  PresenceBox& own = box(shard);
  uint32_t expected = kBoxAnswering;
  own.state.compare_exchange_strong(expected, kBoxRequested, std::memory_order_acq_rel);
  // Boxes our previous life was asking: nobody will read their answers.
  for (uint32_t i = 0; i < boxes(); ++i) {
    PresenceBox& b = box(i);
    if (i == shard || b.asker.load(std::memory_order_relaxed) != static_cast<int32_t>(shard)) continue;
    uint32_t s = b.state.load(std::memory_order_acquire);
    if (s == kBoxWriting) {
      b.state.store(kBoxFree, std::memory_order_release);  // only the (dead) claimer touches `writing`
    } else if (s == kBoxRequested || s == kBoxAnswered) {
      if (!b.state.compare_exchange_strong(s, kBoxFree, std::memory_order_acq_rel))
        b.abandoned.store(1, std::memory_order_release);  // the shard took it meanwhile
    } else if (s == kBoxAnswering) {
      b.abandoned.store(1, std::memory_order_release);
    }
  }
  return own.incarnation.fetch_add(1, std::memory_order_relaxed) + 1;
}

bool PresenceBoard::take(uint32_t shard, PresenceQuery& query) {
  PresenceBox& b = box(shard);
  uint32_t expected = kBoxRequested;
  if (b.state.load(std::memory_order_relaxed) != kBoxRequested ||
      !b.state.compare_exchange_strong(expected, kBoxAnswering, std::memory_order_acq_rel))
    return false;
  const uint8_t* data = this->data(shard);
  query = PresenceQuery{};
  query.kind = static_cast<PresenceKind>(b.kind);
  query.users = b.users != 0;
  query.limit = b.limit;
  query.room.assign(reinterpret_cast<const char*>(data), b.room_len);
  query.cursor.assign(reinterpret_cast<const char*>(data) + b.room_len, b.cursor_len);
  return true;
}

void PresenceBoard::answer(uint32_t shard, const PresencePart& part, Ring ring) {
  PresenceBox& b = box(shard);
  uint8_t* const start = data(shard) + b.room_len + b.cursor_len;
  uint8_t* const end = data(shard) + kPresenceBoxDataBytes;
  const size_t missing_bytes = 4 * part.missing.size();
  uint8_t* at = start;
  uint32_t count = 0;
  bool truncated = part.truncated;
  for (const auto& [name, n] : part.entries) {
    if (static_cast<size_t>(end - at) < entry_bytes(name) + missing_bytes) {
      truncated = true;  // (a shard's part was sized to fit; the bridge's merge of other nodes may not)
      break;
    }
    const auto len = static_cast<uint16_t>(name.size());
    std::memcpy(at, &len, 2);
    std::memcpy(at + 2, name.data(), name.size());
    std::memcpy(at + 2 + name.size(), &n, 8);
    at += entry_bytes(name);
    ++count;
  }
  for (uint32_t node : part.missing) {
    std::memcpy(at, &node, 4);
    at += 4;
  }
  b.members = part.members;
  b.count = count;
  b.truncated = truncated ? 1 : 0;
  b.nodes = part.nodes;
  b.partial = part.partial ? 1 : 0;
  b.missing_count = static_cast<uint32_t>(part.missing.size());
  b.answer_bytes = static_cast<uint32_t>(at - start);
  const int32_t asker = b.asker.load(std::memory_order_relaxed);
  b.state.store(kBoxAnswered, std::memory_order_release);
  wake(ring, asker);
}

bool PresenceBoard::serve(uint32_t shard, const RoomIndex& rooms, Ring ring) {
  PresenceQuery query;
  if (!take(shard, query)) return false;
  PresencePart part;
  presence_answer_local(rooms, query, part, kPresenceBoxDataBytes - query.room.size() - query.cursor.size());
  answer(shard, part, ring);
  return true;
}

void PresenceAsk::start(PresenceBoard board, Ring ring, uint32_t shard_count, int32_t self,
                        const PresenceQuery& query, int64_t now_ns, int64_t timeout_ns, uint64_t ticket,
                        bool cluster) {
  board_ = board;
  ring_ = ring;
  query_ = query;
  self_ = self;
  deadline_ns_ = now_ns + timeout_ns;
  ticket_ = ticket;
  targets_.clear();
  parts_.clear();
  failed_shard_ = 0;
  if (!board_.valid()) return;
  for (uint32_t s = 0; s < std::min(shard_count, board_.boxes()); ++s) {
    if (static_cast<int32_t>(s) == self) continue;
    targets_.push_back(Target{s, Step::to_claim});
  }
  bridge_box_ = cluster && shard_count < board_.boxes() ? shard_count : UINT32_MAX;
  if (bridge_box_ != UINT32_MAX) targets_.push_back(Target{bridge_box_, Step::to_claim});
}

void PresenceAsk::bridge_failed() {
  PresencePart part;
  part.partial = true;  // the other nodes were not asked: their members are not in the answer
  part.nodes = 1;
  parts_.push_back(std::move(part));
}

bool PresenceAsk::try_claim(uint32_t shard) {
  PresenceBox& b = board_.box(shard);
  uint32_t s = b.state.load(std::memory_order_acquire);
  if (s == kBoxAnswered && b.abandoned.load(std::memory_order_acquire)) {
    if (!b.state.compare_exchange_strong(s, kBoxWriting, std::memory_order_acq_rel)) return false;
  } else {
    uint32_t expected = kBoxFree;
    if (!b.state.compare_exchange_strong(expected, kBoxWriting, std::memory_order_acq_rel)) return false;
  }
  b.abandoned.store(0, std::memory_order_relaxed);
  uint8_t* data = board_.data(shard);
  b.kind = static_cast<uint32_t>(query_.kind);
  b.users = query_.users ? 1 : 0;
  b.limit = query_.limit;
  b.room_len = static_cast<uint32_t>(query_.room.size());
  b.cursor_len = static_cast<uint32_t>(query_.cursor.size());
  std::memcpy(data, query_.room.data(), query_.room.size());
  std::memcpy(data + query_.room.size(), query_.cursor.data(), query_.cursor.size());
  b.ticket.store(ticket_, std::memory_order_relaxed);
  b.asker.store(self_, std::memory_order_relaxed);
  b.state.store(kBoxRequested, std::memory_order_release);
  wake(ring_, static_cast<int32_t>(shard));
  return true;
}

bool PresenceAsk::read_answer(uint32_t shard) {
  PresenceBox& b = board_.box(shard);
  if (b.state.load(std::memory_order_acquire) != kBoxAnswered) return false;
  // (Another asker's answer can only be there if ours was lost: poll() asks again.)
  if (b.ticket.load(std::memory_order_relaxed) != ticket_) return false;
  PresencePart part;
  part.members = b.members;
  part.truncated = b.truncated != 0;
  const uint8_t* at = board_.data(shard) + b.room_len + b.cursor_len;
  for (uint32_t i = 0; i < b.count; ++i) {
    uint16_t len;
    uint64_t count;
    std::memcpy(&len, at, 2);
    std::memcpy(&count, at + 2 + len, 8);
    part.entries.emplace_back(std::string(reinterpret_cast<const char*>(at + 2), len), count);
    at += 2 + len + 8;
  }
  part.nodes = b.nodes;
  part.partial = b.partial != 0;
  for (uint32_t i = 0; i < b.missing_count; ++i, at += 4) {
    uint32_t node;
    std::memcpy(&node, at, 4);
    part.missing.push_back(node);
  }
  parts_.push_back(std::move(part));
  b.state.store(kBoxFree, std::memory_order_release);
  return true;
}

PresenceAsk::Status PresenceAsk::poll(int64_t now_ns) {
  bool pending = false;
  for (Target& t : targets_) {
    if (t.step == Step::done) continue;
    // A shard that is not running (stopped, or its worker died and is restarting) has no members.
    const bool active = ring_.slot(t.shard).active.load(std::memory_order_acquire) != 0;
    if (t.step == Step::to_claim) {
      if (!active) {
        if (t.shard == bridge_box_) bridge_failed();  // a bridge process restarting (workers mode)
        t.step = Step::done;
        continue;
      }
      if (try_claim(t.shard)) t.step = Step::asked;
    }
    if (t.step == Step::asked) {
      if (read_answer(t.shard)) {
        t.step = Step::done;
        continue;
      }
      if (board_.box(t.shard).ticket.load(std::memory_order_relaxed) != ticket_) {
        t.step = Step::to_claim;  // our query was lost (its box reset after a restart): ask again
        pending = true;
        continue;
      }
      if (!active) {
        PresenceBox& b = board_.box(t.shard);
        uint32_t expected = kBoxRequested;
        if (!b.state.compare_exchange_strong(expected, kBoxFree, std::memory_order_acq_rel))
          b.abandoned.store(1, std::memory_order_release);
        if (t.shard == bridge_box_) bridge_failed();
        t.step = Step::done;
        continue;
      }
    }
    pending = true;
  }
  if (!pending) return Status::done;
  if (now_ns < deadline_ns_) return Status::pending;
  // Only the bridge is late (it answers before this deadline, so it is stuck): the node's own
  // shards answered, and the answer says it is partial.
  bool only_bridge = true;
  for (const Target& t : targets_) only_bridge &= t.step == Step::done || t.shard == bridge_box_;
  if (only_bridge) {
    abandon();
    bridge_failed();
    return Status::done;
  }
  for (const Target& t : targets_) {
    if (t.step != Step::done) {
      failed_shard_ = t.shard;
      break;
    }
  }
  abandon();
  return Status::timed_out;
}

void PresenceAsk::abandon() {
  for (Target& t : targets_) {
    if (t.step == Step::asked) {
      PresenceBox& b = board_.box(t.shard);
      uint32_t expected = kBoxRequested;
      if (!b.state.compare_exchange_strong(expected, kBoxFree, std::memory_order_acq_rel)) {
        if (expected == kBoxAnswered)
          b.state.store(kBoxFree, std::memory_order_release);  // answered meanwhile: ours to free
        else
          b.abandoned.store(1, std::memory_order_release);
      }
    }
    t.step = Step::done;
  }
}

bool PresenceAsk::claims_pending() const {
  for (const Target& t : targets_)
    if (t.step == Step::to_claim) return true;
  return false;
}

}  // namespace ringcast
