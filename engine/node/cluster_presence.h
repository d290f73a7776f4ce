// Presence across the cluster, the pure parts: the NATS subjects and messages of a presence question
// and its answers, the directory of the nodes a node has heard of, and the gathering of one
// question's answers into one part (bytes in, bytes out; unit-tested and fuzzed without NATS).
//
// The flow (the bridge does the I/O, bridge_presence.cpp): a node's API asks its shards and, through
// the presence box after the last shard's, its bridge; the bridge asks `<prefix>.presence`, every
// other node's bridge asks its own shards and answers on the asker's reply subject, and the asking
// bridge merges what came within the deadline into one part for the API's merge. Nodes announce
// themselves on `<prefix>.nodes` (hello at start, alive every second, bye when they stop): the nodes
// heard of recently and not answering are named in the answer, which then says it is partial.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/node/presence.h"

namespace ringcast {
namespace cluster_presence {

std::string question_subject(std::string_view prefix);                 // <prefix>.presence
std::string answer_subject(std::string_view prefix, uint32_t node_id);  // <prefix>.presence.a.<id>
std::string nodes_subject(std::string_view prefix);                    // <prefix>.nodes

// Message layouts, version 1, integers little-endian:
//   question:     [0] 1  [1] kind  [2] users  [3] 0  [4..7] limit  [8..11] asking node
//                 [12..19] ticket  [20..21] room length  [22..23] cursor length  room  cursor
//   answer:       [0] 1  [1] truncated  [2..3] 0  [4..7] answering node  [8..15] ticket
//                 [16..23] members  [24..27] entries  then per entry: u16 length, name, u64 count
//   announcement: [0] 1  [1] what (0 hello, 1 alive, 2 bye)  [2..3] 0  [4..7] node
constexpr uint8_t kVersion = 1;

struct Question {
  PresenceQuery query;
  uint32_t asker = 0;  // node id
  uint64_t ticket = 0;
};

struct Answer {
  uint32_t node = 0;
  uint64_t ticket = 0;
  PresencePart part;
};

enum class Announce : uint8_t { hello = 0, alive = 1, bye = 2 };

void encode_question(std::string& out, const Question& q);
bool decode_question(std::string_view bytes, Question& out);
// The node's merged page as one part (its entries cut to what fits in `bytes_max`).
void encode_answer(std::string& out, uint32_t node, uint64_t ticket, const PresencePage& page, size_t bytes_max);
bool decode_answer(std::string_view bytes, Answer& out);
void encode_announcement(std::string& out, Announce what, uint32_t node);
bool decode_announcement(std::string_view bytes, Announce& what, uint32_t& node);

// The nodes heard of: each announcement (or answer) marks its node seen; a bye, or silence longer
// than `expiry_ms`, forgets it (a node killed without a bye is named missing until then).
class NodeDirectory {
 public:
  // True when the node was not known (its hello deserves an alive back).
  bool seen(uint32_t node, int64_t now_ms);
  void gone(uint32_t node) { last_seen_.erase(node); }
  // The nodes seen within `expiry_ms`, ascending; forgets the others.
  std::vector<uint32_t> live(int64_t now_ms, int64_t expiry_ms);

 private:
  std::map<uint32_t, int64_t> last_seen_;
};

// One question's answers, gathered until every expected node answered or the deadline passed.
class Gather {
 public:
  void start(const PresenceQuery& query, uint64_t ticket, std::vector<uint32_t> expected, int64_t deadline_ms);
  bool active() const { return active_; }
  // An answer to this question (a stale one, or a second from the same node, is ignored).
  bool add(Answer&& answer);
  bool complete(int64_t now_ms) const;
  // The other nodes' parts merged into one part for the API's merge; ends the gather.
  void finish(PresencePart& out);

 private:
  bool active_ = false;
  PresenceQuery query_;
  uint64_t ticket_ = 0;
  std::vector<uint32_t> expected_;
  std::vector<uint32_t> answered_;
  std::vector<PresencePart> parts_;
  int64_t deadline_ms_ = 0;
};

}  // namespace cluster_presence
}  // namespace ringcast
