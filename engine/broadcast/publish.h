// The way into the broadcast ring: validates a push (room name, items array) once, encodes it once as
// a complete WebSocket PUSH frame, and commits it as one ring entry. Used by the push API on every
// shard and by an embedding application (Engine::publish_*), from any thread: each thread owns one
// Publisher, which owns the parsers and scratch space so publishing does not allocate in steady state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/base/json.h"
#include "engine/broadcast/ring.h"
#include "engine/codec/push.h"

namespace ringcast {

struct ClusterState;

enum class PublishError : uint8_t {
  none,
  bad_json,          // the body or the items text is not JSON
  not_an_object,     // JSON body that is not an object
  items_missing,
  items_not_array,
  items_empty,
  room_missing,
  room_invalid,      // empty, too long, not UTF-8, or with control characters
  too_large,         // the encoded frame would not fit in an entry
  ring_full,         // consumers hold the space: 503, counted, never a silent drop
  cluster_down,      // cluster mode and NATS unreachable: 503, counted, never a silent drop
  history_down,      // JetStream on and the stream does not answer: 503, counted as cluster_down
  uid_missing,       // push/user without a uid
  uid_invalid,       // not 1..user_id_bytes_max bytes of UTF-8 without control characters
  conn_missing,      // push/conn without a conn
  conn_invalid,      // not a connection id (decimal, as BOUND/HELLO give it)
};

// HTTP status and constant message for an error.
int publish_error_status(PublishError error);
std::string_view publish_error_text(PublishError error);

struct PublishOutcome {
  PublishError error = PublishError::none;
  uint64_t seq = 0;
  uint32_t item_count = 0;
  bool staged = false;  // JetStream: the stream gives the position (kEntryStaged); `seq` is the ring's
};

// What every publisher checks a push's address against: the API's, the demo's, the embedding
// application's and the cluster bridge's alike, resolved once from the configuration (settings.h).
struct PublishRules {
  size_t room_name_bytes_max = 128;
  RoomCharset room_charset = RoomCharset::utf8;
  size_t user_id_bytes_max = 128;  // user ids (Target::user): 1..this bytes of UTF-8 without controls
};

class Publisher {
 public:
  explicit Publisher(const PublishRules& rules) : rules_(rules) {}

  // Producers in worker processes record their claims so a crash mid-publish can be repaired.
  void set_claim_record(ClaimRecord* record) { record_ = record; }
  ClaimRecord* claim_record() const { return record_; }
  // In cluster mode, publishes from the API and the application are refused while the node cannot
  // reach NATS (other nodes would miss them). The bridge's own publisher has no gate.
  void set_cluster_gate(const ClusterState* cluster) { cluster_gate_ = cluster; }

  // items_json is the text of a JSON array (go-push's form field `items`). `room` is the room
  // (Target::room), the user id (Target::user: the entry carries its internal room, users.h) or the
  // connection id's text (Target::conn).
  PublishOutcome publish(Ring& ring, Target target, std::string_view room, std::string_view items_json,
                         uint32_t origin = 0);

  // The NATS bridge with JetStream (docs/cluster.md): a push whose PUSH `seq` is `position`, the
  // cluster-wide one the stream gave it, instead of the ring's sequence number. Target::replay: items
  // replayed to one JOIN (`origin` is its ticket); the frame names the room like a room push's.
  PublishOutcome publish_at(Ring& ring, Target target, std::string_view room, std::string_view items_json,
                            uint32_t origin, uint64_t position);
  const ClusterState* cluster_gate() const { return cluster_gate_; }

  // A JSON body {"room":"r","items":[...]} (room ignored and optional for Target::all);
  // {"uid":"u","items":[...]} for Target::user, {"conn":"id","items":[...]} for Target::conn.
  PublishOutcome publish_json_body(Ring& ring, Target target, std::string_view body);

 private:
  PublishOutcome encode_and_commit(Ring& ring, Target target, std::string_view room,
                                   std::string_view minified, uint32_t item_count, uint32_t origin,
                                   uint64_t position = 0);
  PublishError validate_items(std::string_view items_json, uint32_t& item_count);

  // Checks the target's address and sets `address_` to what the entry carries as its room.
  PublishError check_address(Target target, std::string_view room);

  PublishRules rules_;
  std::string address_;
  ClaimRecord* record_ = nullptr;
  const ClusterState* cluster_gate_ = nullptr;
  simdjson::dom::parser dom_;
  simdjson::ondemand::parser ondemand_;
  std::string minified_;
  std::string padded_;
  std::string suffix_;
};

}  // namespace ringcast
