// Presence: who is in a room, across every shard of the node (threads and worker processes). A
// shard's room index is touched by its own thread only, so a query is asked, not read: a small
// mailbox per shard in the shared region (one box each: free -> writing -> requested -> answering ->
// answered -> free) carries the query to the shard, which answers it in its own loop turn, and the
// answer back. The asking shard answers its own part locally and merges. Control path only: nothing
// here runs per message. The pure parts (one shard's answer from its RoomIndex, merging and paging,
// the JSON, the request's parsing) are unit-tested and benchmarked without any mailbox.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/broadcast/publish.h"
#include "engine/broadcast/ring.h"
#include "engine/broadcast/room.h"

namespace ringcast {

constexpr uint32_t kPresencePageDefault = 100;
constexpr uint32_t kPresencePageMax = 1000;
// Per box: the query's room and cursor, then the answer's entries. A shard whose page does not fit
// answers a shorter page marked truncated, which the merge handles like a page cut at `limit`.
constexpr size_t kPresenceBoxDataBytes = 256 * 1024;

enum class PresenceKind : uint32_t { room = 1, rooms = 2 };

struct PresenceQuery {
  PresenceKind kind = PresenceKind::room;
  std::string room;    // kind room: the room asked about
  bool users = false;  // kind room: also page through the members' distinct user ids
  std::string cursor;  // paging: names strictly after this one (the previous page's `next`)
  uint32_t limit = kPresencePageDefault;
};

// One shard's part of an answer: the smallest names after the cursor, sorted, at most `limit`.
struct PresencePart {
  uint64_t members = 0;                                   // kind room: the room's members on the shard
  std::vector<std::pair<std::string, uint64_t>> entries;  // users (count 0) or rooms with their members
  bool truncated = false;                                 // the shard has more names after the last entry
  // Cluster mode, the bridge's part only (the other nodes, cluster_presence.h): how many nodes it
  // stands for (those that answered, plus this one), and the nodes heard of that did not answer.
  uint32_t nodes = 0;
  bool partial = false;  // missing nodes, or the bridge could not ask (not running, NATS away)
  std::vector<uint32_t> missing;
};

// The node's answer.
struct PresencePage {
  uint64_t members = 0;
  std::vector<std::pair<std::string, uint64_t>> entries;  // as in PresencePart, merged
  bool has_next = false;
  std::string next;  // the cursor of the next page (the last name of this one) when has_next
  uint32_t nodes = 0;  // cluster mode: the nodes the answer stands for (0: one node, no cluster)
  bool partial = false;
  std::vector<uint32_t> missing;  // node ids that did not answer, ascending
};

// A shard's part from its room index. `bytes_max` bounds the entries' encoded size (the box).
void presence_answer_local(const RoomIndex& rooms, const PresenceQuery& query, PresencePart& out,
                           size_t bytes_max = kPresenceBoxDataBytes);
// Merges the shards' parts: member counts summed, names deduplicated (a user on two shards, a room
// on several), the page cut at `limit` and below the last name of any truncated part (beyond it
// that shard's answer is incomplete).
void presence_merge(const std::vector<PresencePart>& parts, const PresenceQuery& query, PresencePage& out);
// {"room":"r","members":N[,"users":[...],"next":...]} or {"rooms":[{"room":"r","members":N},...],"next":...}.
std::string presence_json(const PresenceQuery& query, const PresencePage& page);

// GET /rooms and /rooms/{room} (percent-encoded) with ?limit=, ?cursor=, ?users=. False with a
// constant reason for a 400 answer.
bool parse_presence_request(std::string_view path, std::string_view query_string, size_t room_bytes_max,
                            RoomCharset charset, PresenceQuery& out, std::string_view& error);

// ---- the mailbox ----

enum PresenceState : uint32_t { kBoxFree = 0, kBoxWriting, kBoxRequested, kBoxAnswering, kBoxAnswered };

struct alignas(64) PresenceBox {
  std::atomic<uint32_t> state;
  std::atomic<uint32_t> abandoned;    // the asker gave up while the shard was answering: reclaimable
  std::atomic<int32_t> asker;         // shard to wake when answered, -1 for an asker that polls
  std::atomic<uint32_t> incarnation;  // how many times this box's shard started (connection ids)
  std::atomic<uint64_t> ticket;       // the asker's query number, checked when it reads the answer
  // The query (written in `writing`, read in `answering`).
  uint32_t kind;
  uint32_t users;
  uint32_t limit;
  uint32_t room_len;
  uint32_t cursor_len;
  // The answer (written in `answering`, read in `answered`).
  uint32_t count;
  uint32_t truncated;
  uint32_t answer_bytes;
  uint64_t members;
  // Cluster mode, the bridge's box: its part's nodes, partial flag and missing nodes (4 bytes each,
  // after the entries).
  uint32_t nodes;
  uint32_t partial;
  uint32_t missing_count;
};

// A handle on the boxes in the shared region (one per shard of the node).
class PresenceBoard {
 public:
  PresenceBoard() = default;
  explicit PresenceBoard(void* at) : base_(static_cast<uint8_t*>(at)) {}

  static size_t bytes_for(uint32_t boxes);
  static void initialize(void* at, uint32_t boxes);

  bool valid() const { return base_ != nullptr; }
  uint32_t boxes() const;
  PresenceBox& box(uint32_t shard) const;
  uint8_t* data(uint32_t shard) const { return reinterpret_cast<uint8_t*>(&box(shard) + 1); }

  // A shard starting (again, after its worker died): its box is freed, boxes it was asking are
  // released, and its incarnation moves on. Returns the new incarnation.
  uint32_t reset(uint32_t shard);
  // The shard's turn: answers its box if a query waits there (then wakes the asker). True if it did.
  bool serve(uint32_t shard, const RoomIndex& rooms, Ring ring);
  // The NATS bridge's box (the one after the last shard's), answered in two steps: take() claims a
  // waiting query, answer() writes the part and wakes the asker.
  bool take(uint32_t box, PresenceQuery& query);
  void answer(uint32_t box, const PresencePart& part, Ring ring);

 private:
  static size_t stride();
  uint8_t* base_ = nullptr;
};

// One query asked of every other running shard: claims their boxes, polls them, collects the parts.
// Used by a shard for an API request (polled each loop turn) and by Engine (polled in a loop).
class PresenceAsk {
 public:
  enum class Status { pending, done, timed_out };

  // Shards [0, shard_count); `self` (a shard answering its own part locally) is skipped, -1 for none.
  // With `cluster`, the bridge's box (the one after box shard_count - 1) is asked too: its part is the
  // other nodes'. A bridge that is not running or does not answer in time makes the answer partial.
  void start(PresenceBoard board, Ring ring, uint32_t shard_count, int32_t self, const PresenceQuery& query,
             int64_t now_ns, int64_t timeout_ns, uint64_t ticket, bool cluster = false);
  Status poll(int64_t now_ns);
  // Gives up the boxes still outstanding (a timeout, a stop).
  void abandon();
  const std::vector<PresencePart>& parts() const { return parts_; }
  uint32_t failed_shard() const { return failed_shard_; }
  bool claims_pending() const;

 private:
  enum class Step : uint8_t { to_claim, asked, done };
  struct Target {
    uint32_t shard;
    Step step;
  };
  bool try_claim(uint32_t shard);
  void bridge_failed();
  bool read_answer(uint32_t shard);

  PresenceBoard board_;
  Ring ring_;
  PresenceQuery query_;
  int32_t self_ = -1;
  int64_t deadline_ns_ = 0;
  uint64_t ticket_ = 0;
  std::vector<Target> targets_;
  std::vector<PresencePart> parts_;
  uint32_t failed_shard_ = 0;
  uint32_t bridge_box_ = UINT32_MAX;
};

}  // namespace ringcast
