// ringcast::Engine — the push engine as a library: it owns the shared region (broadcast ring and
// stats), the listening sockets, the shard threads and, in cluster mode, the NATS bridge's thread. An
// application embeds it, publishes into it from any thread, and reads its stats; the `ringcast` server is a
// thin main() around it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/broadcast/publish.h"
#include "engine/config.h"
#include "engine/hooks.h"
#include "engine/node/node.h"
#include "engine/node/presence.h"
#include "engine/node/shm.h"
#include "engine/node/stats.h"

namespace ringcast {

class Bridge;

class Engine {
 public:
  explicit Engine(Config config);
  ~Engine();  // stops and waits if still running
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Hooks (hooks.h), registered before start(); they run on shard threads.
  // Every JOIN (from clients; not Session::join) is first put to `fn`.
  void authorize_join(AuthorizeJoin fn) { hooks_.authorize_join = std::move(fn); }
  // Every Nano/Pomelo handshake (docs/nano.md) is first put to `fn`.
  void authorize_nano_handshake(AuthorizeNanoHandshake fn) { hooks_.authorize_nano_handshake = std::move(fn); }
  // Client messages of `type` go to `fn` (for Nano/Pomelo clients, `type` is the route). False for the
  // protocol's own types (PING, JOIN, LEAVE, room.join, room.message) or a type already taken.
  bool handle(std::string type, MessageHandler fn);
  // Lifecycle callbacks, in registration order (see Component).
  void add_component(std::shared_ptr<Component> component) { hooks_.components.push_back(std::move(component)); }

  // Runs the components' init, binds the listeners and starts one shard thread per configured thread,
  // then runs after_init. Returns once every shard is serving (true) or one failed to start (false,
  // with a message; nothing keeps running).
  bool start(std::string& error);

  // Runs the components' before_shutdown (once), then asks every shard to drain: clients get close
  // 1001, API requests in flight are answered. Returns at once; wait() returns when the shards are
  // done, after the components' shutdown. Safe from any thread, and from a signal handler thread.
  void stop();
  void wait();
  // Loads the TLS certificate and key files again (what SIGHUP does in the ringcast server): new
  // connections get the new certificate, open ones keep theirs. False, with the reason, when the
  // files do not load (the old ones stay in use) or no listener speaks TLS.
  bool reload_tls(std::string& error);

  // Publishing from the application (any thread). Same validation and answers as the push API.
  PublishOutcome publish_room(std::string_view room, std::string_view items_json);
  PublishOutcome publish_all(std::string_view items_json);
  // To every connection bound to `uid`, on every shard (and every node in cluster mode).
  PublishOutcome publish_user(std::string_view uid, std::string_view items_json);

  // Presence, from any thread that is not a shard's (it waits for every shard's answer, up to
  // presence_timeout_ms). False when a shard did not answer in time (`error` says which) or the
  // engine is not running. A room's members (and, with query.users, a page of its distinct user ids),
  // or (PresenceKind::rooms) a page of rooms with their member counts; see presence.h.
  bool presence(const PresenceQuery& query, PresencePage& out, std::string* error = nullptr);
  // Shorthand: the members of one room, and its first `limit` user ids when `users`.
  bool room_presence(std::string_view room, PresencePage& out, bool users = false, std::string_view cursor = {},
                     uint32_t limit = kPresencePageDefault, std::string* error = nullptr);

  // A snapshot of the counters, summed over the shards (names in stats.cpp, as in /stats).
  StatsTotals stats() const;
  std::string stats_json() const;
  uint16_t client_port() const { return node_.client_port(); }
  uint16_t api_port() const { return node_.api_port(); }
  uint32_t shard_count() const { return node_.shards(); }
  const Config& config() const { return config_; }

 private:
  Publisher& thread_publisher();
  void stop_bridge();

  Config config_;
  Hooks hooks_;
  std::atomic<bool> stop_requested_{false};
  NodeSetup node_;
  ShardThreads threads_;
  std::unique_ptr<Bridge> bridge_;  // cluster mode (config.nats): the NATS bridge, on its own thread
  std::thread bridge_thread_;
  bool started_ = false;
  uint64_t start_serial_ = 0;  // process-wide number of this start (thread_publisher)
  std::atomic<uint64_t> presence_tickets_{0};
};

// Opens a TCP listener with SO_REUSEPORT on host:port (port 0: any free port). Returns the fd or -1
// with a message; `bound_port` receives the port actually bound. `exclusive`: fail if anyone already
// listens on that port (the first listener of a node; the others then join it). `request_deadline_ms`
// (0: none): a connection reaches accept() with its first bytes, or once about that long has passed
// without any (TCP_DEFER_ACCEPT), so the request deadline that starts at accept measures the request,
// not how long a client took to start it.
int open_listener(const std::string& host, uint16_t port, uint16_t& bound_port, std::string& error,
                  bool exclusive = false, uint32_t request_deadline_ms = 0);

// Fits conns_per_shard_max to the open-files limit of a process that runs `shards` of a node's
// `total_shards` shards: 0 (auto) becomes what the limit allows; an explicit value that does not fit
// is an error that says what to do. Returns an empty string when fine.
std::string fit_descriptor_budget(Config& config, uint32_t shards, uint32_t total_shards);

// Shards in a process: --threads, or one per online CPU.
uint32_t shards_per_process(const Config& config);

}  // namespace ringcast
