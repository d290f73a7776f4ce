// The NATS bridge: one per node in cluster mode (a thread of the server, or a child process of the
// --workers supervisor). Outbound it is a ring consumer like a shard: every entry published on this
// node (origin 0) goes to NATS in ring order, so one node's pushes keep their order everywhere.
// Inbound it subscribes to exactly the rooms the node-wide room table says have members here (plus
// push/all when the node has clients) and commits what other nodes publish into the ring with their
// node id as origin; from there the shards fan it out like any local push. It also keeps the shared
// `connected` flag the push API answers 503 on.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/config.h"
#include "engine/settings.h"
#include "engine/broadcast/publish.h"
#include "engine/broadcast/ring.h"
#include "engine/broadcast/users.h"
#include "engine/codec/cluster_wire.h"
#include "engine/node/room_table.h"
#include "engine/node/shm.h"

namespace ringcast {

namespace cluster {
// A ring entry as a cluster message: a user push travels with its uid, not the node-local internal
// room name (users.h).
inline void encode_entry(std::string& out, const RingEntry& entry, uint32_t origin) {
  const std::string_view room = entry.target == Target::user ? user_of_room(entry.room()) : entry.room();
  encode(out, entry.target, room, entry.seq, entry.items(), origin);
}
}  // namespace cluster

struct BridgeSetup {
  const Config* config = nullptr;
  const Settings* settings = nullptr;  // the rules its publisher checks, as every publisher's
  SharedHeader* shared = nullptr;
  Ring ring;
  RoomTable rooms;
  uint32_t slot = 0;    // ring consumer slot and claim record: the one after the node's last shard
  int wake_fd = -1;     // written by ring producers, room-table changes and stop requests
  bool resume = false;  // a restarted bridge process: go on from where its predecessor stopped
};

class Bridge {
 public:
  explicit Bridge(const BridgeSetup& setup);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Attaches to the ring and connects. When no server answers yet, libnats keeps trying in the
  // background (the node answers 503 to pushes until it is connected). False only when the client
  // cannot be set up at all.
  bool start(std::string& error);
  // Forwards and follows the room table until ClusterState::stop; then forwards what is left,
  // flushes, disconnects and releases libnats.
  void run();

 private:
  static void on_message(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* self);
  static void on_connected(natsConnection* nc, void* self);
  static void on_disconnected(natsConnection* nc, void* self);
  static void on_reconnected(natsConnection* nc, void* self);
  static void on_closed(natsConnection* nc, void* self);
  static void on_error(natsConnection* nc, natsSubscription* sub, natsStatus err, void* self);
  static int64_t reconnect_delay(natsConnection* nc, int attempts, void* self);
  static void on_subscription_done(void* self);

  uint32_t forward(uint32_t limit);
  void send(const RingEntry& entry);
  void receive(std::string_view bytes);
  bool follow_rooms();
  void reconcile_all();
  void subscribe(const std::string& room);
  void unsubscribe(std::unordered_map<std::string, natsSubscription*>::iterator it);
  void subscriptions_changed();
  void count_dropped();
  void sleep();
  void shutdown();

  BridgeSetup setup_;
  const Config& config_;
  ClusterState& cluster_;
  uint32_t node_id_ = 0;
  natsOptions* options_ = nullptr;
  natsConnection* connection_ = nullptr;
  std::unordered_map<std::string, natsSubscription*> subscriptions_;  // room -> its subscription
  natsSubscription* all_subscription_ = nullptr;
  std::string all_subject_;
  natsSubscription* user_subscription_ = nullptr;  // <prefix>.u: user pushes (cluster.h)
  std::string user_subject_;
  // Outbound, on the bridge's thread.
  uint64_t pos_ = 0;
  uint64_t seq_ = 0;
  std::string subject_;
  std::string message_;
  std::vector<std::string> changes_;
  bool reconcile_needed_ = false;  // a subscribe failed: rescan the table later
  int64_t reconcile_at_ms_ = 0;
  int64_t dropped_gone_ = 0;       // messages dropped by subscriptions since destroyed
  int64_t publish_failure_logged_ms_ = 0;
  // Inbound, on libnats' delivery thread (a pool of one: see start()).
  Publisher publisher_;
  std::atomic<bool> slow_consumer_seen_{false};
  std::atomic<int> subscriptions_done_{0};  // closed subscriptions libnats has finished with (shutdown)
};

}  // namespace ringcast
