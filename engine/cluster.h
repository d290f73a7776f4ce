// Cluster mode (several nodes over NATS): the state the NATS bridge shares with the shards and the
// stats pages (in the shared region), and the wire format of what travels between nodes: the subject
// of a room, and one versioned message per forwarded ring entry. The wire part is pure (bytes in,
// bytes out) so it is unit-tested without NATS; the bridge (bridge.h) does the I/O.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/ring.h"

namespace ringcast {

// One per node, in the shared region. The bridge is the only writer of everything but `stop` (set by
// whoever stops the node) and, in workers mode, the supervisor's repairs after the bridge died.
struct alignas(64) ClusterState {
  std::atomic<uint32_t> enabled;    // --nats given: pushes need the cluster
  std::atomic<uint32_t> connected;  // 1 while the NATS connection is up; 0 makes the push API answer 503
  std::atomic<uint32_t> node_id;    // this node's id: `origin` of what it forwards
  std::atomic<uint32_t> stop;       // the bridge forwards what is left, flushes and exits
  std::atomic<int64_t> subscriptions;   // gauge: subjects subscribed (rooms with members, plus push/all)
  std::atomic<int64_t> published;       // ring entries forwarded to NATS
  std::atomic<int64_t> publish_failed;  // ring entries NATS refused (connection closed, buffer full)
  std::atomic<int64_t> received;        // messages from other nodes committed into the ring
  std::atomic<int64_t> receive_failed;  // messages from other nodes the ring could not take (full)
  std::atomic<int64_t> rejected;        // messages that were not valid ringcast cluster messages
  std::atomic<int64_t> dropped;         // messages libnats dropped before delivery (slow consumer)
  std::atomic<int64_t> disconnects;
  std::atomic<int64_t> reconnects;
  std::atomic<int64_t> bridge_restarts;  // workers mode: bridge processes restarted by the supervisor
  // Where the bridge's ring cursor is, so that a restarted bridge process forwards what its
  // predecessor had not (the supervisor keeps the dead bridge's ring slot holding that position).
  std::atomic<uint64_t> cursor_pos;
  std::atomic<uint64_t> cursor_seq;
  std::atomic<uint32_t> cursor_valid;

  void clear();
};

namespace cluster {

// Message layout, version 1 (integers little-endian):
//   [0] version = 1   [1] target (0 all, 1 room, 2 user: the "room" is the uid)   [2..3] room length
//   [4..7] origin node id
//   [8..15] origin ring sequence   then the room name, then the items: a minified JSON array.
// The origin sequence is not used for delivery yet; it is what a node will ask an origin for to close
// the gap an outage left (see docs/cluster.md).
constexpr uint8_t kWireVersion = 1;
constexpr size_t kHeaderBytes = 16;

struct Message {
  Target target = Target::all;
  uint32_t origin = 0;
  uint64_t origin_seq = 0;
  std::string_view room;
  std::string_view items;  // the JSON array text, brackets included
};

enum class DecodeError : uint8_t { none, too_short, bad_version, bad_target, bad_length, no_items };

// Appends the encoding of a ring entry (target, room, items) to `out`.
void encode(std::string& out, const RingEntry& entry, uint32_t origin);
// Parses a message; the views point into `bytes`.
DecodeError decode(std::string_view bytes, Message& out);
std::string_view decode_error_text(DecodeError error);

// Subjects: <prefix>.all for push/all, <prefix>.r.<token> for a room, where the token is the room
// name in unpadded base64url, so any room name (UTF-8, dots, spaces, '*', '>') is one valid token.
void room_subject(std::string& out, std::string_view prefix, std::string_view room);
std::string all_subject(std::string_view prefix);
// <prefix>.u: every user push. Every node with clients subscribes to it (like <prefix>.all): a node
// does not know which users other nodes hold, and per-user subjects would cost a subscription per
// bound user.
std::string user_subject(std::string_view prefix);
// A prefix is one or more tokens of [A-Za-z0-9_-] separated by single dots.
bool subject_prefix_valid(std::string_view prefix);

// base64url without padding (RFC 4648 section 5), appended to `out`.
void base64url_append(std::string& out, std::string_view bytes);

}  // namespace cluster
}  // namespace ringcast
