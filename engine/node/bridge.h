// The NATS bridge: one per node in cluster mode (a thread of the server, or a child process of the
// --workers supervisor). Outbound it is a ring consumer like a shard: every entry published on this
// node (origin 0) goes to NATS in ring order, so one node's pushes keep their order everywhere.
// Inbound it subscribes to exactly the rooms the node-wide room table says have members here (plus
// push/all when the node has clients) and commits what other nodes publish into the ring with their
// node id as origin; from there the shards fan it out like any local push. It also keeps the shared
// `connected` flag the push API answers 503 on.
// With JetStream (bridge_history.cpp) room pushes go to the cluster's stream instead, come back
// numbered through the stream's republish, and the bridge answers the shards' replay requests.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/broadcast/publish.h"
#include "engine/broadcast/ring.h"
#include "engine/broadcast/users.h"
#include "engine/codec/cluster_wire.h"
#include "engine/config.h"
#include "engine/node/cluster_presence.h"
#include "engine/node/jetstream.h"
#include "engine/node/presence.h"
#include "engine/node/room_table.h"
#include "engine/node/shm.h"
#include "engine/settings.h"

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
  PresenceBoard presence;  // the shards' boxes, then the bridge's own (box `slot`): cluster presence
  int wake_fd = -1;     // written by ring producers, room-table changes and stop requests
  bool resume = false;  // a restarted bridge process: go on from where its predecessor stopped
};

// A libnats failure as text: the details libnats recorded for this thread, else the status's name.
std::string nats_error_text(natsStatus s);

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
  int64_t backoff_ms(int attempts) const;  // nats_reconnect_wait_ms doubling, jittered
  void log_connect_failure(natsStatus status, const char* text);  // at most every kBridgeLogEveryMs
  void reopen();  // a new connection in place of one libnats closed for good (bridge.cpp)
  static void on_subscription_done(void* self);

  // ---- presence across the cluster (bridge_presence.cpp) ----
  void start_presence();
  void subscribe_presence();
  bool presence_turn();  // announcements, this node's question, the other nodes' questions
  void receive_presence(natsMsg* msg);
  void ask_other_nodes(const PresenceQuery& query);
  void answer_other_node();
  void say_goodbye();
  bool presence_busy() const { return gather_.active() || answering_; }

  // ---- JetStream: the cluster's history (bridge_history.cpp; replays in bridge_replay.cpp) ----
  bool start_history(std::string& error);
  natsStatus open_publish_context();  // js_ on connection_
  bool history_turn();  // the stream's set-up, probes, publishes to send again, catch-up
  bool setup_stream();
  void probe_stream();
  void stage(const RingEntry& entry);
  void send_staged();
  void resend_failed();
  static void on_ack(jsCtx* js, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* self);
  void receive_history(natsMsg* msg);
  bool commit_room_item(const std::string& room, uint32_t origin, uint64_t position, std::string_view items);
  void append_window(jetstream::RoomWindow& window, uint64_t position, uint64_t previous,
                     std::string_view items);
  bool fill_gap(const std::string& room, jetstream::RoomWindow& window, uint64_t upto);
  bool fetch_items(const std::string& room, uint64_t after, uint64_t upto,
                   std::vector<jetstream::WindowItem>& out);
  bool fetch_last(const std::string& room, uint64_t& last);
  bool start_window(const std::string& room, jetstream::RoomWindow*& window, std::unique_lock<std::mutex>& lock);
  bool fetch_first_seq(uint64_t& first);
  void answer_replay(const std::string& room, uint32_t ticket, uint8_t flags, uint64_t since);
  void commit_replay(const std::string& room, uint32_t ticket,
                     const std::vector<const jetstream::WindowItem*>& items, uint64_t position,
                     bool recovered);
  bool commit_replay_control(const std::string& room, uint32_t ticket, uint8_t flags, uint64_t value);
  void catch_up();
  void history_subscribed(const std::string& room);
  void history_unsubscribed(const std::string& room);
  void stop_history();

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
  std::atomic<int64_t> connect_failure_logged_ms_{0};  // by libnats' reconnect threads
  int reopen_attempts_ = 0;  // failed attempts to replace a closed connection, in a row
  int64_t reopen_at_ms_ = 0;  // the next one (0: none waiting)
  // Inbound, on libnats' delivery thread (a pool of one: see start()).
  Publisher publisher_;
  std::atomic<bool> slow_consumer_seen_{false};
  std::atomic<int> subscriptions_done_{0};  // closed subscriptions libnats has finished with (shutdown)

  // JetStream. The windows and the ring commits of room items are shared by libnats' delivery thread
  // (live items, gap fills) and the bridge's own (replays, catch-up): one lock, on the control path
  // of the node's inbound traffic, never on a shard's.
  jsCtx* js_ = nullptr;  // publishes (acks come on the delivery thread)
  natsOptions* fetch_options_ = nullptr;
  natsConnection* fetch_connection_ = nullptr;  // direct gets: requests apart from the delivery thread
  jsCtx* fetch_js_ = nullptr;
  std::string stream_;
  bool stream_ready_ = false;
  int64_t stream_probe_at_ms_ = 0;
  std::mutex history_mu_;
  std::condition_variable window_started_;  // a marker (or an item) started a window
  std::unordered_map<std::string, jetstream::RoomWindow> windows_;
  size_t window_bytes_ = 0;
  std::atomic<bool> catch_up_needed_{false};
  std::atomic<bool> reconnect_hold_{false};  // after a reconnect: new pushes wait for those in flight
  std::atomic<int64_t> in_flight_{0};        // publishes sent (or to send again) and not acknowledged
  int64_t catch_up_at_ms_ = 0;
  std::mutex resend_mu_;
  std::vector<natsMsg*> resend_;  // publishes to send again (ack timeout or error)
  static constexpr uint32_t kSentSlots = 4096;
  std::atomic<int64_t> sent_ns_[kSentSlots] = {};  // by ring seq: when a staged entry was sent
  uint64_t ring_epoch_ = 0;
  std::string history_subject_;
  std::string message_id_;
  std::string replay_items_;
  std::string live_prefix_;  // <prefix>.l.: the subjects the stream republishes on
  // A room's staged pushes taken from the ring in one forward() turn: one message to the stream.
  struct StagedBatch {
    std::string items;       // the pushes' items, comma-separated (no brackets)
    uint64_t first_seq = 0;  // the first push's ring sequence: the message id
    int64_t publish_ns = 0;  // the first push's acceptance: where the ack latency starts
    uint32_t entries = 0;
  };
  std::unordered_map<std::string, StagedBatch> staged_;

  // Presence across the cluster. The directory, the gather and the questions to answer are shared with
  // libnats' delivery thread (which receives announcements, answers and questions): one lock, on the
  // control path only.
  std::string question_subject_;
  std::string answer_subject_;  // this node's: where the other nodes answer its questions
  std::string nodes_subject_;
  natsSubscription* question_subscription_ = nullptr;
  natsSubscription* answer_subscription_ = nullptr;
  natsSubscription* nodes_subscription_ = nullptr;
  std::mutex presence_mu_;
  cluster_presence::NodeDirectory directory_;
  cluster_presence::Gather gather_;
  uint64_t gather_tickets_ = 0;
  std::vector<cluster_presence::Question> questions_;  // from other nodes, oldest first
  bool hello_due_ = false;                             // a node we did not know said hello
  int64_t announce_at_ms_ = 0;
  bool said_hello_ = false;
  // The other node's question being answered from this node's shards.
  bool answering_ = false;
  cluster_presence::Question answering_question_;
  PresenceAsk ask_;
  uint64_t ask_tickets_ = 0;
  std::string presence_message_;
};

}  // namespace ringcast
