// What one node (one machine's ringcast) sets up before any shard runs, in whichever process layout:
// the shared region (ring + stats), every shard's listening sockets and every shard's wake-up eventfd.
// Creating all of them up front means a port conflict fails before anything starts, worker processes
// inherit them across fork(), and a restarted worker finds its listeners (and the connections queued
// on them) where the dead one left them. ShardThreads then runs a range of shards in this process.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "engine/node/bridge.h"
#include "engine/config.h"
#include "engine/settings.h"
#include "engine/shard/shard.h"
#include "engine/node/shm.h"
#include "engine/node/tls_context.h"

namespace ringcast {

class NodeSetup {
 public:
  NodeSetup() = default;
  ~NodeSetup();
  NodeSetup(const NodeSetup&) = delete;
  NodeSetup& operator=(const NodeSetup&) = delete;

  bool create(const Config& config, uint32_t shards, std::string& error);

  ShardSetup shard_setup(const Config& config, uint32_t index) const;
  // Cluster mode: what the NATS bridge needs (its ring slot is the one after the last shard's).
  bool cluster() const { return bridge_wake_fd_ >= 0; }
  BridgeSetup bridge_setup(const Config& config, bool resume) const;
  uint32_t bridge_slot() const { return shards_; }
  // Tells the bridge to forward what is left and exit (after the shards are gone).
  void stop_bridge();
  // The configuration given to create(), resolved (every shard and publisher of the node reads it).
  const Settings& settings() const { return settings_; }
  SharedRegion& shared() { return shared_; }
  const SharedRegion& shared() const { return shared_; }
  uint32_t shards() const { return shards_; }
  uint16_t client_port() const { return client_port_; }
  uint16_t api_port() const { return api_port_; }

  // In a worker process: closes the listeners of shards outside [first, first + count), which belong
  // to other workers (the parent keeps its copies open).
  void keep_only_listeners(uint32_t first, uint32_t count);
  // Asks every shard to drain and exit (sets the shared flag and wakes them all).
  void request_stop();
  // Asks shards [first, first + count) only (a worker told to stop by a signal of its own).
  void request_stop(uint32_t first, uint32_t count);
  // Wakes one shard (it then rereads the stop flags).
  void wake(uint32_t shard);
  // SIGHUP: the TLS certificate and key files again, for connections shards [first, first + count)
  // accept from now on. False (nothing changes) when the new files do not load.
  bool reload_tls(uint32_t first, uint32_t count, std::string& error);
  bool tls() const { return tls_.any(); }

 private:
  SharedRegion shared_;
  Settings settings_;
  TlsContexts tls_;
  uint32_t shards_ = 0;
  uint16_t client_port_ = 0;
  uint16_t api_port_ = 0;
  std::vector<int> listen_fds_;  // two per shard: client, API (-1 when that port is off)
  std::vector<int> wake_fds_;
  int bridge_wake_fd_ = -1;  // cluster mode only
};

// Runs shards [first, first + count) of a node as threads of this process.
class ShardThreads {
 public:
  ~ShardThreads() { join(); }
  // Returns once every shard is serving, or one failed to start (then the others are stopped).
  // `on_last_stopped`, if set, runs on the thread of the last shard to leave its loop, so that a
  // thread waiting for them (a worker's main thread, blocked on its signals) wakes only then.
  bool start(const Config& config, NodeSetup& node, uint32_t first, uint32_t count, std::string& error,
             std::function<void()> on_last_stopped = {});
  void join();
  // Shards still running their loop.
  uint32_t running() const { return running_.load(std::memory_order_acquire); }

 private:
  std::vector<std::thread> threads_;
  std::atomic<uint32_t> running_{0};
  std::function<void()> on_last_stopped_;
};

// Raises the soft open-files limit to the hard one and returns it.
uint64_t raise_open_files_limit();

// File descriptors a process running `shards` shards of a `total_shards` node needs besides its
// connections (listeners, eventfds, io_uring, the shared memfd, stdio, some slack).
uint64_t fixed_descriptors(uint32_t shards, uint32_t total_shards);

}  // namespace ringcast
